"""The real sources over tiny random-initialised VLM, CLIP and OWLv2 checkpoints built here."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from judge.cascade import Judge
from judge.checkpoints import build_clip, build_owlv2, build_vlm
from judge.config import JudgeConfig
from judge.hf import ClipRelevanceSource, OwlDetectorSource, PilEditor, VisionLanguageSource
from judge.rules import JudgeRule
from judge.sources import Box


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("judge-models")
    return (
        VisionLanguageSource(str(build_vlm(root / "vlm")), device="cpu", batch_size=2),
        ClipRelevanceSource(str(build_clip(root / "clip")), device="cpu"),
        OwlDetectorSource(str(build_owlv2(root / "owl")), device="cpu"),
    )


def picture(colour):
    return Image.new("RGB", (48, 40), colour)


def assert_batch_answers_as_single_queries(vlm, images, prompts) -> list[tuple[float, float]]:
    """One padded batch gives each query the probabilities it gets alone; returns them."""
    batched = vlm.yes_no(images, prompts)
    single = [vlm.yes_no([im], [p])[0] for im, p in zip(images, prompts, strict=True)]
    for (y1, n1), (y2, n2) in zip(batched, single, strict=True):
        assert y1 == pytest.approx(y2, abs=1e-4) and n1 == pytest.approx(n2, abs=1e-4)
        assert 0 < y1 + n1 <= 1
    return batched


def test_yes_no_batches_agree_with_single_queries(sources):
    vlm, _, _ = sources
    red, blue = picture((220, 20, 20)), picture((20, 20, 220))
    prompts = ["Is a red shape visible ?", "Is a triangle visible in this image ?"]
    batched = assert_batch_answers_as_single_queries(
        vlm, [red, None, blue, None], [prompts[0], prompts[0], prompts[1], prompts[1]]
    )
    assert batched[0] != batched[1]  # the image changes the answer
    assert isinstance(vlm.generate(red, "describe the image", 4), str)


def test_clip_and_owl_answer_in_range(sources):
    _, clip, owl = sources
    scores = clip.similarity(picture((220, 20, 20)), ["a red shape", "a gun"])
    assert all(-1 <= s <= 1 for s in scores) and scores[0] != scores[1]
    boxes = owl.detect(picture((0, 0, 0)), ["gun", "knife"], 0.0)
    assert boxes and all(0 <= b.x0 <= b.x1 <= 48 and 0 <= b.y0 <= b.y1 <= 40 for b in boxes)
    assert {b.label for b in boxes} <= {"gun", "knife"}
    assert owl.detect(picture((0, 0, 0)), ["gun"], 1.01) == []


def test_editor_removes_and_crops():
    editor = PilEditor()
    image = picture((250, 250, 250))
    image.paste(Image.new("RGB", (10, 10), (0, 0, 0)), (5, 5))
    removed = editor.remove(image, [Box(5, 5, 15, 15, 0.9)])
    assert removed.getpixel((10, 10)) != (0, 0, 0) and removed.getpixel((40, 30)) == (250,) * 3
    assert editor.crop(image, Box(5, 5, 15, 15, 0.9)).size == (23, 23)


def test_the_whole_cascade_runs_over_real_models(sources):
    vlm, clip, owl = sources
    judge = Judge(
        vlm,
        relevance=clip,
        detector=owl,
        editor=PilEditor(),
        config=JudgeConfig(
            relevance_threshold=-1.0,
            detection_confidence=0.0,
            force_cascade_share=1.0,
            reasoning_tokens=4,
            verdict_tokens=4,
        ),
    )
    rule = JudgeRule(
        key="red",
        text="No red shape may be visible.",
        preconditions=(("a red shape", "a red circle"),),
        central_objects=("shape",),
    )
    decision = judge.judge(picture((220, 20, 20)), rule)
    first = decision.trace["preconditions"][0]["alternatives"][0]
    assert "score" in decision.trace["relevance"]
    assert first["steps"][0]["step"] == "debiased" and first["steps"][-1]["step"] == "reasoning"
    assert decision.violated == all(p["met"] for p in decision.trace["preconditions"])
    assert judge.describe()["vlm"] == vlm.name


@pytest.mark.parametrize("version", ["2", "2.5"])
def test_a_qwen2_vl_judge_loads_by_path_and_pads_like_single_queries(tmp_path, version):
    """Qwen2-VL's processor loads without torchvision (as the VLM reward models load it) and
    its M-RoPE positions survive left padding: a batch answers as each query alone."""
    from tests.tiny_vlms import WORDS, tiny_qwen2_vl

    torch.set_num_threads(1)
    words = (*WORDS, "Yes", "No", "Is", "shape", "visible", "triangle", "in", "this", "now")
    path = tiny_qwen2_vl(tmp_path / "qwen", version=version, words=words)
    vlm = VisionLanguageSource(str(path), device="cpu", batch_size=4)
    red, wide = picture((220, 20, 20)), Image.new("RGB", (96, 32), (20, 20, 220))
    prompts = ["Is a red shape visible ?", "Is a triangle visible in this image now ?"]
    assert_batch_answers_as_single_queries(
        vlm, [red, wide, None, None], [prompts[0], prompts[1], prompts[0], prompts[1]]
    )
