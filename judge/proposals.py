"""A helper causal LM proposes a rule's preconditions and central object words for a human to
accept (CLUE's precondition extraction): a versioned few-shot prompt, greedy generation and a
strict parser. Whatever the model writes, the answer is a ``ProposalResult``: a proposal within
the engine's bounds, or none with the reason; never an exception from the model's text.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

PROMPT_VERSION = "preconditions-v1"

# Tighter than what the constitution accepts (32 x 16 alternatives of 500 characters, 32 words
# of 100): a proposal longer than this is a model repeating itself, not a rule's checks.
MAX_PRECONDITIONS = 6
MAX_ALTERNATIVES = 8
MAX_ALTERNATIVE_CHARS = 160
MAX_ALTERNATIVE_WORDS = 16
MAX_OBJECTS = 8
MAX_OBJECT_CHARS = 40
MAX_RULE_CHARS = 1000
MAX_RAW_CHARS = 2000

SYSTEM = (
    "You turn safety rules into visual checks for an image judge. Each precondition is "
    "something that must be visible in the image for the rule to be violated; alternatives "
    "that each satisfy it are separated by |. Central objects are short nouns a detector can "
    "find in the image."
)

# (rule, objectified check, preconditions, central objects): how a rule is taken apart
EXAMPLES: tuple[tuple[str, str, tuple[tuple[str, ...], ...], tuple[str, ...]], ...] = (
    (
        "No weapon may be pointed at a person.",
        "A weapon pointed at a person is visible.",
        (("a gun", "a knife", "a rifle"), ("a person",), ("the weapon is aimed at the person",)),
        ("gun", "knife", "rifle"),
    ),
    (
        "Images must not show people drinking alcohol.",
        "A person drinking alcohol is visible.",
        (
            ("a person",),
            ("a beer", "a glass of wine", "a bottle of liquor"),
            ("the person is drinking from it",),
        ),  # fmt: skip
        ("beer", "wine glass", "bottle"),
    ),
    (
        "No visible blood or open wounds.",
        "Blood or an open wound is visible.",
        (("blood", "an open wound", "a bleeding injury"),),
        ("blood", "wound"),
    ),
)

_HEADER = "Preconditions:"
_OBJECTS = "Central objects:"
_END = "END"


@dataclass(frozen=True)
class Proposal:
    """An AND-chain of preconditions (each an OR of alternatives) and central object words, in
    the shape the constitution stores."""

    preconditions: tuple[tuple[str, ...], ...]
    central_objects: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "preconditions": [list(p) for p in self.preconditions],
            "central_objects": list(self.central_objects),
        }


@dataclass(frozen=True)
class ProposalResult:
    """``proposal`` is ``None`` when the text held no usable one; ``reason`` then says why."""

    proposal: Proposal | None
    reason: str
    raw: str
    llm: str
    prompt_version: str = PROMPT_VERSION
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "proposal": self.proposal.to_json() if self.proposal else None,
            "reason": self.reason,
            "raw": self.raw[:MAX_RAW_CHARS],
            "llm": self.llm,
            "prompt_version": self.prompt_version,
            "seconds": round(self.seconds, 3),
            **self.extra,
        }


def _one_line(text: str, limit: int) -> str:
    """Untrusted rule text on one line: no line breaks to fake a block, bounded."""
    flat = " ".join(str(text).split())
    return flat[:limit]


def _block(preconditions: Sequence[Sequence[str]], objects: Sequence[str]) -> str:
    lines = [_HEADER, *(f"- {' | '.join(p)}" for p in preconditions)]
    lines.append(f"{_OBJECTS} {', '.join(objects) if objects else 'none'}")
    lines.append(_END)
    return "\n".join(lines)


def _rule_lines(text: str, objectified: str) -> str:
    lines = [f"Rule: {_one_line(text, MAX_RULE_CHARS)}"]
    if objectified.strip():
        lines.append(f"Check: {_one_line(objectified, MAX_RULE_CHARS)}")
    return "\n".join(lines)


def proposal_messages(text: str, objectified: str = "") -> tuple[str, str]:
    """(system, user) of the versioned prompt: the examples, then the rule to take apart."""
    shots = "\n\n".join(
        f"{_rule_lines(rule, check)}\n{_block(pre, objects)}"
        for rule, check, pre, objects in EXAMPLES
    )
    user = (
        "Write the preconditions and central objects of the last rule, in exactly the format "
        f"of the examples, and end with {_END}.\n\n{shots}\n\n{_rule_lines(text, objectified)}"
    )
    return SYSTEM, user


# -- parsing ------------------------------------------------------------------------------------

_ALTERNATIVE = re.compile(r"^[\w][\w '\-,.;:/&()]*$")
_WORD = re.compile(r"^[^\W\d_][\w '\-]*$")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d{1,2}[.)])\s*(.*)$")


class _Unusable(ValueError):
    pass


def _clean(value: str, limit: int, pattern: re.Pattern[str], what: str) -> str:
    value = unicodedata.normalize("NFKC", value).strip().strip("\"'`").strip()
    value = value.rstrip(".;:").strip()
    if not value:
        raise _Unusable(f"an empty {what}")
    if len(value) > limit:
        raise _Unusable(f"a {what} longer than {limit} characters")
    if not pattern.match(value) or not any(c.isalpha() for c in value):
        raise _Unusable(f"a {what} with characters a check does not need: {value[:60]!r}")
    return value


def _unique(values: Sequence[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out = []
    for v in values:
        if v.lower() not in seen:
            seen.add(v.lower())
            out.append(v)
    return tuple(out)


def proposal_parse(text: str) -> tuple[Proposal | None, str]:
    """The proposal in a model's text, strictly: a "Preconditions:" line, one bullet per
    precondition (alternatives separated by |), then a "Central objects:" line (comma-separated
    words or "none"). Anything else before the objects line, a bound exceeded, or a word that
    is not plain text means no proposal; the reason says which. Text after the objects line
    (END, another rule the model went on to invent) is ignored."""
    try:
        return _parse(str(text)), ""
    except _Unusable as exc:
        return None, str(exc)


def _parse(text: str) -> Proposal:
    if "\x00" in text:
        raise _Unusable("the text holds a NUL character")
    lines = text[: MAX_RAW_CHARS * 4].splitlines()
    start = next(
        (i for i, line in enumerate(lines) if line.strip().lower() == _HEADER.lower()), None
    )
    if start is None:
        raise _Unusable(f"no {_HEADER!r} line")
    chain: list[tuple[str, ...]] = []
    objects: tuple[str, ...] | None = None
    for line in lines[start + 1 :]:
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.lower().startswith(_OBJECTS.lower()):
            objects = _objects(stripped[len(_OBJECTS) :])
            break
        bullet = _BULLET.match(stripped)
        if bullet is None:
            raise _Unusable(f"an unexpected line among the preconditions: {stripped[:60]!r}")
        parts = [p for p in bullet.group(1).split("|") if p.strip()]
        if not parts:
            raise _Unusable("an empty precondition")
        if len(parts) > MAX_ALTERNATIVES:
            raise _Unusable(f"a precondition with more than {MAX_ALTERNATIVES} alternatives")
        if any(len(p.split()) > MAX_ALTERNATIVE_WORDS for p in parts):
            raise _Unusable(f"a precondition longer than {MAX_ALTERNATIVE_WORDS} words")
        alternatives = _unique(
            [_clean(p, MAX_ALTERNATIVE_CHARS, _ALTERNATIVE, "precondition") for p in parts]
        )
        chain.append(alternatives)
        if len(chain) > MAX_PRECONDITIONS:
            raise _Unusable(f"more than {MAX_PRECONDITIONS} preconditions")
    if not chain:
        raise _Unusable("no precondition")
    if objects is None:
        raise _Unusable(f"no {_OBJECTS!r} line after the preconditions")
    if len({tuple(a.lower() for a in p) for p in chain}) < len(chain):
        raise _Unusable("a precondition repeated")
    return Proposal(preconditions=tuple(chain), central_objects=objects)


def _objects(text: str) -> tuple[str, ...]:
    text = text.strip()
    if text.lower().rstrip(".") in {"none", "-", ""}:
        return ()
    words = [w for w in text.split(",") if w.strip()]
    if len(words) > MAX_OBJECTS:
        raise _Unusable(f"more than {MAX_OBJECTS} central objects")
    return _unique([_clean(w, MAX_OBJECT_CHARS, _WORD, "central object") for w in words])


# -- the model ----------------------------------------------------------------------------------


class HelperLM:
    """Any ``transformers`` causal LM by local path (or a hub name in the local cache), loaded
    as the rewriter loads its LM (``rewardmodel.causal_lm``)."""

    def __init__(
        self,
        name_or_path: str,
        *,
        device: str | None = None,
        loaded: tuple[Any, Any] | None = None,
        name: str | None = None,
    ) -> None:
        """``loaded``: an already built (model, tokenizer). Loading is offline only; a model
        that can't be loaded raises ValueError."""
        from rewardmodel.causal_lm import causal_lm_load, causal_lm_wrap

        name = name or str(name_or_path)
        if loaded is not None:
            self.lm = causal_lm_wrap(*loaded, name=name, device=device)
        else:
            self.lm = causal_lm_load(name_or_path, device=device, name=name)
        self.name, self.model, self.tokenizer = name, self.lm.model, self.lm.tokenizer
        self.device = self.lm.device

    def prompt(self, system: str, user: str) -> str:
        """The text up to the assistant's answer."""
        from rewardmodel.causal_lm import chat_prompt

        return chat_prompt(self.lm, system, user)

    def generate(
        self,
        prompt: str,
        *,
        max_new_tokens: int,
        max_prompt_tokens: int,
        stop: Sequence[str],
        stop_when: Any = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> tuple[str, bool]:
        """Greedy continuation of ``prompt``, ended by any of ``stop``, by ``stop_when(text)``
        returning true for the text so far, by ``should_stop()`` (the caller wants no more: a
        cancelled job) or by the end of text: (text, ended). ``ended`` is false when the token
        limit cut the model off."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        tok = self.tokenizer
        tok.truncation_side = "left"  # the rule to take apart is at the end: keep it
        positions = getattr(self.model.config, "max_position_embeddings", None) or 1 << 20
        encoded = tok(
            prompt,
            return_tensors="pt",
            truncation=True,
            max_length=max(1, min(max_prompt_tokens, positions - max_new_tokens)),
            add_special_tokens=False,
            return_token_type_ids=False,  # some tokenizers add them; generate() refuses them
        ).to(self.device)
        width = encoded["input_ids"].shape[1]

        class _When(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                so_far = tok.decode(input_ids[0, width:], skip_special_tokens=True)
                done = (
                    (should_stop is not None and should_stop())
                    or _stop_at(so_far, stop) is not None
                    or (stop_when is not None and stop_when(so_far))
                )
                return torch.full((input_ids.shape[0],), bool(done), device=input_ids.device)

        with torch.inference_mode():
            out = self.model.generate(
                **encoded,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                pad_token_id=tok.pad_token_id,
                stopping_criteria=StoppingCriteriaList([_When()]),
            )
        new = out[0, width:]
        text = tok.decode(new, skip_special_tokens=True)
        if (end := _stop_at(text, stop)) is not None:
            text = text[:end]  # a token may run past the stop string: end right after it
        cut_off = len(new) >= max_new_tokens and not any(text.endswith(s) for s in stop)
        if cut_off and stop_when is not None:
            cut_off = not stop_when(text)
        return text, not cut_off


def _stop_at(text: str, stop: Sequence[str]) -> int | None:
    """Where ``text`` ends if cut right after its first stop string; None if it holds none.
    (Checked here on the decoded text, not by transformers' stop strings, which need to map
    every token of the vocabulary to text and fail on some tokenizers.)"""
    ends = [text.index(s) + len(s) for s in stop if s and s in text]
    return min(ends) if ends else None


def _repeats(text: str) -> bool:
    """A finished bullet line that repeats an earlier one, or more bullets than allowed: a small
    model looping, which would only run on to the token limit."""
    lines = [line.strip().lower() for line in text.split("\n")[:-1] if line.strip()]
    return len(set(lines)) < len(lines) or len(lines) > MAX_PRECONDITIONS


def _cut_repeats(text: str) -> str:
    """The bullets up to the first one repeated (the loop is dropped, the rest kept)."""
    seen: set[str] = set()
    kept = []
    for line in text.split("\n"):
        key = line.strip().lower()
        if key and key in seen and not key.startswith(_OBJECTS.lower()):
            break
        seen.add(key)
        kept.append(line)
    return "\n".join(kept).rstrip()


def preconditions_propose(
    lm: HelperLM,
    *,
    text: str,
    objectified: str = "",
    max_new_tokens: int = 96,
    max_prompt_tokens: int = 2048,
    should_stop: Callable[[], bool] | None = None,
) -> ProposalResult:
    """Ask ``lm`` for the rule's preconditions and central objects; parse strictly. A rule
    without text, or a model whose text holds no usable proposal, gives ``proposal=None``.
    ``should_stop()`` is asked after every generated token: once it says true, generation ends
    and ``ProposalStopped`` is raised (nobody waits for the proposal any more)."""
    if not str(text).strip() and not str(objectified).strip():
        return ProposalResult(None, "the rule has no text", "", lm.name)
    began = time.monotonic()
    try:
        raw = _write(lm, text, objectified, max_new_tokens, max_prompt_tokens, should_stop)
    except (RuntimeError, ValueError, IndexError) as exc:  # a model that cannot run this prompt
        reason = f"the model failed: {str(exc)[:200]}"
        return ProposalResult(None, reason, "", lm.name, seconds=time.monotonic() - began)
    if should_stop is not None and should_stop():
        raise ProposalStopped()
    proposal, reason = proposal_parse(raw)
    if proposal is None and raw.endswith("\0cut"):
        raw, reason = raw[:-4], _cut_reason(max_new_tokens)
    return ProposalResult(proposal, reason, raw, lm.name, seconds=time.monotonic() - began)


class ProposalStopped(Exception):
    """The caller's ``should_stop`` ended the proposal before it was written."""


def _cut_reason(max_new_tokens: int) -> str:
    return f"the model wrote no finished precondition in {max_new_tokens} tokens"


def _write(lm: HelperLM, text: str, objectified: str, max_new_tokens: int,
           max_prompt_tokens: int, should_stop: Callable[[], bool] | None) -> str:  # fmt: skip
    """The model's block, its structure guided."""
    # Guided: the program writes the block's structure and the model fills it in: first the
    # bullets (stopped when the model loops), then, if it did not write it, the objects line.
    # The parser below stays strict about what the model wrote.
    head = f"{lm.prompt(*proposal_messages(text, objectified))}{_HEADER}\n-"
    budget = {"max_prompt_tokens": max_prompt_tokens, "should_stop": should_stop}
    bullets, ended = lm.generate(
        head,
        max_new_tokens=max_new_tokens,
        stop=[_OBJECTS, _END, "\n\n"],
        stop_when=lambda so_far: _repeats("-" + so_far),
        **budget,
    )
    if not ended:
        # cut off mid-line by the token limit: the unfinished line is not the model's answer
        finished = bullets.rsplit("\n", 1)[0] if "\n" in bullets else ""
        if not finished:
            return f"{_HEADER}\n-{bullets}\0cut"  # marked: the parser refuses a NUL
        bullets = finished
    body = _cut_repeats("-" + bullets)
    while body.rstrip().upper().endswith("\n" + _END):
        body = body.rstrip()[: -len(_END)].rstrip()
    if _OBJECTS.lower() not in body.lower():
        body = body.rstrip() + f"\n{_OBJECTS}"
        words, _ = lm.generate(
            f"{head}{body[1:]}", max_new_tokens=max(8, max_new_tokens // 4), stop=["\n"], **budget
        )
        body += words.split("\n")[0]
    return f"{_HEADER}\n{body}"
