"""The stand-in CLIP and VLM builders at micro scale: they train, save, and reload by path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from bench.standin_clip import COLORS, ClipBuild, caption_tokenizer, easyvqa_split
from bench.standin_vlm import (
    ANSWERS,
    IMAGE_TOKEN,
    JUDGE_QUESTION,
    VlmBuild,
    build_standin_vlm,
    grounding_samples,
    judge_content,
    judge_pair,
    judge_samples,
    make_batch,
    text_judge_question,
)
from judge.sources import VISIBLE_PROMPT

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# The micro builds take about 20 s of CPU (transformers, peft, two trainings): the tests that
# use them are integration tests (they need no service; `make test-integration` runs them).


def _tiny_lm(path: Path, images) -> Path:
    """A 2-layer Llama with a word-level tokenizer over the questions' words (no download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = {w for im in images for q, a in im.questions for w in re.findall(r"\w+|\S", q + a)}
    words |= set(re.findall(r"\w+|\S", JUDGE_QUESTION.format(content="a")))
    words |= set(ANSWERS) | {"user", "assistant", "shape"}
    vocab = {t: i for i, t in enumerate([*SPECIALS, "[UNK]", *sorted(words)])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", eos_token="<|im_end|>",
        pad_token="<|endoftext|>", additional_special_tokens=SPECIALS,
    ).save_pretrained(path)  # fmt: skip
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        tie_word_embeddings=True,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    train = [im for im in easyvqa_split("train")[:40] if im.color and im.shape][:12]
    test = [im for im in easyvqa_split("test")[:20] if im.color and im.shape][:6]
    lm_dir = _tiny_lm(tmp_path_factory.mktemp("lm"), train + test)
    cache = tmp_path_factory.mktemp("cache")
    clip_build = ClipBuild(steps=3, batch_size=8, hidden=32, vision_layers=1, text_layers=1)
    build = VlmBuild(
        lm_layers=1, steps=3, batch_size=4, eval_questions=8, lora_r=2, what_share=0.4,
        check_every=2, align_steps=2,
    )  # fmt: skip
    path, metrics = build_standin_vlm(
        cache, build, clip_build=clip_build, train_images=train, test_images=test,
        lm_dir=lm_dir, log=lambda _: None,
    )  # fmt: skip
    return cache, path, metrics, test


def test_caption_tokenizer_keeps_words_whole_and_any_text_tokenises():
    tokenizer = caption_tokenizer(["a red circle", "a blue shape is visible"])
    assert len(tokenizer("a blue circle", add_special_tokens=False)["input_ids"]) == 3
    assert tokenizer.unk_token_id not in tokenizer("zebra!", add_special_tokens=False)["input_ids"]


def test_judge_questions_are_true_half_the_time():
    import random

    image = next(im for im in easyvqa_split("test") if im.color and im.shape)
    rng = random.Random(0)
    answers = [judge_samples(image, rng) for _ in range(200)]
    for question, answer in answers:  # a "yes" names only what the image shows
        named = set(judge_content(question).split())
        assert (answer == "yes") == ({image.color, image.shape} >= named - {"a", "shape"})
    assert 70 < sum(a == "yes" for _, a in answers) < 130


def test_text_judge_questions_write_the_image_words_where_the_image_would_be():
    image = easyvqa_split("train")[2]  # a red triangle
    question = VISIBLE_PROMPT.format(content="a red shape")
    assert text_judge_question(image, question) == f"red triangle\n{question}"


def test_judge_questions_are_the_judges_own_words():
    # the judge reads P(yes) after exactly this question: training on another wording would
    # leave the judge asking a question the model never saw
    image = next(im for im in easyvqa_split("test") if im.color and im.shape)
    question, _ = judge_samples(image, __import__("random").Random(1))
    content = judge_content(question)
    assert question == VISIBLE_PROMPT.format(content=content) and content.startswith("a ")


def test_judge_pairs_name_the_same_kind_once_true_once_false():
    import random

    image = next(im for im in easyvqa_split("test") if im.color and im.shape)
    rng = random.Random(0)
    for _ in range(100):
        pair = judge_pair(image, rng)
        assert sorted(a for _, a in pair) == ["no", "yes"]
        true, false = (judge_content(q) for q, a in sorted(pair, key=lambda p: p[1] == "no"))
        assert true != false and len(true.split()) == len(false.split())
        assert (true.endswith(" shape")) == (false.endswith(" shape"))
        assert {image.color, image.shape} >= set(true.split()) - {"a", "shape"}


def test_judge_pairs_keep_to_the_kinds_asked_for():
    import random

    image = next(im for im in easyvqa_split("test") if im.color and im.shape)
    rng = random.Random(0)
    for _ in range(50):
        for question, _ in judge_pair(image, rng, ("color",)):
            words = judge_content(question).split()
            assert words[0] == "a" and words[2] == "shape" and words[1] in COLORS


