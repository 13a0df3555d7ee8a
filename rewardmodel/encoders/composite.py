"""Composite encoders: one embedding per (question, answer) turn, and images with colour stats.

A whole conversation embedded as one mean-pooled sentence vector cannot tell a wrong answer
from a right one or an answer from an answer to another question: the defect is a few tokens
among many, and relevance between question and answer is never computed. The turn encoder
embeds question and answer separately and exposes their interaction and a few generic
well-formedness statistics; the image encoder adds a colour histogram beside the CNN features,
since ImageNet-pooled features carry colour only weakly and colour is what many answers state.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from rewardmodel.colour_terms import (
    N_TERMS,
    N_TEXT_COLUMNS,
    colour_term_mentions,
    colour_term_shares,
)
from rewardmodel.encoders.base import Encoder, l2_normalise
from rewardmodel.encoders.images import ImageInput, image_open

TURN_SEPARATOR = "\x1f"  # ASCII unit separator: never part of ordinary question/answer text
_TERMINAL = (".", "!", "?", '"', "'", ")", "”")
_WORD = re.compile(r"[A-Za-z]+")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")
N_TURN_STATS = 10


def turn_text(question: str, answer: str) -> str:
    """The single string a ``TurnTextEncoder`` reads (and the cache keys) for one turn."""
    question = question.replace("<image>", "").strip()
    return f"{question}{TURN_SEPARATOR}{answer.strip()}"


def split_turn_text(text: str) -> tuple[str, str]:
    """Inverse of ``turn_text``; a string without a separator is an answer with no question."""
    question, sep, answer = text.partition(TURN_SEPARATOR)
    return (question, answer) if sep else ("", text)


def last_sentence(answer: str) -> str:
    """The answer's final sentence (the whole answer when it has one sentence)."""
    parts = [p for p in _SENTENCE_BREAK.split(answer.strip()) if p]
    return parts[-1] if parts else answer


def _repeated_bigram_rate(words: list[str]) -> float:
    # decoding loops repeat fragments: the share of bigrams already seen earlier in the text
    bigrams = list(zip(words, words[1:], strict=False))
    if not bigrams:
        return 0.0
    return 1.0 - len(set(bigrams)) / len(bigrams)


def _split_word_rate(words: list[str], tokenizer: Any) -> float:
    # misspelt or mangled words fall apart into several word pieces; dictionary words do not
    if not words or tokenizer is None:
        return 0.0
    split = sum(len(tokenizer.tokenize(w.lower())) > 1 for w in words)
    return split / len(words)


def turn_statistics(question: str, answer: str, tokenizer: Any = None) -> list[float]:
    """Generic well-formedness signals of a turn, each roughly in [0, 1].

    They describe any instruction data (a cut-off generation stops without final punctuation,
    a garbled prompt repeats fragments or has split words) and read nothing task-specific.
    """
    q, a = question.strip(), answer.strip()
    q_words, a_words = _WORD.findall(q), _WORD.findall(a)
    return [
        float(a.endswith(_TERMINAL)),
        float(q.endswith(_TERMINAL)),
        float(bool(q) and q[0].isupper()),
        float(bool(a) and a[0].isupper()),
        _repeated_bigram_rate([w.lower() for w in q_words]),
        _repeated_bigram_rate([w.lower() for w in a_words]),
        _split_word_rate(q_words, tokenizer),
        _split_word_rate(a_words, tokenizer),
        math.log1p(len(q_words)) / 5.0,
        math.log1p(len(a_words)) / 5.0,
    ]


