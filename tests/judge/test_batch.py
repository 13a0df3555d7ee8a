"""The batched cascade (``Judge.judge_batch``) decides exactly as the one-at-a-time path, with
the same complete trace, in far fewer calls to the VLM: against scripted sources on random
worlds, and over tiny random-initialised VLM, CLIP and OWLv2 checkpoints within float
tolerance."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
import torch
from PIL import Image

from judge.cascade import Judge
from judge.checkpoints import build_clip, build_owlv2, build_vlm
from judge.config import JudgeConfig
from judge.hf import ClipRelevanceSource, OwlDetectorSource, PilEditor, VisionLanguageSource
from judge.rules import JudgeRule
from judge.sources import Box, ScriptedSource


class CountingSource(ScriptedSource):
    """A scripted source that also counts calls (not queries) to ``yes_no``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.yes_no_calls = 0

    def yes_no(self, images, prompts):
        self.yes_no_calls += 1
        return super().yes_no(images, prompts)


def _rules(rng: random.Random, n: int) -> list[JudgeRule]:
    words = ["gun", "knife", "blood", "person", "child", "bottle", "car", "flag"]
    rules = []
    for k in range(n):
        chain = tuple(
            tuple(f"{rng.choice(words)} {k}.{p}.{a}" for a in range(rng.randint(1, 3)))
            for p in range(rng.randint(1, 3))
        )
        objects = tuple(rng.sample(words, rng.randint(0, 2)))
        rules.append(JudgeRule(key=f"r{k}", text=f"rule {k}", preconditions=chain,
                               central_objects=objects))  # fmt: skip
    return rules


def _world(seed: int, images: list[str], rules: list[JudgeRule]) -> dict[str, Any]:
    """Random answers that reach every branch: not met, met by debiasing, by removal (whole
    image and crop), by reasoning either way, unreadable verdicts, relevance skips."""
    rng = random.Random(seed)
    m, relevance, detections, verdicts, sizes = {}, {}, {}, {}, {}
    contents = {c for r in rules for p in r.chain for c in p}
    for content in contents:
        m[(None, content)] = rng.random()
    for image in images:
        sizes[image] = (100, 100)
        detections[image] = rng.choice(
            [[], [Box(10, 10, 60, 60, 0.9, "gun")], [Box(1, 1, 5, 5, 0.5, "knife")]]
        )
        for rule in rules:
            relevance[(image, rule.scan_text)] = rng.choice([0.1, 0.3, 0.9])
        for content in contents:
            for view in (image, f"{image}-crop"):
                m[(view, content)] = rng.random()
            for view in (f"{image}-removed", f"{image}-crop-removed"):
                m[(view, content)] = rng.random() * 0.5
            verdicts[(image, content)] = rng.choice([True, False, "unreadable"])
    return {"m": m, "relevance": relevance, "detections": detections, "verdicts": verdicts,
            "sizes": sizes}  # fmt: skip


def _judge(source: ScriptedSource, **config: Any) -> Judge:
    return Judge(source, relevance=source, detector=source, editor=source,
                 config=JudgeConfig(**config))  # fmt: skip


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(
    "config", [{}, {"debias": False}, {"object_removal": False}, {"cascade": False}]
)
def test_batched_decisions_equal_the_one_at_a_time_ones(seed, config):
    rng = random.Random(seed)
    images = [f"img{i}" for i in range(5)]
    rules = _rules(rng, 4)
    world = _world(seed, images, rules)
    one, many = CountingSource(**world), CountingSource(**world)
    sequential = _judge(one, **config)
    expected = [[d.to_json() for d in sequential.judge_all(im, rules)] for im in images]
    got = [[d.to_json() for d in row] for row in _judge(many, **config).judge_batch(images, rules)]
    assert got == expected
    # the same questions were asked (each no-image question once), in far fewer calls
    asked = sorted((c for k, c in one.calls if k == "yes_no"), key=repr)
    assert sorted((c for k, c in many.calls if k == "yes_no"), key=repr) == asked
    assert many.yes_no_calls < one.yes_no_calls / 3
    depth = max(len(r.chain) * max(len(p) for p in r.chain) for r in rules)
    assert many.yes_no_calls <= 2 * depth  # one call per round, a round per step of a check


def test_the_traces_of_the_batched_path_are_complete():
    rules = _rules(random.Random(3), 3)
    world = _world(3, ["a", "b"], rules)
    for row in _judge(CountingSource(**world)).judge_batch(["a", "b"], rules):
        assert [d.rule for d in row] == [r.key for r in rules]
        for decision in row:
            trace = decision.trace
            assert "relevance" in trace and "stopped_at" in trace and "config" in trace
            for entry in trace["preconditions"]:
                for alternative in entry["alternatives"]:
                    assert alternative["steps"][0]["step"] == "debiased"
                    assert {"m", "m_none", "diff", "low", "high"} <= set(alternative["steps"][0])


def test_an_empty_batch_and_no_rules():
    judge = _judge(CountingSource())
    assert judge.judge_batch([], []) == []
    assert judge.judge_batch(["a", "b"], []) == [[], []]


# -- real (tiny) models ---------------------------------------------------------------------


def _close(a: Any, b: Any, path: str = "") -> None:
    """Equal traces, numbers within float tolerance (batches pad, and float sums reorder)."""
    if isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, abs_tol=2e-4), f"{path}: {a} != {b}"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{n}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("judge-batch")
    return (
        VisionLanguageSource(str(build_vlm(root / "vlm")), device="cpu", batch_size=16),
        ClipRelevanceSource(str(build_clip(root / "clip")), device="cpu"),
        OwlDetectorSource(str(build_owlv2(root / "owl")), device="cpu"),
    )


def test_batched_equals_unbatched_over_tiny_real_models(models):
    vlm, clip, owl = models
    config = JudgeConfig(
        relevance_threshold=-1.0,
        detection_confidence=0.0,
        reasoning_tokens=3,
        verdict_tokens=3,
        # bounds that no difference passes: every check goes on to removal and reasoning
        debias_low=1.0,
        debias_high=1.0,
        crop_below_area=0.3,
    )
    images = []
    for n, colour in enumerate([(220, 20, 20), (20, 20, 220), (20, 200, 20)]):
        image = Image.new("RGB", (48, 40), colour)
        image.paste(Image.new("RGB", (8 + 4 * n, 8), (0, 0, 0)), (4 + n, 6))
        images.append(image)
    rules = [
        JudgeRule(key="red", text="No red shape.", preconditions=(("a red shape", "a circle"),),
                  central_objects=("shape",)),
        JudgeRule(key="tri", text="No triangle.", preconditions=(("a triangle",), ("a dot",)),
                  central_objects=("triangle", "dot")),
    ]  # fmt: skip

    def judge() -> Judge:
        return Judge(vlm, relevance=clip, detector=owl, editor=PilEditor(), config=config)

    sequential = judge()
    expected = [[d.to_json() for d in sequential.judge_all(im, rules)] for im in images]
    got = [[d.to_json() for d in row] for row in judge().judge_batch(images, rules)]
    _close(got, expected)
    steps = {s["step"] for row in got for d in row for p in d["trace"]["preconditions"]
             for a in p["alternatives"] for s in a["steps"]}  # fmt: skip
    assert {"debiased", "object_removal", "reasoning"} <= steps, steps
