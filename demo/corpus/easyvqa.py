"""Questions and answers about the easy-VQA images (one coloured shape on a plain background)."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

from demo.corpus.qa import QA

COLORS = ("red", "green", "blue", "black", "gray", "teal", "brown", "yellow")
SHAPES = ("circle", "rectangle", "triangle")
_CORNERS = {"circle": "no corners", "triangle": "three corners", "rectangle": "four corners"}
_ROLLS = {"circle": True, "triangle": False, "rectangle": False}
_TINTS = {
    "red": "pink",
    "green": "light green",
    "blue": "light blue",
    "black": "gray",
    "gray": "light gray",
    "teal": "pale turquoise",
    "brown": "beige",
    "yellow": "pale yellow",
}


@dataclass(frozen=True)
class EvqaImage:
    key: str  # "train-0042": unique across splits, also the base of the PNG name
    path: str
    questions: tuple[tuple[str, str], ...]  # (question, one-word answer)
    shape: str | None
    color: str | None


@dataclass(frozen=True)
class Layout:
    position: str
    size: str
    background: str


def load_images() -> list[EvqaImage]:
    """All easy-VQA images of both splits with their questions and inferred shape/colour."""
    import easy_vqa  # imported here: the package reads its JSON at call time only

    out: list[EvqaImage] = []
    for split, questions, paths in (
        ("train", easy_vqa.get_train_questions(), easy_vqa.get_train_image_paths()),
        ("test", easy_vqa.get_test_questions(), easy_vqa.get_test_image_paths()),
    ):
        grouped: dict[int, list[tuple[str, str]]] = {}
        for text, answer, image_id in zip(*questions, strict=True):
            grouped.setdefault(image_id, []).append((text, answer))
        for image_id in sorted(grouped):
            qs = tuple(grouped[image_id])
            shape, color = _infer_facts(qs)
            out.append(EvqaImage(f"{split}-{image_id:04d}", paths[image_id], qs, shape, color))
    return out


def _infer_facts(questions: tuple[tuple[str, str], ...]) -> tuple[str | None, str | None]:
    shape = color = None
    for text, answer in questions:
        if text.startswith("what"):
            if answer in SHAPES:
                shape = answer
            elif answer in COLORS:
                color = answer
            continue
        if (answer == "yes") != _negated(text):  # the named thing is present
            words = set(re.findall(r"[a-z]+", text))
            shape = next((s for s in SHAPES if s in words), shape)
            color = next((c for c in COLORS if c in words), color)
    return shape, color


def _negated(text: str) -> bool:
    return " not " in f" {text} " or text.startswith("is no ")


@cache
def layout(path: str) -> Layout:
    """Where the shape sits, how big it is and the background tint, read from the pixels."""
    arr = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
    bg = arr[0, 0]
    mask = np.abs(arr - bg).sum(axis=2) > 40
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        cy, cx, frac = h / 2, w / 2, 0.0
    else:
        cy, cx, frac = ys.mean(), xs.mean(), mask.mean()
    row = ("top", "middle", "bottom")[min(2, int(3 * cy / h))]
    col = ("left", "center", "right")[min(2, int(3 * cx / w))]
    if (row, col) == ("middle", "center"):
        position = "in the center of the image"
    elif row == "middle":
        position = f"on the {col} side of the image"
    elif col == "center":
        position = f"near the {row} of the image"
    else:
        position = f"in the {row} {col} part of the image"
    size = "small" if frac < 0.05 else "medium-sized" if frac < 0.15 else "large"
    r, g, b = (int(v) for v in bg)
    if max(r, g, b) - min(r, g, b) < 10:
        background = "off-white"
    else:
        background = {0: "pale pink", 1: "pale green", 2: "pale lavender"}[int(np.argmax(bg))]
    return Layout(position, size, background)


def _pick(rng: random.Random, options: list[str]) -> str:
    return options[rng.randrange(len(options))]


def _formatter(template: str) -> Callable[[str], str]:
    return lambda v: template.format(v=v)


def _extra(img: EvqaImage, rng: random.Random) -> str:
    """A true sentence that names neither colour nor shape, so it never contradicts a value."""
    if rng.random() > 0.4:
        return ""
    lay = layout(img.path)
    return _pick(
        rng,
        [
            f"The shape sits {lay.position}.",
            "It is the only shape in the picture.",
            f"The background is a plain {lay.background} colour.",
            f"The shape is {lay.size} compared to the whole image.",
        ],
    )


def absent_objects(img: EvqaImage) -> tuple[str, ...]:
    """What a generator could invent: any second shape, text, borders (there is one shape)."""
    objs = [f"a small {c} {s}" for c in COLORS for s in SHAPES if (c, s) != (img.color, img.shape)]
    objs += ["a line of handwritten text", "a thin black border", "a faint dotted grid"]
    return tuple(objs)


def question_qa(img: EvqaImage, text: str, answer: str, rng: random.Random) -> QA:
    """A chat-style QA for one of the image's original easy-VQA questions."""
    question = text[:1].upper() + text[1:]
    words = set(re.findall(r"[a-z]+", text))
    named_shape = next((s for s in SHAPES if s in words), None)
    named_color = next((c for c in COLORS if c in words), None)
    extra, absent = _extra(img, rng), absent_objects(img)
    if text.startswith("what") and answer in SHAPES:
        color = named_color or img.color
        opts = ["The shape in the image is a {v}.", "It is a {v}.", "The image contains a {v}."]
        if color:
            opts += [f"The {color} shape is a {{v}}.", f"It's a {color} {{v}}."]
        tpl = _pick(rng, opts)
        alts = tuple(s for s in SHAPES if s != answer)
        return QA(question, answer, alts, _formatter(tpl), "shape", extra, absent)
    if text.startswith("what"):
        subject = named_shape or "shape"
        tpl = _pick(
            rng,
            [
                f"The {subject} is {{v}}.",
                "It is {v}.",
                f"The {subject} in the image is {{v}}.",
                f"The colour of the {subject} is {{v}}.",
                "It appears to be {v}.",
                f"The {subject} is filled with a solid {{v}} colour.",
            ],
        )
        alts = tuple(c for c in COLORS if c != answer)
        return QA(question, answer, alts, _formatter(tpl), "color", extra, absent)
    target = f"{named_color} shape" if named_color else (named_shape or "shape")
    negated = _negated(text)
    variant = rng.randrange(3)

    def render(v: str) -> str:
        present = (v == "yes") != negated
        if v == "yes" and present:
            opts = ["Yes, there is a {t} in the image.", "Yes. The image contains a {t}.",
                    "Yes, a {t} is visible in the picture."]  # fmt: skip
        elif v == "no" and not present:
            opts = ["No, there is no {t} in the image.", "No. The image does not contain a {t}.",
                    "No, I can't see any {t} in the picture."]  # fmt: skip
        elif v == "yes":
            opts = ["Yes, that's right: there is no {t} in the image.",
                    "Yes. The image does not contain a {t}.",
                    "Yes, no {t} appears in it."]  # fmt: skip
        else:
            opts = ["No, there is a {t} in the image.", "No. The image does contain a {t}.",
                    "No, a {t} is actually present."]  # fmt: skip
        return opts[variant].format(t=target)

    alts = ("no",) if answer == "yes" else ("yes",)
    return QA(question, answer, alts, render, "yesno", extra, absent)


