"""The typed training data: counts, the decided verdicts and the run's summary."""

from __future__ import annotations

from rewardmodel.data import JudgedPair, SafetyLabel, SideRef, Target, TrainingData


def test_summary_counts_sources_and_leaves_unsure_verdicts_out() -> None:
    # given: two candidate pairs, one whole-item rating pair, a target and two safety labels
    ranked = JudgedPair(1, "overall", SideRef(1, 0, 1), SideRef(1, 0, 0), 0.5, "ranking")
    rated = JudgedPair(2, "helpfulness", SideRef(2), SideRef(3), 1.0, "rating")
    data = TrainingData(
        pairs=[ranked, ranked, rated],
        targets=[Target(2, "helpfulness", 1.0)],
        safety=[SafetyLabel(2, "gore", True), SafetyLabel(3, "gore", None, "unsure")],
    )
    # then
    assert data.counts == {"pairwise": 0, "ranking": 2, "rating": 1, "import": 0}
    assert [label.item_id for label in data.verdicts] == [2]
    assert data.summary() == {
        "pairs": 3,
        "pairs_by_source": {"ranking": 2, "rating": 1},
        "ratings": 1,
        "verdicts": 1,
    }
    assert rated.chosen.is_whole_item and not ranked.chosen.is_whole_item