class TurnTextEncoder:
    """Embeds ``turn_text(question, answer)`` as
    ``[e_q, e_a, e_q * e_a, cos(e_q, e_a), e_last, cos(e_q, e_last), stats]``.

    ``e_q``/``e_a`` come from ``base`` (any text encoder with ``prepare``/``forward``, e.g.
    all-MiniLM-L6-v2). The elementwise product and the cosine let a head judge whether the
    answer addresses the question (an off-topic answer embeds far from its question).
    ``e_last`` (with ``last_sentence``) embeds the answer's last sentence on its own: a
    generator that drifts (an invented extra object, a sentence cut off) does so at the end,
    and in the mean-pooled embedding of a long answer that sentence is diluted; its cosine
    with the question says whether the ending still addresses the question. The statistics
    are ``turn_statistics``. The row is L2-normalised like every encoder output; with
    ``colour_terms`` the answer's colour-term flags (``colour_terms.colour_term_mentions``)
    follow it unnormalised, for a head that compares them with the image's.
    """

    def __init__(
        self,
        base: Encoder,
        *,
        stats_weight: float = 1.0,
        last_sentence: bool = True,
        colour_terms: bool = False,
    ) -> None:
        self.base = base
        self.stats_weight = float(stats_weight)
        self.last_sentence = last_sentence
        self.colour_terms = colour_terms
        extra = int(base.dim) + 1 if last_sentence else 0
        self.dim = 3 * int(base.dim) + 1 + extra + N_TURN_STATS
        version = "v2" if last_sentence else "v1"  # v1: the layout without the last sentence
        self.encoder_id = f"turn:{version}:{base.encoder_id}:stats{self.stats_weight:g}"
        # where e_a sits in the row (what an image-text alignment should read)
        self.answer_columns = (int(base.dim), 2 * int(base.dim))
        # the colour-term flags (``colour_terms.colour_term_mentions``) close the row, where
        # the item trainer looks for them
        if colour_terms:
            self.dim += N_TEXT_COLUMNS
            self.encoder_id += ":colourterms1"
        self._tokenizer = getattr(base, "tokenizer", None)

    def prepare(self, batch: Sequence[str]) -> tuple[Any, Any, Any, torch.Tensor, Any]:
        pairs = [split_turn_text(text) for text in batch]
        terms = None
        if self.colour_terms:
            terms = torch.tensor(
                [colour_term_mentions(a) for _, a in pairs], dtype=torch.float32
            ).reshape(len(pairs), N_TEXT_COLUMNS)
        questions = [q or "(no question)" for q, _ in pairs]
        answers = [a or "(no answer)" for _, a in pairs]
        endings = [last_sentence(a) for a in answers]
        # The statistics use the base encoder's tokenizer, which is not safe to share between
        # the featurize threads: hold the base's lock for all of it.
        with getattr(self.base, "lock", contextlib.nullcontext()):
            stats = torch.tensor(
                [turn_statistics(q, a, self._tokenizer) for q, a in pairs], dtype=torch.float32
            ).reshape(len(pairs), N_TURN_STATS)
            ends = self.base.prepare(endings) if self.last_sentence else None
            return self.base.prepare(questions), self.base.prepare(answers), ends, stats, terms

    @torch.inference_mode()
    def forward(self, prepared: tuple[Any, Any, Any, torch.Tensor, Any]) -> torch.Tensor:
        questions, answers, endings, stats, terms = prepared
        e_q = l2_normalise(self.base.forward(questions))
        e_a = l2_normalise(self.base.forward(answers))
        cosine = (e_q * e_a).sum(dim=1, keepdim=True)
        # the product of two unit vectors has norm ~1/sqrt(dim); rescale it to the others'
        product = e_q * e_a * math.sqrt(e_q.shape[1])
        blocks = [e_q, e_a, product, cosine]
        if endings is not None:
            e_last = l2_normalise(self.base.forward(endings))
            blocks += [e_last, (e_q * e_last).sum(dim=1, keepdim=True)]
        block_scale = self.stats_weight / math.sqrt(N_TURN_STATS)
        row = l2_normalise(torch.cat([*blocks, stats * block_scale], dim=1))
        # flags appended after the normalisation: the head reads them as they are
        return row if terms is None else torch.cat([row, terms], dim=1)

    def encode(self, batch: Sequence[str]) -> torch.Tensor:
        if len(batch) == 0:
            return torch.zeros((0, self.dim), dtype=torch.float32)
        return self.forward(self.prepare(batch))


def colour_histogram(image: Image.Image, bins: int = 4, size: int = 64) -> np.ndarray:
    """Square-rooted joint RGB histogram (``bins ** 3`` values, unit L2 norm).

    The square root (Hellinger embedding) lifts small regions, e.g. a small object on a large
    background, so they still register beside the dominant colour.
    """
    small = np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BOX))
    levels = np.minimum((small.astype(np.int32) * bins) // 256, bins - 1)
    index = (levels[..., 0] * bins + levels[..., 1]) * bins + levels[..., 2]
    counts = np.bincount(index.ravel(), minlength=bins**3).astype(np.float32)
    return np.sqrt(counts / counts.sum())


class ImageWithColourEncoder:
    """``base`` image features concatenated with a colour histogram, as equal-norm blocks.

    Generic (any image has a colour distribution); ``base`` may be ``None`` for colour only.
    With ``colour_terms`` the share of pixels nearest each colour term
    (``colour_terms.colour_term_shares``) follows the normalised row as it is.
    """

    def __init__(
        self,
        base: Encoder | None,
        *,
        bins: int = 4,
        colour_weight: float = 1.0,
        colour_terms: bool = False,
    ) -> None:
        if bins < 2:
            raise ValueError(f"bins must be >= 2, got {bins}")
        self.base = base
        self.bins = bins
        self.colour_weight = float(colour_weight)
        self.colour_terms = colour_terms
        self.dim = (int(base.dim) if base is not None else 0) + bins**3
        base_id = base.encoder_id if base is not None else "none"
        self.encoder_id = f"image:{base_id}+rgbhist{bins}w{self.colour_weight:g}:v1"
        # where the histogram sits in the row (what an image-text alignment should read)
        self.colour_columns = (self.dim - bins**3, self.dim)
        # the colour-term shares (``colour_terms.colour_term_shares``) close the row, where
        # the item trainer looks for them
        if colour_terms:
            self.dim += N_TERMS
            self.encoder_id += ":colourterms1"

    def prepare(self, batch: Sequence[ImageInput]) -> tuple[Any, torch.Tensor, Any]:
        images = [image_open(x) for x in batch]
        hist = torch.from_numpy(np.stack([colour_histogram(im, self.bins) for im in images]))
        terms = None
        if self.colour_terms:
            terms = torch.from_numpy(np.stack([colour_term_shares(im) for im in images]))
        return (self.base.prepare(images) if self.base is not None else None), hist, terms

    @torch.inference_mode()
    def forward(self, prepared: tuple[Any, torch.Tensor, Any]) -> torch.Tensor:
        pixels, hist, terms = prepared
        blocks = [hist * self.colour_weight]
        if self.base is not None:
            blocks.insert(0, l2_normalise(self.base.forward(pixels)))
        row = l2_normalise(torch.cat(blocks, dim=1))
        # shares appended after the normalisation: the head reads them as they are
        return row if terms is None else torch.cat([row, terms], dim=1)

    def encode(self, batch: Sequence[ImageInput]) -> torch.Tensor:
        if len(batch) == 0:
            return torch.zeros((0, self.dim), dtype=torch.float32)
        return self.forward(self.prepare(batch))