def detail_qa(img: EvqaImage, rng: random.Random) -> QA:
    """A 'describe the image' QA; the value is "<colour> <shape>"."""
    assert img.color and img.shape
    lay = layout(img.path)
    question = _pick(
        rng,
        [
            "Describe the image in detail.",
            "What do you see in this picture? Please describe it thoroughly.",
            "Give a detailed description of the image.",
            "Can you describe everything that is shown in this image?",
        ],
    )
    variant = rng.randrange(2)

    def render(v: str) -> str:
        color, shape = v.split()
        if variant == 0:
            return (
                f"The image shows a single {color} {shape} on a plain {lay.background} "
                f"background. The {shape} is {lay.size} and sits {lay.position}. "
                "There are no other objects, text or patterns in the picture."
            )
        return (
            f"This is a simple synthetic image with a plain {lay.background} background. "
            f"A {lay.size} {color} {shape} is drawn {lay.position}, with clean, sharp edges "
            "and a uniform fill. Nothing else appears in the scene."
        )

    value = f"{img.color} {img.shape}"
    alts = tuple(f"{c} {img.shape}" for c in COLORS if c != img.color) + tuple(
        f"{img.color} {s}" for s in SHAPES if s != img.shape
    )
    return QA(question, value, alts, render, "detail", "", absent_objects(img))


def reasoning_qa(img: EvqaImage, rng: random.Random) -> QA | None:
    """A question that needs the shape or colour plus one step of reasoning."""
    options = []
    if img.shape:
        options += ["corners", "roll"]
    if img.color:
        options += ["tint"]
    if not options:
        return None
    which = _pick(rng, options)
    absent = absent_objects(img)
    if which == "corners":

        def corners(v: str) -> str:
            if v == "circle":
                return ("The image shows a circle. A circle is a single smooth curve, so it "
                        "has no corners at all.")  # fmt: skip
            return (f"The image shows a {v}. Every {v} has {_CORNERS[v]}, so the shape in "
                    f"the picture has {_CORNERS[v]}.")  # fmt: skip

        q = "How many corners does the shape in this image have? Explain your reasoning."
        alts = tuple(s for s in SHAPES if s != img.shape)
        return QA(q, img.shape or "", alts, corners, "reasoning", "", absent)
    if which == "roll":

        def roll(v: str) -> str:
            if _ROLLS[v]:
                return ("Yes. The shape is a circle, and a round object placed on a flat "
                        "surface can roll because its edge has no flat side.")  # fmt: skip
            return (f"No. The shape is a {v}, which has straight sides; resting on one of "
                    "them, it would stay put rather than roll.")  # fmt: skip

        q = "If this shape were a solid object lying on a table, would it roll? Why?"
        alts = tuple(s for s in SHAPES if s != img.shape)
        return QA(q, img.shape or "", alts, roll, "reasoning", "", absent)

    def tint(v: str) -> str:
        return (f"The shape is {v}. Mixing {v} paint with white lightens it, so you would "
                f"get {_TINTS[v]}.")  # fmt: skip

    q = "What colour would you get by mixing the colour of this shape with white paint?"
    alts = tuple(c for c in COLORS if c != img.color)
    return QA(q, img.color or "", alts, tint, "reasoning", "", absent)
