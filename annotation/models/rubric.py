"""A project's rubric: the ordered questions an annotator answers for each item.

Questions are kept as one validated JSON list (see `annotation.services.rubric`): the queue and
submit paths read the rubric with the project row in one query, and a rubric is replaced as a
whole (`PUT projects/{id}/rubric/`), never edited question by question.
"""

from __future__ import annotations

from django.db import models


class Rubric(models.Model):
    project = models.OneToOneField(
        "annotation.Project", on_delete=models.CASCADE, related_name="rubric"
    )
    questions = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Rubric of project {self.project_id}"

    def question(self, key: str) -> dict | None:
        return next((q for q in self.questions if q["key"] == key), None)
