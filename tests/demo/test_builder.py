import json
from collections import Counter
from pathlib import Path

from PIL import Image

from demo.corpus import DemoCorpus, build_demo_corpus
from demo.corpus.defects import DEFECT_KINDS

CATEGORIES = {"conversation", "detail", "complex_reasoning"}


def _load(demo: DemoCorpus) -> tuple[list[dict], dict[str, dict]]:
    records = json.loads(demo.corpus_path.read_text())
    truth = json.loads(demo.ground_truth_path.read_text())["items"]
    return records, truth


def test_records_are_valid_llava(demo: DemoCorpus) -> None:
    records, _ = _load(demo)
    assert len(records) == demo.n_items == 300
    assert len({r["id"] for r in records}) == len(records)
    for r in records:
        turns = r["conversations"]
        assert r["category"] in CATEGORIES
        assert len(turns) % 2 == 0 and 2 <= len(turns) <= 6
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2)
        assert turns[0]["value"].startswith("<image>\n")
        flat = json.dumps([t["value"] for t in turns])
        assert flat.count("<image>") == 1


def test_every_image_exists_opens_and_is_small(demo: DemoCorpus) -> None:
    records, _ = _load(demo)
    names = {r["image"] for r in records}
    assert any(n.startswith("photo-") for n in names) and any(n.startswith("evqa-") for n in names)
    for name in names:
        with Image.open(demo.images_dir / name) as im:
            im.verify()
        with Image.open(demo.images_dir / name) as im:
            assert im.format == "PNG" and max(im.size) <= 512


def test_clean_answers_are_full_sentences(demo: DemoCorpus) -> None:
    records, truth = _load(demo)
    for r in records:
        if truth[r["id"]]["clean"] and "candidates" not in truth[r["id"]]:
            for t in r["conversations"][1::2]:
                assert t["value"][-1] in '.!?"' and len(t["value"].split()) >= 3


def test_build_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    a = build_demo_corpus(tmp_path / "a", n_items=60, seed=7)
    b = build_demo_corpus(tmp_path / "b", n_items=60, seed=7)
    c = build_demo_corpus(tmp_path / "c", n_items=60, seed=8)
    assert a.corpus_path.read_bytes() == b.corpus_path.read_bytes()
    assert a.ground_truth_path.read_bytes() == b.ground_truth_path.read_bytes()
    assert a.corpus_path.read_bytes() != c.corpus_path.read_bytes()


def test_defect_rate_and_kinds(demo: DemoCorpus) -> None:
    records, truth = _load(demo)
    defective = [t for t in truth.values() if not t["clean"]]
    assert demo.n_defective == len(defective) == round(0.3 * 300)
    kinds = Counter(k for t in defective for k in t["defects"])
    assert set(kinds) == set(DEFECT_KINDS)
    for t in truth.values():
        assert t["clean"] == (not t["defects"])
        assert len(t["altered"]) == len(t["defects"])


def test_altered_turns_differ_from_the_recorded_original(demo: DemoCorpus) -> None:
    records, truth = _load(demo)
    for r in records:
        for alt in truth[r["id"]]["altered"]:
            value = r["conversations"][alt["turn"]]["value"]
            if alt["defect"] == "garbled_instruction":
                assert alt["turn"] % 2 == 0
                value = value.removeprefix("<image>\n")
            else:
                assert alt["turn"] % 2 == 1
            assert value != alt["original"]
            if alt["defect"] == "truncated_answer":
                assert alt["original"].startswith(value)
            if alt["defect"] == "hallucinated_object":
                assert value.startswith(alt["original"])


def test_candidate_rich_records_follow_formats_md(demo: DemoCorpus) -> None:
    records, truth = _load(demo)
    rich = [r for r in records if "candidates" in truth[r["id"]]]
    assert len(rich) == demo.n_candidate_rich == round(0.25 * 300)
    for r in rich:
        cand = truth[r["id"]]["candidates"]
        lists = [t for t in r["conversations"] if isinstance(t["value"], list)]
        assert len(lists) == 1
        turn = r["conversations"][cand["turn"]]
        assert turn["from"] == "gpt" and turn is lists[0]
        assert 3 <= len(turn["value"]) <= 5 and len(set(turn["value"])) == len(turn["value"])
        assert len(turn["score"]) == len(turn["value"]) == len(cand["quality"])
        assert all(0.0 <= s <= 1.0 for s in turn["score"])
        assert cand["quality"][cand["correct"]] == 1.0
        assert sorted(cand["quality"])[-2] < 1.0  # exactly one correct candidate
    # noisy, but the correct candidate tends to get the best score
    wins = sum(
        max(r["conversations"][truth[r["id"]]["candidates"]["turn"]]["score"])
        == r["conversations"][truth[r["id"]]["candidates"]["turn"]]["score"][
            truth[r["id"]]["candidates"]["correct"]
        ]
        for r in rich
    )
    assert wins / len(rich) > 0.7


def test_categories_all_present(demo: DemoCorpus) -> None:
    records, _ = _load(demo)
    assert {r["category"] for r in records} == CATEGORIES
    assert any(len(r["conversations"]) == 6 for r in records)


def test_demo_package_does_not_import_django() -> None:
    import subprocess
    import sys

    code = "import sys, demo.corpus; assert 'django' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
