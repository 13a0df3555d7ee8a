from demo.corpus import DemoCorpus, simulate_judgments
from demo.corpus.simulate import load_ground_truth, rating_agrees


def test_disagreement_with_truth_is_close_to_flip_rate(demo: DemoCorpus) -> None:
    truth = load_ground_truth(demo.ground_truth_path)
    judgments = simulate_judgments(demo.ground_truth_path, n_annotators=5, flip_rate=0.2)
    assert len(judgments) == 5 * len(truth)
    n = len(judgments)
    faithful_off = sum(j.faithful != truth[j.item_id]["clean"] for j in judgments.values())
    rating_off = sum(
        not rating_agrees(j.rating, truth[j.item_id]["clean"]) for j in judgments.values()
    )
    assert abs(faithful_off / n - 0.2) < 0.03
    assert abs(rating_off / n - 0.2) < 0.03
    assert all(1 <= j.rating <= 5 for j in judgments.values())


def test_rankings_cover_candidates_and_flip_the_best_at_flip_rate(demo: DemoCorpus) -> None:
    truth = load_ground_truth(demo.ground_truth_path)
    judgments = simulate_judgments(truth, n_annotators=5, flip_rate=0.2, seed=1)
    ranked = [j for j in judgments.values() if j.ranking is not None]
    assert len(ranked) == 5 * demo.n_candidate_rich
    wrong_top = 0
    for j in ranked:
        cand = truth[j.item_id]["candidates"]
        assert sorted(i for tier in j.ranking for i in tier) == list(range(len(cand["quality"])))
        wrong_top += j.ranking[0] != (cand["correct"],)
        assert ("ranking" in j.perturbed) == (j.ranking[0] != (cand["correct"],))
    assert abs(wrong_top / len(ranked) - 0.2) < 0.05


def test_no_noise_means_full_agreement_and_seed_is_deterministic(demo: DemoCorpus) -> None:
    truth = load_ground_truth(demo.ground_truth_path)
    exact = simulate_judgments(truth, flip_rate=0.0)
    assert all(j.faithful == truth[j.item_id]["clean"] for j in exact.values())
    assert all(not j.perturbed for j in exact.values())
    assert simulate_judgments(truth, seed=4) == simulate_judgments(truth, seed=4)
    assert simulate_judgments(truth, seed=4) != simulate_judgments(truth, seed=5)
