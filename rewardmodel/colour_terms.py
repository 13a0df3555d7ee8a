"""Colour-term grounding: which colours an answer names, and how much of the image has them.

Answers state colours all the time ("a red bus", "the shape is teal"), and a colour that the
image does not show is one of the commonest ways a generated answer contradicts its image.
Pooled image and sentence embeddings carry colour only weakly and their product has to learn
every colour pairing from annotated data; naming the colours on both sides makes the check one
comparison. The text side (``colour_term_mentions``) marks each colour term the answer names and
whether it negates; the image side (``colour_term_shares``) gives the share of pixels nearest to
each term's prototype. ``colour_grounding`` turns the two into a few numbers per (image, turn),
computed inside the reward head from its input columns, so cached features of each side stay
independent of the other.
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch
from PIL import Image

# The eleven basic colour terms plus teal, each with an sRGB prototype; a pixel counts towards
# the nearest prototype.
COLOUR_TERMS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "gray": (128, 128, 128),
    "red": (220, 30, 30),
    "green": (40, 160, 50),
    "blue": (40, 70, 220),
    "yellow": (245, 220, 40),
    "orange": (245, 140, 30),
    "brown": (140, 85, 40),
    "purple": (130, 50, 160),
    "pink": (245, 170, 190),
    "teal": (0, 128, 128),
}
_SYNONYMS = {"grey": "gray", "violet": "purple", "turquoise": "teal"}
N_TERMS = len(COLOUR_TERMS)
# text columns: one mention flag per term, then the negation flag
N_TEXT_COLUMNS = N_TERMS + 1
N_GROUNDING = 5  # what ``colour_grounding`` returns per row
_PROTOTYPES = np.asarray(list(COLOUR_TERMS.values()), dtype=np.float32)
_INDEX = {name: n for n, name in enumerate(COLOUR_TERMS)}
_WORD = re.compile(r"[a-z]+")
_NEGATION = re.compile(r"\b(?:no|not|none|neither|nor|never|nothing)\b|n't\b")
_SHARE_FLOOR = 1e-3
_LOG_SCALE = -math.log(_SHARE_FLOOR)  # maps log(share) from [log 1e-3, 0] to [-1, 0]


def colour_term_shares(image: Image.Image, size: int = 48) -> np.ndarray:
    """Share of the image's pixels nearest to each term's prototype (``N_TERMS`` values, sum 1)."""
    pixels = np.asarray(
        image.convert("RGB").resize((size, size), Image.Resampling.BOX), dtype=np.float32
    ).reshape(-1, 3)
    distance = ((pixels[:, None, :] - _PROTOTYPES[None]) ** 2).sum(-1)
    counts = np.bincount(distance.argmin(1), minlength=N_TERMS).astype(np.float32)
    return counts / counts.sum()


def colour_term_mentions(answer: str) -> list[float]:
    """One flag per colour term the answer names, then 1.0 if the answer negates anything."""
    text = answer.lower()
    flags = [0.0] * N_TEXT_COLUMNS
    for word in _WORD.findall(text):
        index = _INDEX.get(_SYNONYMS.get(word, word))
        if index is not None:
            flags[index] = 1.0
    flags[N_TERMS] = float(bool(_NEGATION.search(text)))
    return flags


def colour_grounding(mentions: torch.Tensor, shares: torch.Tensor) -> torch.Tensor:
    """Per row: [names a colour, least and most present named colour (log share, in [-1, 0]),
    negates, negates x least present]; zeros where there is no image or no colour named.

    ``mentions``: (N, ``N_TEXT_COLUMNS``) from ``colour_term_mentions``; ``shares``: (N,
    ``N_TERMS``) from ``colour_term_shares``, all zero for a row without an image.
    """
    named = mentions[:, :N_TERMS] > 0.5
    negates = (mentions[:, N_TERMS] > 0.5).to(shares.dtype)
    has_image = shares.sum(dim=1) > 0.5
    logs = torch.log(shares.clamp_min(0.0) + _SHARE_FLOOR) / _LOG_SCALE
    any_named = named.any(dim=1) & has_image
    least = torch.where(named, logs, torch.ones_like(logs)).amin(dim=1)
    most = torch.where(named, logs, -torch.ones_like(logs)).amax(dim=1)
    zero = torch.zeros_like(least)
    least, most = torch.where(any_named, least, zero), torch.where(any_named, most, zero)
    flag = any_named.to(shares.dtype)
    return torch.stack([flag, least, most, negates, negates * least], dim=1)
