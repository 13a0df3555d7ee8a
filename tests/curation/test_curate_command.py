"""`manage.py curate` runs the whole pipeline headless: import, train, score, select, export."""

from __future__ import annotations

import json
import random

import pytest
from django.core.management import CommandError, call_command

from curation.models import DatasetVersion
from tests.curation.helpers import BAD, GOOD

# The command runs in autocommit, as from a shell: jobs are dispatched when their rows commit.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _llava_file(path, n_items: int = 80):
    rng = random.Random(0)
    records = []
    for i in range(n_items):
        good = [rng.choice(GOOD), rng.choice(GOOD)]
        bad = [rng.choice(BAD)]
        candidates = good + bad
        rng.shuffle(candidates)
        records.append(
            {
                "id": f"r{i}",
                "category": "conversation" if i % 2 else "detail",
                "conversations": [
                    {"from": "human", "value": "what is on the mat ?"},
                    {
                        "from": "gpt",
                        "value": candidates,
                        "score": [0.9 if c in GOOD else 0.1 for c in candidates],
                    },
                ],
            }
        )
    path.write_text(json.dumps(records))
    return path


def test_curate_runs_every_step_and_writes_the_export(tmp_path, small_hyper, capsys):
    source = _llava_file(tmp_path / "corpus.json")
    out = tmp_path / "out"
    call_command(
        "curate",
        corpus=str(source),
        project="cli",
        train=True,
        hyperparameters=json.dumps(small_hyper),
        policy="top10",
        format="jsonl",
        out=str(out),
    )
    printed = capsys.readouterr().out
    for step in ("Importing", "Training", "Scoring", "Selecting", "Exporting"):
        assert step in printed
    dataset = DatasetVersion.objects.get()
    assert dataset.n_items == 8  # the top 10% of 80
    manifest = json.loads((out / "manifest.json").read_text())
    data_file = next(name for name in manifest["files"] if name.endswith(".jsonl"))
    rows = [json.loads(line) for line in (out / data_file).read_text().splitlines()]
    assert len(rows) == 8
    # every exported answer is a single string: the best candidate, as LLaVA's scripts expect
    assert all(isinstance(turn["value"], str) for row in rows for turn in row["conversations"])


def test_curate_explains_what_is_missing(tmp_path):
    with pytest.raises(CommandError, match="give --corpus"):
        call_command("curate", project="nope", policy="top10", out=str(tmp_path))
    with pytest.raises(CommandError, match="No corpus file"):
        call_command("curate", corpus=str(tmp_path / "x.json"), project="p", out=str(tmp_path))


def test_curate_scores_a_corpus_in_no_project_shows_scores_and_curates_over_it(
    tmp_path, small_hyper, capsys
):
    from curation.models import RewardModelRun, ScoringRun
    from tests.curation.helpers import candidate_corpus

    # given: a model trained on a project, and a corpus that is in no project
    call_command(
        "curate",
        corpus=str(_llava_file(tmp_path / "corpus.json")),
        project="cli",
        train=True,
        hyperparameters=json.dumps({**small_hyper, "epochs": 10}),  # scores, not quality
        policy="top10",
    )
    run = RewardModelRun.objects.get()
    held_out = candidate_corpus("held-out", n_items=20, seed=3)
    capsys.readouterr()
    # when: scored with the model, ten best and worst shown, a preview only
    call_command(
        "curate", project="cli", model=run.pk, score_corpus="held-out", show_scores=10,
        policy="top10",
    )  # fmt: skip
    printed = capsys.readouterr().out
    # then: every item of that corpus is scored, nothing is committed
    scoring = ScoringRun.objects.get(corpus=held_out)
    assert scoring.run_id == run.pk
    assert "best 10:" in printed and "worst 10:" in printed
    best = printed.split("best 10:")[1].split("worst 10:")[0].strip().splitlines()
    scores = [float(line.split()[2]) for line in best]
    assert len(best) == 10 and scores == sorted(scores, reverse=True)
    assert all(line.split()[0].startswith(("c", "p")) for line in best)
    assert "preview: 3 of 30 items" in printed  # top 10% per category of 20 + 10 plain items
    assert not DatasetVersion.objects.exists()
    # when: committed and exported (by id this time)
    out = tmp_path / "held-out"
    call_command(
        "curate", project="cli", model=run.pk, score_corpus=str(held_out.pk), policy="top10",
        format="jsonl", out=str(out),
    )  # fmt: skip
    # then: the dataset records the scoring and holds items of the held-out corpus only
    dataset = DatasetVersion.objects.get()
    assert dataset.scoring.corpus_id == held_out.pk
    assert set(dataset.members.values_list("item__corpus_id", flat=True)) == {held_out.pk}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["records"] == dataset.n_items > 0
    with pytest.raises(CommandError, match="No corpus 'nope'"):
        call_command("curate", project="cli", model=run.pk, score_corpus="nope", policy="top10")
