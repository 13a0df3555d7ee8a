"""Machine-generation defects injected into the demo corpus, one small function each.

Each function returns the altered text and never mutates its input; all randomness comes from
the `random.Random` passed in so a build is reproducible for a seed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from demo.corpus.qa import QA

WRONG_ANSWER = "wrong_answer"
HALLUCINATED_OBJECT = "hallucinated_object"
TRUNCATED_ANSWER = "truncated_answer"
OFF_TOPIC_ANSWER = "off_topic_answer"
GARBLED_INSTRUCTION = "garbled_instruction"

ANSWER_DEFECTS = (WRONG_ANSWER, HALLUCINATED_OBJECT, TRUNCATED_ANSWER, OFF_TOPIC_ANSWER)
DEFECT_KINDS = (*ANSWER_DEFECTS, GARBLED_INSTRUCTION)

_HALLUCINATION_TEMPLATES = (
    "There is also {obj} in the picture.",
    "{Obj} can also be seen near the edge of the image.",
    "In addition, {obj} appears in the background.",
    "Next to it, there is {obj}.",
    "You can also notice {obj} in one corner.",
)
_SENTENCE_END = (".", "!", "?")


def wrong_answer(qa: QA, rng: random.Random) -> str:
    """The same wording with a plausible value that contradicts the image."""
    choices = [v for v in qa.alternatives if v != qa.value]
    if not choices:
        raise ValueError(f"no wrong alternative for {qa.question!r}")
    return qa.text(rng.choice(choices))


def hallucinated_object(answer: str, absent_objects: Sequence[str], rng: random.Random) -> str:
    """The answer plus a confident sentence about an object that is not in the image."""
    if not absent_objects:
        raise ValueError("no absent object to hallucinate")
    obj = rng.choice(list(absent_objects))
    sentence = rng.choice(_HALLUCINATION_TEMPLATES).format(obj=obj, Obj=obj[:1].upper() + obj[1:])
    return f"{answer.rstrip()} {sentence}"


def truncated_answer(answer: str, rng: random.Random) -> str:
    """Cut the answer mid-sentence, as a generator hitting its token limit does.

    The cut keeps 30-75 % of the text, falls between words when there are several and never
    leaves a sentence-final punctuation mark, so the result visibly stops short.
    """
    text = answer.strip()
    words = text.split()
    if len(words) >= 3:
        target = int(len(text) * rng.uniform(0.3, 0.75))
        # word boundaries strictly inside the text, nearest to the target length
        bounds = [m.start() for m in re.finditer(r" ", text)]
        cut = min(bounds, key=lambda b: abs(b - target))
        out = text[:cut]
    else:
        out = text[: max(1, int(len(text) * rng.uniform(0.3, 0.75)))]
    out = out.rstrip(" ,;:—-")
    while out and out[-1] in _SENTENCE_END:
        # ending on a full stop would make the cut look like a complete (shorter) answer
        out = out[:-1].rstrip()
    return out or text[:1]


def off_topic_answer(question: str, pool: Sequence[tuple[str, str]], rng: random.Random) -> str:
    """An answer that was written for a different question (pool holds (question, answer))."""
    own = _norm(question)
    others = [answer for q, answer in pool if _norm(q) != own]
    if not others:
        raise ValueError("no answer to a different question in the pool")
    return rng.choice(others)


def garbled_instruction(question: str, rng: random.Random) -> str:
    """Corrupt the human turn: shuffled word order, a dropped word or swapped letters.

    Always returns text different from the input (a one-word question gets its letters
    swapped).
    """
    words = question.split()
    method = rng.choice(("shuffle", "drop_and_typo", "stutter")) if len(words) >= 3 else "typo"
    if method == "shuffle":
        out = words[:]
        while out == words:
            rng.shuffle(out)
    elif method == "drop_and_typo":
        out = words[:]
        del out[rng.randrange(len(out))]
        out = _typo_words(out, rng)
    elif method == "stutter":
        # decoding loops repeat a fragment and lose the end of the sentence
        i = rng.randrange(1, len(words))
        out = words[:i] + words[max(0, i - 2) : i] + words[i : max(i + 1, len(words) - 1)]
    else:
        out = _typo_words(words, rng)
    garbled = " ".join(out)
    if garbled == question:
        garbled = question[::-1]
    return garbled


def _typo_words(words: list[str], rng: random.Random) -> list[str]:
    out = words[:]
    candidates = [i for i, w in enumerate(out) if len(w) >= 4]
    for i in rng.sample(candidates, k=min(2, len(candidates))):
        w = out[i]
        j = rng.randrange(len(w) - 1)
        if w[j] == w[j + 1]:
            out[i] = w[:j] + w[j + 2 :]
        else:
            out[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    if out == words and out:
        out[0] = out[0] + out[0][-1:]
    return out


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z]+", text.lower().replace("<image>", "")))
