"""What the cascade asks of its models, as three small interfaces, and a scripted source.

An image is whatever the sources understand (a PIL image for the real ones, a name for the
scripted one); the cascade only passes it on, and edits it through ``ImageEditor``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# The question CLUE asks; a precondition is appended.
VISIBLE_PROMPT = "Is the following content visible via this image? {content} Answer yes or no."
REASON_PROMPT = (
    "Look at the image carefully. Is the following content visible in it: {content}? "
    "Think step by step and describe what you see that bears on it."
)
VERDICT_PROMPT = (
    "Content: {content}\nYour reasoning: {reasoning}\nAnswer with JSON only: "
    '{{"visible": true or false, "rationale": "one sentence"}}'
)


@dataclass(frozen=True)
class Box:
    """A detection in pixel coordinates (x0, y0, x1, y1) with its confidence and label."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    label: str = ""

    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)

    def to_json(self) -> dict[str, Any]:
        return {
            "box": [round(v, 2) for v in (self.x0, self.y0, self.x1, self.y1)],
            "score": round(self.score, 4),
            "label": self.label,
        }


class YesNoSource(Protocol):
    """A vision-language model asked yes/no questions and, for the cascade, free text."""

    name: str

    def yes_no(
        self, images: Sequence[Any | None], prompts: Sequence[str]
    ) -> list[tuple[float, float]]:
        """(P(Yes), P(No)) of the next token, one per (image or None, prompt)."""

    def generate(self, image: Any | None, prompt: str, max_new_tokens: int) -> str:
        """Free text answering ``prompt`` about ``image``."""


class RelevanceSource(Protocol):
    name: str

    def similarity(self, image: Any, texts: Sequence[str]) -> list[float]:
        """Cosine of the image and each text in a joint embedding space."""


class DetectorSource(Protocol):
    name: str

    def detect(self, image: Any, words: Sequence[str], min_score: float) -> list[Box]:
        """Boxes of any of ``words`` scoring at least ``min_score``."""


class ImageEditor(Protocol):
    def size(self, image: Any) -> tuple[int, int]: ...

    def remove(self, image: Any, boxes: Sequence[Box]) -> Any:
        """The image with the boxes' contents removed."""

    def crop(self, image: Any, box: Box) -> Any:
        """A crop around the box (with some context)."""


def debiased(p_yes: float, p_no: float) -> float:
    """M = P(Yes) / (P(Yes) + P(No)); 0.5 when the model puts no mass on either."""
    total = p_yes + p_no
    return 0.5 if total <= 0.0 else p_yes / total


@dataclass
class ScriptedSource:
    """Known answers for tests and for checking the cascade's branches.

    ``m``: M for (image, content) with image ``None`` for the no-image query; ``relevance``:
    cosine for (image, text); ``detections``: boxes per image; ``verdicts``: what the reasoning
    step concludes for (image, content) (True, False or a raw string). Images are names; the
    editor makes ``"name-removed"`` and ``"name-crop"``. Every call is logged in ``calls``.
    """

    m: Mapping[tuple[str | None, str], float] = field(default_factory=dict)
    relevance: Mapping[tuple[str, str], float] = field(default_factory=dict)
    detections: Mapping[str, list[Box]] = field(default_factory=dict)
    verdicts: Mapping[tuple[str, str], bool | str] = field(default_factory=dict)
    sizes: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    default_m: float = 0.5
    name: str = "scripted"
    calls: list[tuple[str, Any]] = field(default_factory=list)

    # YesNoSource
    def yes_no(
        self, images: Sequence[str | None], prompts: Sequence[str]
    ) -> list[tuple[float, float]]:
        out = []
        for image, prompt in zip(images, prompts, strict=True):
            content = _content_of(prompt)
            self.calls.append(("yes_no", (image, content)))
            value = self.m.get((image, content), self.default_m)
            out.append((value, 1.0 - value))
        return out

    def generate(self, image: str | None, prompt: str, max_new_tokens: int) -> str:
        if prompt.startswith("Content: "):
            content = prompt[len("Content: ") : prompt.index("\nYour reasoning:")]
            self.calls.append(("verdict", (image, content)))
            answer = self.verdicts.get((image, content), False)
            if isinstance(answer, str):
                return answer
            return '{"visible": %s, "rationale": "scripted"}' % ("true" if answer else "false")
        self.calls.append(("reason", (image, prompt)))
        return "scripted reasoning"

    # RelevanceSource
    def similarity(self, image: str, texts: Sequence[str]) -> list[float]:
        self.calls.append(("similarity", (image, tuple(texts))))
        return [self.relevance.get((image, t), 1.0) for t in texts]

    # DetectorSource
    def detect(self, image: str, words: Sequence[str], min_score: float) -> list[Box]:
        self.calls.append(("detect", (image, tuple(words))))
        return [b for b in self.detections.get(image, []) if b.score >= min_score]

    # ImageEditor
    def size(self, image: str) -> tuple[int, int]:
        return self.sizes.get(image, (100, 100))

    def remove(self, image: str, boxes: Sequence[Box]) -> str:
        return f"{image}-removed"

    def crop(self, image: str, box: Box) -> str:
        return f"{image}-crop"

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.calls if k == kind)


def _content_of(prompt: str) -> str:
    head, tail = VISIBLE_PROMPT.split("{content}")
    if prompt.startswith(head) and prompt.endswith(tail):
        return prompt[len(head) : len(prompt) - len(tail)]
    return prompt
