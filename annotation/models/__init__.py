"""Models of the annotation app: projects, rubrics, constitutions, the queue and answers."""

from annotation.models.annotation import Adjudication, Annotation, AnnotationRevision
from annotation.models.assignment import Assignment
from annotation.models.constitution import Constitution, Rule
from annotation.models.preferences import UserPreferences
from annotation.models.project import Project, ProjectItem, ProjectMembership
from annotation.models.rubric import Rubric
from annotation.models.suggestion import Suggestion

__all__ = [
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
