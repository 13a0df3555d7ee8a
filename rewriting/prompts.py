"""Versioned prompts for rewriting and reviewing.

A prompt is data: its version is recorded with every result, so a dataset version says which
words made it. A user may edit a prompt; an edited prompt is versioned by the hash of its text
(``custom-<sha>``), so two runs with the same text share a version and different texts never do.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

REWRITE_PLACEHOLDER = "{text}"
QUESTION_PLACEHOLDER = "{question}"


@dataclass(frozen=True)
class RewritePrompt:
    version: str
    system: str
    # ``{text}`` is the text to rewrite; ``{question}`` the question it answers (may be empty)
    answer_template: str
    question_template: str
    # worked examples shown as earlier chat turns (user asks, assistant rewrites): a small LLM
    # copies a pattern it has seen far more reliably than it follows written rules
    examples: tuple[tuple[str, str], ...] = ()

    def render(self, *, field: str, text: str, question: str = "") -> tuple[str, str]:
        """(system, user) messages for one text; ``field`` is "answer" or "question"."""
        template = self.answer_template if field == "answer" else self.question_template
        # one pass of plain replacement: braces in the corpus text are never interpreted
        user = template.replace(QUESTION_PLACEHOLDER, question).replace(REWRITE_PLACEHOLDER, text)
        return self.system, user

    def history(self, *, field: str) -> list[tuple[str, str]]:
        """The worked examples as (user, assistant) turns, rendered with the same template."""
        template = self.answer_template if field == "answer" else self.question_template
        turns = []
        for text, rewrite in self.examples:
            user = template.replace(QUESTION_PLACEHOLDER, "").replace(REWRITE_PLACEHOLDER, text)
            turns.append((user, rewrite))
        return turns


@dataclass(frozen=True)
class ReviewPrompt:
    version: str
    system: str
    template: str  # {question}, {first}, {second}; the model answers "A" or "B"

    def render(self, *, question: str, first: str, second: str) -> tuple[str, str]:
        user = (
            self.template.replace(QUESTION_PLACEHOLDER, question)
            .replace("{first}", first)
            .replace("{second}", second)
        )
        return self.system, user


_RULES = (
    "Keep every fact, object, number, colour and spatial relation exactly as given. "
    "Add nothing that is not in the text: no new objects, details, opinions or sentences. "
    "Keep lists as lists and steps as steps, in the same order. "
    "Reply with the rewritten text only."
)

PROMPTS: dict[str, RewritePrompt] = {
    "v1": RewritePrompt(
        version="v1",
        system="You rewrite text in your own words and style without changing its meaning.",
        answer_template=(
            "Rewrite the following answer about an image in your own style. "
            + _RULES
            + "\n\nQuestion: {question}\n\nAnswer to rewrite:\n{text}"
        ),
        question_template=(
            "Rewrite the following question about an image in your own style. "
            + _RULES
            + "\n\nQuestion to rewrite:\n{text}"
        ),
    ),
    # v2: short rules and worked examples (few-shot). Each example keeps every object, colour,
    # number, spatial word and negation of its text and changes only the wording, which is what
    # the guards accept; none is taken from the demo corpus.
    "v2": RewritePrompt(
        version="v2",
        system="You reword text. You keep every fact and every word that names a thing, "
        "a colour, a number or a place, and you add nothing.",
        answer_template="Reword this text. Keep all facts. Reply with the reworded text only."
        "\n\n{text}",
        question_template="Reword this question. Keep all facts. Reply with the reworded "
        "question only.\n\n{text}",
        examples=(
            (
                "There is a small dog sitting on a red sofa next to the window.",
                "A small dog is sitting on a red sofa next to the window.",
            ),
            (
                "No, there is no bicycle in the photo.",
                "No, the photo has no bicycle in it.",
            ),
            (
                "The man is holding two umbrellas. He stands near the door.",
                "The man holds two umbrellas, and he is standing near the door.",
            ),
        ),
    ),
}
DEFAULT_PROMPT_VERSION = "v1"

REVIEW_PROMPTS: dict[str, ReviewPrompt] = {
    "v1": ReviewPrompt(
        version="v1",
        system="You compare two answers that should say the same thing.",
        template=(
            "Question: {question}\n\nAnswer A:\n{first}\n\nAnswer B:\n{second}\n\n"
            "Both answers should state the same facts. Which one is clearer and better written "
            "while staying faithful? Reply with the single letter A or B."
        ),
    ),
}
DEFAULT_REVIEW_VERSION = "v1"

MAX_PROMPT_CHARS = 8000


def rewrite_prompt(
    version: str = DEFAULT_PROMPT_VERSION, *, custom: str | None = None
) -> RewritePrompt:
    """The prompt of ``version``, or a user-edited answer template (versioned by its hash)."""
    if custom is None:
        if version not in PROMPTS:
            raise ValueError(f"unknown prompt version {version!r}; known: {sorted(PROMPTS)}")
        return PROMPTS[version]
    if not isinstance(custom, str) or not custom.strip():
        raise ValueError("a custom prompt must be a non-empty string")
    if len(custom) > MAX_PROMPT_CHARS:
        raise ValueError(f"a custom prompt is at most {MAX_PROMPT_CHARS} characters")
    if REWRITE_PLACEHOLDER not in custom:
        raise ValueError(f"a custom prompt must contain {REWRITE_PLACEHOLDER} where the text goes")
    base = PROMPTS[DEFAULT_PROMPT_VERSION]
    digest = hashlib.sha256(custom.encode("utf-8")).hexdigest()[:10]
    return RewritePrompt(
        version=f"custom-{digest}",
        system=base.system,
        answer_template=custom,
        question_template=custom,
    )
