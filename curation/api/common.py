"""Shared API pieces of curation: views addressed by a run, dataset or export rather than a
project find their project here, for the permission check (core.api.permissions)."""

from __future__ import annotations

from functools import cached_property

from rest_framework.views import APIView

from curation.models import DatasetVersion, Export, RewardModelRun, ScoringRun
from curation.selectors.runs import dataset_get, export_get, reward_model_run_get
from curation.selectors.scorings import scoring_get


class RunApi(APIView):
    """A view on `reward-models/<run_id>/...`: the run's project is the one checked."""

    @cached_property
    def run(self) -> RewardModelRun:
        return reward_model_run_get(run_id=self.kwargs["run_id"])

    def permission_project_ids(self) -> tuple[int, ...]:
        return (self.run.project_id,)


class DatasetApi(APIView):
    """A view on `datasets/<dataset_id>/...` (and `.../diff/<other_id>/`: both are checked)."""

    @cached_property
    def dataset(self) -> DatasetVersion:
        return dataset_get(dataset_id=self.kwargs["dataset_id"])

    @cached_property
    def other(self) -> DatasetVersion | None:
        other_id = self.kwargs.get("other_id")
        return None if other_id is None else dataset_get(dataset_id=other_id)

    def permission_project_ids(self) -> tuple[int, ...]:
        others = () if self.other is None else (self.other.project_id,)
        return (self.dataset.project_id, *others)

    def permission_corpus_ids(self) -> tuple[int, ...]:
        """A version curated over a scoring holds items of the scored corpus: its readers only."""
        versions = (self.dataset,) if self.other is None else (self.dataset, self.other)
        return tuple(v.scoring.corpus_id for v in versions if v.scoring_id is not None)


class ExportApi(APIView):
    """A view on `exports/<export_id>/...`: the project of the export's dataset is checked."""

    @cached_property
    def export(self) -> Export:
        return export_get(export_id=self.kwargs["export_id"])

    def permission_project_ids(self) -> tuple[int, ...]:
        return (self.export.dataset.project_id,)

    def permission_corpus_ids(self) -> tuple[int, ...]:
        dataset = self.export.dataset
        return () if dataset.scoring_id is None else (dataset.scoring.corpus_id,)


class ScoringApi(APIView):
    """A view on `scorings/<scoring_id>/...`: the project of the scoring's model is checked,
    and, with `CanReadCorpus`, that the caller may read the scored corpus."""

    @cached_property
    def scoring(self) -> ScoringRun:
        return scoring_get(scoring_id=self.kwargs["scoring_id"])

    def permission_project_ids(self) -> tuple[int, ...]:
        return (self.scoring.run.project_id,)

    def permission_corpus_ids(self) -> tuple[int, ...]:
        return (self.scoring.corpus_id,)
