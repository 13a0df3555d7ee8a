"""Models of the annotation app, one module per domain."""

from annotation.models.corpus import Corpus, CorpusImage, ImageAsset, Item

__all__ = ["Corpus", "CorpusImage", "ImageAsset", "Item"]

# Annotation engine: projects, rubrics, constitutions, the queue and answers.
from annotation.models.annotation import Adjudication, Annotation, AnnotationRevision  # noqa: E402
from annotation.models.assignment import Assignment  # noqa: E402
from annotation.models.constitution import Constitution, Rule  # noqa: E402
from annotation.models.preferences import UserPreferences  # noqa: E402
from annotation.models.project import Project, ProjectItem, ProjectMembership  # noqa: E402
from annotation.models.rubric import Rubric  # noqa: E402
from annotation.models.suggestion import Suggestion  # noqa: E402

__all__ += [
    "Adjudication",
    "Annotation",
    "AnnotationRevision",
    "Assignment",
    "Constitution",
    "Project",
    "ProjectItem",
    "ProjectMembership",
    "Rubric",
    "Rule",
    "Suggestion",
    "UserPreferences",
]