def test_grounding_checks_ask_what_the_question_alone_cannot_answer():
    images = [im for im in easyvqa_split("test")[:60] if im.color and im.shape][:20]
    samples = grounding_samples(images, 16, seed=0)
    judge = [a for _, q, a in samples if q.startswith("Is the following")]
    colour = [a for _, q, a in samples if not q.startswith("Is the following")]
    assert len(judge) == 16 and len(colour) == 8
    assert set(judge) <= {"yes", "no"} and 3 <= judge.count("yes") <= 13
    assert all(a not in ("yes", "no") for a in colour)


@pytest.mark.slow
@pytest.mark.integration
def test_the_clip_checkpoint_reloads_and_embeds(built):
    from PIL import Image
    from transformers import AutoModel, AutoProcessor

    cache, _, metrics, test = built
    model = AutoModel.from_pretrained(cache / "standin-clip")
    processor = AutoProcessor.from_pretrained(cache / "standin-clip")
    inputs = processor(
        text=["a red circle", "a blue triangle"], images=[Image.open(test[0].path)],
        return_tensors="pt", padding=True,
    )  # fmt: skip
    with torch.no_grad():
        out = model(**inputs)
    assert out.logits_per_image.shape == (1, 2)
    assert 0 <= metrics["clip"]["zero_shot_shape_accuracy"] <= 1
    assert set(metrics["clip"]["rule_cosine"]) >= {"relevant", "irrelevant", "best_threshold"}


@pytest.mark.slow
@pytest.mark.integration
def test_the_llava_checkpoint_reloads_through_the_auto_classes_and_answers(built):
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    _, path, metrics, test = built
    assert metrics["steps"] == 3 and 0 <= metrics["yes_no_accuracy"] <= 1
    assert 0 <= metrics["blind_yes_no_accuracy"] <= 1
    assert 0 <= metrics["no_image_yes_no_accuracy"] <= 1
    assert [c["step"] for c in metrics["grounding_checks"]] == [2]
    # the colour-question figure and the judge-style split are kept apart
    check = metrics["grounding_checks"][0]
    assert {"color", "judge_color", "judge_shape", "judge_both", "judge_said_yes"} <= set(check)
    assert metrics["judge_prompt"] == VISIBLE_PROMPT and metrics["stopped"] == "steps"
    # the word alignment ran first and its readout is kept, before and after the main loop
    words = metrics["word_alignment"]
    assert words["pre_stage"]["step"] == 2
    assert {"color_word", "shape_word"} <= set(words["final"])
    model = AutoModelForImageTextToText.from_pretrained(path)
    processor = AutoProcessor.from_pretrained(path)
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    assert not any("lora" in name for name in model.state_dict())  # merged: a plain checkpoint
    messages = [{"role": "user", "content": [
        {"type": "image"}, {"type": "text", "text": "what color is the shape?"}]}]  # fmt: skip
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = processor(images=[Image.open(test[0].path)], text=[text], return_tensors="pt")
    # the chat template and the processor build exactly what training fed the model
    trained = make_batch(processor, ["what color is the shape?"], ["red"], inputs["pixel_values"])
    prompt_len = inputs["input_ids"].shape[1]
    assert inputs["input_ids"][0].tolist() == trained.input_ids[0, :prompt_len].tolist()
    image_id = processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    # 16 patches + CLIP's CLS (the build's default "full" feature strategy)
    assert (inputs["input_ids"] == image_id).sum() == 17
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=2, do_sample=False)
    assert generated.shape[1] == prompt_len + 2


@pytest.mark.slow
@pytest.mark.integration
def test_the_judge_reads_the_llava_on_the_prompt_it_was_trained_on(built):
    from judge.hf import VisionLanguageSource

    _, path, _, test = built
    source = VisionLanguageSource(str(path), device="cpu")
    question = VISIBLE_PROMPT.format(content="a red shape")
    inputs = source._inputs([test[0].path], [question])
    trained = make_batch(source.processor, [question], ["yes"], inputs["pixel_values"])
    prompt_len = inputs["input_ids"].shape[1]
    assert inputs["input_ids"][0].tolist() == trained.input_ids[0, :prompt_len].tolist()
    # the answer the model was trained to give is one of the words the judge sums
    assert trained.labels[0, prompt_len].item() in source.yes_ids
    (p_yes, p_no), *_ = source.yes_no([test[0].path], [question])
    assert 0 < p_yes + p_no <= 1


@pytest.mark.slow
@pytest.mark.integration
def test_a_second_stage_continues_a_saved_llava(built, tmp_path):
    import dataclasses

    _, path, first, test = built
    train = [im for im in easyvqa_split("train")[:40] if im.color][:8]
    build = dataclasses.replace(
        VlmBuild(**first["build"]), init_from=str(path), judge_kinds=("color",), steps=2,
        check_every=0, checkpoint_minutes=0.0,  # the periodic training checkpoint is written too
    )  # fmt: skip
    second_path, second = build_standin_vlm(
        tmp_path / "fresh", build, train_images=train, test_images=test, log=lambda _: None
    )
    assert second["steps"] == 2 and second["init_from"]["path"] == str(path)
    assert second["clip"] == first["clip"]  # where its vision tower came from, carried over
    assert not (tmp_path / "fresh" / "standin-clip").exists()  # nothing rebuilt from scratch
    assert (second_path / "model.safetensors").exists()
