"""The question/answer unit the demo builder assembles conversations from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class QA:
    """One human question and the facts needed to answer it right or wrong.

    `render` turns a value (a colour, a shape, "yes", a phrase) into a full chat-style sentence
    with a wording fixed at build time, so a wrong answer reads exactly like a right one and
    only the image can tell them apart.
    """

    question: str
    value: str
    alternatives: tuple[str, ...]  # plausible values that contradict the image
    render: Callable[[str], str]
    kind: str  # question type, used to pick answers to *other* questions for off-topic defects
    extra: str = ""  # an optional true, value-neutral sentence appended to every rendering
    absent: tuple[str, ...] = ()  # objects not in the image ("a small green triangle")

    def text(self, value: str | None = None) -> str:
        body = self.render(self.value if value is None else value)
        return f"{body} {self.extra}" if self.extra else body

    @property
    def answer(self) -> str:
        return self.text()
