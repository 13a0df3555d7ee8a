"""Build the demo corpus: LLaVA-style records with hidden, recorded generation defects.

Layout written under `out_dir`:
- `images/`: easy-VQA PNGs (copied) and scikit-image photos (PNG, longest side <= 512 px),
- `corpus.json`: LLaVA records, some candidate-rich (see shared/reference/formats.md),
- `ground_truth.json`: what was altered where; for tests and benchmarks, never for labels.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demo.corpus import defects as d
from demo.corpus.easyvqa import EvqaImage, detail_qa, load_images, question_qa, reasoning_qa
from demo.corpus.photos import PHOTOS, Photo, photo_qa, save_photo
from demo.corpus.qa import QA

GROUND_TRUTH_VERSION = 1
# True quality of a candidate answer: the correct one is 1.0; a hallucination or a cut-off
# answer still carries some right content, a wrong or off-topic one none.
CANDIDATE_QUALITY = {
    None: 1.0,
    d.HALLUCINATED_OBJECT: 0.3,
    d.TRUNCATED_ANSWER: 0.2,
    d.WRONG_ANSWER: 0.0,
    d.OFF_TOPIC_ANSWER: 0.0,
}
# Relative frequency of each defect when an item is picked to be defective.
DEFECT_WEIGHTS = {
    d.WRONG_ANSWER: 0.3,
    d.HALLUCINATED_OBJECT: 0.25,
    d.TRUNCATED_ANSWER: 0.15,
    d.OFF_TOPIC_ANSWER: 0.15,
    d.GARBLED_INSTRUCTION: 0.15,
}
_TWO_DEFECTS_RATE = 0.15
_PHOTO_FRACTION = 0.1


@dataclass(frozen=True)
class DemoCorpus:
    out_dir: Path
    corpus_path: Path
    ground_truth_path: Path
    images_dir: Path
    seed: int
    n_items: int
    n_images: int
    n_defective: int
    n_candidate_rich: int


@dataclass
class _Plan:
    item_id: str
    image: str
    source: str  # easy_vqa | skimage
    category: str  # conversation | detail | complex_reasoning
    qas: list[QA]


def build_demo_corpus(
    out_dir: Path,
    *,
    n_items: int = 800,
    seed: int = 0,
    defect_rate: float = 0.3,
    candidate_rich_fraction: float = 0.25,
) -> DemoCorpus:
    """Write the demo corpus under `out_dir`; the same seed gives byte-identical files.

    Exactly round(defect_rate * n_items) items are defective and
    round(candidate_rich_fraction * n_items) are candidate-rich (the two sets are drawn
    independently). Images are reused once every image has been used, so any size works.
    """
    if n_items < 1:
        raise ValueError("n_items must be positive")
    if not (0.0 <= defect_rate <= 1.0 and 0.0 <= candidate_rich_fraction <= 1.0):
        raise ValueError("defect_rate and candidate_rich_fraction must be in [0, 1]")
    rng = random.Random(seed)
    out_dir = Path(out_dir)
    images_dir = out_dir / "images"
    images_dir.mkdir(parents=True, exist_ok=True)

    plans, evqa_used, photos_used = _plan_items(n_items, rng)
    defective = set(rng.sample(range(n_items), round(defect_rate * n_items)))
    rich = set(rng.sample(range(n_items), round(candidate_rich_fraction * n_items)))
    pool = [(qa.question, qa.answer, qa.kind, p.image) for p in plans for qa in p.qas]

    records: list[dict[str, Any]] = []
    truth: dict[str, dict[str, Any]] = {}
    for i, plan in enumerate(plans):
        record, item_truth = _build_record(plan, i in defective, i in rich, pool, rng)
        records.append(record)
        truth[plan.item_id] = item_truth

    for img in evqa_used:
        shutil.copyfile(img.path, images_dir / _evqa_name(img))
    for photo in photos_used:
        save_photo(photo, images_dir / _photo_name(photo))

    corpus_path = out_dir / "corpus.json"
    corpus_path.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    ground_truth_path = out_dir / "ground_truth.json"
    doc = {
        "version": GROUND_TRUTH_VERSION,
        "seed": seed,
        "defect_rate": defect_rate,
        "candidate_rich_fraction": candidate_rich_fraction,
        "items": truth,
    }
    ground_truth_path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return DemoCorpus(
        out_dir=out_dir,
        corpus_path=corpus_path,
        ground_truth_path=ground_truth_path,
        images_dir=images_dir,
        seed=seed,
        n_items=n_items,
        n_images=len(evqa_used) + len(photos_used),
        n_defective=len(defective),
        n_candidate_rich=len(rich),
    )


def _evqa_name(img: EvqaImage) -> str:
    return f"evqa-{img.key}.png"


def _photo_name(photo: Photo) -> str:
    return f"photo-{photo.name}.png"


def _plan_items(
    n_items: int, rng: random.Random
) -> tuple[list[_Plan], list[EvqaImage], list[Photo]]:
    n_photo = round(n_items * _PHOTO_FRACTION)
    kinds = ["photo"] * n_photo + ["evqa"] * (n_items - n_photo)
    rng.shuffle(kinds)
    evqa_images = load_images()
    rng.shuffle(evqa_images)
    photos = list(PHOTOS)
    rng.shuffle(photos)
    plans: list[_Plan] = []
    evqa_used: dict[str, EvqaImage] = {}
    photos_used: dict[str, Photo] = {}
    n_e = n_p = 0
    for i, kind in enumerate(kinds):
        item_id = f"demo-{i:06d}"
        if kind == "evqa":
            img = evqa_images[n_e % len(evqa_images)]
            n_e += 1
            evqa_used[img.key] = img
            category, qas = _evqa_turns(img, rng)
            plans.append(_Plan(item_id, _evqa_name(img), "easy_vqa", category, qas))
        else:
            photo = photos[n_p % len(photos)]
            n_p += 1
            photos_used[photo.name] = photo
            category, qas = _photo_turns(photo, rng)
            plans.append(_Plan(item_id, _photo_name(photo), "skimage", category, qas))
    return plans, list(evqa_used.values()), list(photos_used.values())


def _evqa_turns(img: EvqaImage, rng: random.Random) -> tuple[str, list[QA]]:
    r = rng.random()
    if r < 0.15 and img.color and img.shape:
        return "detail", [detail_qa(img, rng)]
    if r >= 0.75:
        qa = reasoning_qa(img, rng)
        if qa is not None:
            return "complex_reasoning", [qa]
    k = min(len(img.questions), rng.choice((1, 2, 2, 3)))
    picked = rng.sample(img.questions, k)
    return "conversation", [question_qa(img, text, answer, rng) for text, answer in picked]


def _photo_turns(photo: Photo, rng: random.Random) -> tuple[str, list[QA]]:
    by_cat: dict[str, list] = {}
    for q in photo.questions:
        by_cat.setdefault(q.category, []).append(q)
    category = rng.choice(sorted(by_cat))
    questions = by_cat[category]
    if category == "conversation":
        questions = rng.sample(questions, min(len(questions), rng.choice((1, 2, 3))))
    else:
        questions = [rng.choice(questions)]
    return category, [photo_qa(photo, q, rng) for q in questions]


def _off_topic(qa: QA, image: str, pool: list, rng: random.Random) -> str:
    # a small random sample keeps this O(1) per item even for very large corpora
    sample = [pool[rng.randrange(len(pool))] for _ in range(30)]
    others = [(q, a) for q, a, kind, img in sample if kind != qa.kind and img != image]
    return d.off_topic_answer(qa.question, others, rng)


def _answer_defect(kind: str, qa: QA, image: str, pool: list, rng: random.Random) -> str:
    if kind == d.WRONG_ANSWER:
        return d.wrong_answer(qa, rng)
    if kind == d.HALLUCINATED_OBJECT:
        return d.hallucinated_object(qa.answer, qa.absent, rng)
    if kind == d.TRUNCATED_ANSWER:
        return d.truncated_answer(qa.answer, rng)
    return _off_topic(qa, image, pool, rng)


def _noisy_score(quality: float, rng: random.Random) -> float:
    # raters agree on the broad picture but not on fine grades; the 0.1 grid produces ties
    centre = 0.15 + 0.7 * quality
    return round(min(1.0, max(0.0, rng.gauss(centre, 0.15))), 1)


def _build_record(
    plan: _Plan, defective: bool, rich: bool, pool: list, rng: random.Random
) -> tuple[dict[str, Any], dict[str, Any]]:
    questions = [qa.question for qa in plan.qas]
    answers: list[Any] = [qa.answer for qa in plan.qas]
    truth: dict[str, Any] = {
        "clean": not defective,
        "defects": [],
        "altered": [],
        "category": plan.category,
        "source": plan.source,
        "image": plan.image,
    }
    scores: list[float] | None = None
    cand_turn = rng.randrange(len(plan.qas)) if rich else None
    if cand_turn is not None:
        qa = plan.qas[cand_turn]
        kinds = rng.sample(d.ANSWER_DEFECTS, rng.randint(2, 4))
        labelled: list[tuple[str | None, str]] = [(None, qa.answer)]
        labelled += [(k, _answer_defect(k, qa, plan.image, pool, rng)) for k in kinds]
        rng.shuffle(labelled)
        quality = [CANDIDATE_QUALITY[k] for k, _ in labelled]
        answers[cand_turn] = [text for _, text in labelled]
        scores = [_noisy_score(q, rng) for q in quality]
        truth["candidates"] = {
            "turn": 2 * cand_turn + 1,
            "quality": quality,
            "defects": [k for k, _ in labelled],
            "correct": next(i for i, (k, _) in enumerate(labelled) if k is None),
        }

    if defective:
        n_defects = 2 if rng.random() < _TWO_DEFECTS_RATE else 1
        answer_turns = [t for t in range(len(plan.qas)) if t != cand_turn]
        used: set[tuple[str, int]] = set()  # (side, turn): one alteration per turn text
        for _ in range(n_defects):
            options = [k for k in DEFECT_WEIGHTS if k == d.GARBLED_INSTRUCTION or answer_turns]
            kind = rng.choices(options, [DEFECT_WEIGHTS[k] for k in options])[0]
            if kind == d.GARBLED_INSTRUCTION:
                free = [t for t in range(len(plan.qas)) if ("human", t) not in used]
                if not free:
                    continue
                t = rng.choice(free)
                used.add(("human", t))
                original = questions[t]
                questions[t] = d.garbled_instruction(original, rng)
                index = 2 * t
            else:
                free = [t for t in answer_turns if ("gpt", t) not in used]
                if not free:
                    continue
                t = rng.choice(free)
                used.add(("gpt", t))
                original = answers[t]
                answers[t] = _answer_defect(kind, plan.qas[t], plan.image, pool, rng)
                index = 2 * t + 1
            truth["defects"].append(kind)
            truth["altered"].append({"defect": kind, "turn": index, "original": original})

    conversations: list[dict[str, Any]] = []
    for t, (question, answer) in enumerate(zip(questions, answers, strict=True)):
        human = f"<image>\n{question}" if t == 0 else question
        conversations.append({"from": "human", "value": human})
        gpt: dict[str, Any] = {"from": "gpt", "value": answer}
        if t == cand_turn:
            gpt["score"] = scores
        conversations.append(gpt)
    record = {
        "id": plan.item_id,
        "image": plan.image,
        "conversations": conversations,
        "category": plan.category,
    }
    return record, truth
