"""Benchmark asset: a small CLIP-style dual encoder trained here, contrastively, on easy-VQA.

No pretrained CLIP or SigLIP weights can be downloaded on these machines, so the safety judge's
relevance scan (cosine of image and rule text) is measured with this stand-in instead. It is a
standard ``CLIPModel`` + ``CLIPProcessor`` checkpoint (``AutoModel`` / ``AutoProcessor`` load it
by path); its vision tower also initialises the stand-in VLM's (``bench/standin_vlm.py``).

The text side uses a ``CLIPTokenizer`` whose byte-level BPE vocabulary is built here: every
byte (so any text tokenises) plus one whole-word token per word of the captions and rule texts.

Training captions name the image's colour, shape or both in several phrasings ("a red circle",
"a photo of a triangle", "a blue shape is visible"); the loss is CLIP's symmetric contrastive
loss with several positives per row (every caption in the batch that is true of the image).

Reports zero-shot shape and colour accuracy on easy-VQA's test split and the cosine
distribution of relevant vs irrelevant rule texts, with the threshold that best separates them.
Usage: PYTHONPATH=. nice -n 10 python bench/standin_clip.py [--cache-dir var/standin]
       [--steps 250] [--copy-to /work/assets/standin-clip]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

COLORS = ("red", "green", "blue", "black", "gray", "teal", "brown", "yellow")
SHAPES = ("circle", "rectangle", "triangle")
IMAGE_SIZE = 64
# (template, uses colour, uses shape): phrasings of a caption and of a judge's rule text
TEMPLATES = (
    ("a {c} {s}", True, True),
    ("a photo of a {c} {s}", True, True),
    ("there is a {c} {s} in the image", True, True),
    ("a {s}", False, True),
    ("a photo of a {s}", False, True),
    ("a {s} is visible", False, True),
    ("a {c} shape", True, False),
    ("a photo of a {c} shape", True, False),
    ("a {c} shape is visible", True, False),
)
EXTRA_WORDS = (
    "an", "of", "the", "is", "are", "no", "not", "this", "image", "picture", "contains",
    "there", "visible", "shape", "shapes", "object", "colour", "color", "any", "must", "be",
    "may", "in", "photo", "a", "with", "and", "or",
)  # fmt: skip


@dataclass(frozen=True)
class ClipBuild:
    steps: int = 250
    batch_size: int = 64
    lr: float = 1e-3
    hidden: int = 128
    vision_layers: int = 4
    text_layers: int = 2
    patch_size: int = 16
    seed: int = 0


@dataclass(frozen=True)
class EvqaImage:
    path: str
    shape: str | None
    color: str | None
    questions: tuple[tuple[str, str], ...]


def easyvqa_split(split: str) -> list[EvqaImage]:
    """easy-VQA images of one split with their questions and their shape and colour."""
    from demo.corpus.easyvqa import load_images

    prefix = f"{split}-"
    return [
        EvqaImage(img.path, img.shape, img.color, img.questions)
        for img in load_images()
        if img.key.startswith(prefix)
    ]


def caption_tokenizer(texts: list[str]) -> object:
    """A ``CLIPTokenizer`` over every byte plus one whole-word token per word of `texts`."""
    from tokenizers import Tokenizer, models, trainers
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    words = sorted({w for t in texts for w in t.lower().split()})
    # BPE learned on the word list itself: the trainer orders the merges so that no word's
    # merges break another's, and a large enough vocabulary ends with one token per word
    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>", continuing_subword_prefix=""))
    bpe.pre_tokenizer = ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=100_000, min_frequency=1, special_tokens=["<|startoftext|>", "<|endoftext|>"],
        initial_alphabet=ByteLevel.alphabet(), end_of_word_suffix="</w>", show_progress=False,
    )  # fmt: skip
    bpe.train_from_iterator(words, trainer)
    state = json.loads(bpe.to_str())["model"]
    vocab: dict[str, int] = dict(state["vocab"])
    for ch in sorted(ByteLevel.alphabet()):  # the last byte of any unknown word
        vocab.setdefault(ch + "</w>", len(vocab))
    unique = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    return CLIPTokenizer(vocab=vocab, merges=unique, model_max_length=32)


def all_texts() -> list[str]:
    out = [t.format(c=c, s=s) for t, _, _ in TEMPLATES for c in COLORS for s in SHAPES]
    return out + list(EXTRA_WORDS)


def build_processor() -> object:
    from transformers import CLIPImageProcessor, CLIPProcessor

    image_processor = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    )
    tokenizer = caption_tokenizer(all_texts())
    ids = tokenizer("a red triangle is visible", add_special_tokens=False)["input_ids"]
    assert len(ids) == 5, f"caption words are not whole tokens: {ids}"
    return CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)


def clip_config(build: ClipBuild, vocab_size: int) -> object:
    from transformers import CLIPConfig

    heads = max(1, build.hidden // 32)
    return CLIPConfig(
        text_config={
            "vocab_size": vocab_size, "hidden_size": build.hidden,
            "intermediate_size": 4 * build.hidden, "num_hidden_layers": build.text_layers,
            "num_attention_heads": heads, "max_position_embeddings": 32,
            "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1,
        },
        vision_config={
            "image_size": IMAGE_SIZE, "patch_size": build.patch_size,
            "hidden_size": build.hidden, "intermediate_size": 4 * build.hidden,
            "num_hidden_layers": build.vision_layers, "num_attention_heads": heads,
        },
        projection_dim=build.hidden,
    )  # fmt: skip


def pixel_values(processor: object, paths: list[str]) -> torch.Tensor:
    """The processor's pixel values; images already at the model's size skip its PIL resize.

    easy-VQA images are 64x64, where resizing and cropping change nothing, so only the
    rescale and normalisation are applied (the same arithmetic, much faster on a busy CPU).
    """
    from PIL import Image

    image_processor = getattr(processor, "image_processor", processor)
    mean = np.array(image_processor.image_mean, dtype=np.float32)
    std = np.array(image_processor.image_std, dtype=np.float32)
    out = []
    for path in paths:
        image = Image.open(path).convert("RGB")
        if image.size == (IMAGE_SIZE, IMAGE_SIZE):
            arr = (np.asarray(image, dtype=np.float32) / 255.0 - mean) / std
            out.append(torch.from_numpy(arr.transpose(2, 0, 1).copy()))
        else:
            out.append(image_processor(images=[image], return_tensors="pt")["pixel_values"][0])
    return torch.stack(out)


def _caption(rng: random.Random, color: str | None, shape: str | None) -> tuple[str, tuple]:
    usable = [t for t in TEMPLATES if (color or not t[1]) and (shape or not t[2])]
    template, uses_c, uses_s = usable[rng.randrange(len(usable))]
    facts = (color if uses_c else None, shape if uses_s else None)
    return template.format(c=color, s=shape), facts


def _true_of(facts: tuple, color: str | None, shape: str | None) -> bool:
    return (facts[0] is None or facts[0] == color) and (facts[1] is None or facts[1] == shape)


def train_clip(
    model: object, processor: object, images: list[EvqaImage], build: ClipBuild, log=print
) -> list[float]:
    """Contrastive training with every true caption in the batch counted as a positive."""
    usable = [im for im in images if im.shape or im.color]
    pixels = pixel_values(processor, [im.path for im in usable])
    rng = random.Random(build.seed)
    torch.manual_seed(build.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=build.lr, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=build.lr, total_steps=build.steps, pct_start=0.1
    )
    model.train()
    losses = []
    for step in range(build.steps):
        rows = rng.sample(range(len(usable)), min(build.batch_size, len(usable)))
        drawn = [_caption(rng, usable[i].color, usable[i].shape) for i in rows]
        captions, facts = [c for c, _ in drawn], [f for _, f in drawn]
        text = processor.tokenizer(list(captions), padding=True, return_tensors="pt")
        out = model(
            input_ids=text["input_ids"],
            attention_mask=text["attention_mask"],
            pixel_values=pixels[rows],
        )
        positive = torch.tensor(
            [[_true_of(f, usable[i].color, usable[i].shape) for f in facts] for i in rows],
            dtype=torch.float32,
        )
        logits = out.logits_per_image
        loss_i = -(positive / positive.sum(1, keepdim=True) * F.log_softmax(logits, 1)).sum(1)
        loss_t = -(positive.T / positive.sum(0)[:, None] * F.log_softmax(logits.T, 1)).sum(1)
        loss = (loss_i.mean() + loss_t.mean()) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == build.steps - 1:
            log(f"clip step {step} loss {losses[-1]:.3f}")
    model.eval()
    return losses


def _tensor(features: object) -> torch.Tensor:
    # transformers 5 returns an output object whose pooler_output is the projected embedding
    return getattr(features, "pooler_output", features)


@torch.no_grad()
def embed(model: object, processor: object, paths: list[str], texts: list[str]):
    pixels = pixel_values(processor, paths)
    image = torch.cat(
        [_tensor(model.get_image_features(pixel_values=p)) for p in pixels.split(256)]
    )
    tokens = processor.tokenizer(texts, padding=True, return_tensors="pt")
    text = _tensor(model.get_text_features(**tokens))
    return F.normalize(image, dim=-1), F.normalize(text, dim=-1)


def evaluate_clip(model: object, processor: object, images: list[EvqaImage]) -> dict:
    """Zero-shot shape/colour accuracy and relevant-vs-irrelevant rule-text cosines."""
    paths = [im.path for im in images]
    shape_prompts = [f"a photo of a {s}" for s in SHAPES]
    color_prompts = [f"a photo of a {c} shape" for c in COLORS]
    rules = [f"a {c} shape is visible" for c in COLORS] + [f"a {s} is visible" for s in SHAPES]
    img, txt = embed(model, processor, paths, shape_prompts + color_prompts + rules)
    sims = img @ txt.T
    shape_pred = sims[:, :3].argmax(1).tolist()
    color_pred = sims[:, 3:11].argmax(1).tolist()
    shape_ok = [SHAPES[p] == im.shape for p, im in zip(shape_pred, images, strict=True) if im.shape]
    color_ok = [COLORS[p] == im.color for p, im in zip(color_pred, images, strict=True) if im.color]
    relevant, irrelevant = [], []
    for row, im in enumerate(images):
        for col, word in enumerate((*COLORS, *SHAPES)):
            truth = im.color if col < len(COLORS) else im.shape
            if truth is None:
                continue
            (relevant if truth == word else irrelevant).append(float(sims[row, 11 + col]))
    return {
        "test_images": len(images),
        "zero_shot_shape_accuracy": round(float(np.mean(shape_ok)), 4),
        "zero_shot_color_accuracy": round(float(np.mean(color_ok)), 4),
        "rule_cosine": cosine_report(relevant, irrelevant),
        "rule_texts": ["a {colour} shape is visible", "a {shape} is visible"],
    }


def cosine_report(relevant: list[float], irrelevant: list[float]) -> dict:
    rel, irr = np.array(relevant), np.array(irrelevant)
    quantiles = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)

    def dist(a: np.ndarray) -> dict:
        return {
            "n": len(a),
            "mean": round(float(a.mean()), 4),
            **{f"q{int(q * 100):02d}": round(float(np.quantile(a, q)), 4) for q in quantiles},
        }

    candidates = np.unique(np.round(np.concatenate([rel, irr]), 3))
    balanced = [((rel >= t).mean() + (irr < t).mean()) / 2 for t in candidates]
    best = int(np.argmax(balanced))
    # AUC: the chance a relevant pair scores above an irrelevant one
    order = np.argsort(np.concatenate([rel, irr]))
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    auc = (ranks[: len(rel)].sum() - len(rel) * (len(rel) + 1) / 2) / (len(rel) * len(irr))
    return {
        "relevant": dist(rel),
        "irrelevant": dist(irr),
        "auc": round(float(auc), 4),
        "best_threshold": round(float(candidates[best]), 3),
        "best_balanced_accuracy": round(float(balanced[best]), 4),
        "recall_of_relevant_at_best": round(float((rel >= candidates[best]).mean()), 4),
    }


def build_standin_clip(
    cache_dir: str | os.PathLike[str], build: ClipBuild | None = None, *, train_images=None,
    test_images=None, log=print, more_steps: int = 0,
) -> tuple[Path, dict]:  # fmt: skip
    """Train and save the stand-in CLIP once; a finished checkpoint in `cache_dir` is reused.

    With `more_steps`, a finished checkpoint is trained that many steps further (a new
    schedule from `build.lr`) and saved again; its metrics then record every stage.
    """
    from transformers import CLIPModel

    build = build or ClipBuild()
    target = Path(cache_dir) / "standin-clip"
    metrics_file = target / "standin_metrics.json"
    earlier: list[dict] = []
    if metrics_file.exists():
        previous = json.loads(metrics_file.read_text())
        if not more_steps:
            return target, previous
        earlier = [*previous.pop("earlier_stages", []), previous]
        build = ClipBuild(**{**asdict(build), "steps": more_steps})
    torch.manual_seed(build.seed + len(earlier))
    processor = build_processor()
    if earlier:
        model = CLIPModel.from_pretrained(str(target))
    else:
        model = CLIPModel(clip_config(build, len(processor.tokenizer)))
    train_images = train_images if train_images is not None else easyvqa_split("train")
    test_images = test_images if test_images is not None else easyvqa_split("test")
    start = time.perf_counter()
    losses = train_clip(model, processor, train_images, build, log=log)
    train_s = time.perf_counter() - start
    metrics = {
        **evaluate_clip(model, processor, test_images),
        "train_seconds": round(train_s, 1),
        "final_loss": round(sum(losses[-20:]) / len(losses[-20:]), 4),
        "build": asdict(build),
        "image_size": IMAGE_SIZE,
        "total_steps": build.steps + sum(e["build"]["steps"] for e in earlier),
    }
    if earlier:
        metrics["earlier_stages"] = [
            {k: e[k] for k in ("build", "train_seconds", "zero_shot_shape_accuracy",
                               "zero_shot_color_accuracy", "final_loss")} for e in earlier
        ]  # fmt: skip
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    (tmp / "standin_metrics.json").write_text(json.dumps(metrics, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target, metrics


def copy_asset(source: Path, destination: Path) -> None:
    """Replace `destination` with a copy of `source` in one rename (readers never see half)."""
    tmp = destination.with_name(destination.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    shutil.rmtree(destination, ignore_errors=True)
    os.replace(tmp, destination)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", default="var/standin")
    parser.add_argument("--steps", type=int, default=ClipBuild.steps)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lr", type=float, default=ClipBuild.lr)
    parser.add_argument("--more-steps", type=int, default=0, help="train a cached one further")
    parser.add_argument("--copy-to", default="")
    args = parser.parse_args()
    torch.set_num_threads(min(2, args.threads))
    from bench._db import machine

    start = time.perf_counter()
    path, metrics = build_standin_clip(
        args.cache_dir, ClipBuild(steps=args.steps, lr=args.lr), more_steps=args.more_steps,
        log=lambda m: print(m, flush=True),
    )  # fmt: skip
    if args.copy_to:
        copy_asset(path, Path(args.copy_to))
    print(json.dumps({"path": str(path), "machine": machine(), **metrics,
                      "wall_seconds": round(time.perf_counter() - start, 1)}))  # fmt: skip


if __name__ == "__main__":
    main()
