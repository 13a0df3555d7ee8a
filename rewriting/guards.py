"""Faithfulness guards: a rewrite that changes what the text says keeps the original.

Each guard is switchable and returns a ``GuardResult`` (passed, and what differed), recorded
per turn. Word guards compare what both texts *say* in one category:

- colours: the CSS colour names (``webcolors``, the maintained list) plus their "-ish" forms;
- numbers: digits and number words, compared by value ("two" == "2");
- objects: words that can be nouns (``lemminflect``'s lexicon, so "cats" and "cat" match and
  verb forms such as "sitting" are not objects), compared by lemma; a rewrite may neither lose
  an object nor bring in a new one (words about the picture itself are allowed);
- spatial: relation words and phrases ("left of", "in front of", "behind", ...);
- negation: the number of negations ("not", "no", "n't", "never", "without", ...).

No library knows spatial relations or negation as a category, so those two are short word
lists here. The length guard bounds the word-count ratio; the similarity guard asks a sentence
encoder (all-MiniLM-L6-v2 offline) for the cosine of both texts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|\d+(?:[.,]\d+)*")


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


@lru_cache(maxsize=1)
def colour_names() -> frozenset[str]:
    import webcolors

    names = set(webcolors.names("css3"))
    names |= {"grey", "gray", "golden", "blonde", "blond", "pink", "purple", "brown"}
    names |= {n + "ish" for n in ("red", "blue", "green", "yellow", "brown", "grey", "gray")}
    names |= {"reddish", "greenish", "bluish", "pinkish", "purplish", "whitish", "blackish"}
    return frozenset(names)


_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen"]  # fmt: skip
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
             "ninth", "tenth"]  # fmt: skip
NUMBER_WORDS: dict[str, str] = {w: str(i) for i, w in enumerate(_UNITS)}
NUMBER_WORDS |= {w: str(20 + 10 * i) for i, w in enumerate(_TENS)}
NUMBER_WORDS |= {w: f"#{i + 1}" for i, w in enumerate(_ORDINALS)}
NUMBER_WORDS |= {"dozen": "12", "hundred": "100", "thousand": "1000", "twice": "x2",
                 "single": "1", "pair": "2", "couple": "2", "both": "2", "once": "x1"}  # fmt: skip

SPATIAL_PHRASES = (
    "in front of", "on top of", "next to", "close to", "far from", "in the middle of",
    "in the center of", "in the centre of", "at the top", "at the bottom", "to the left",
    "to the right", "on the left", "on the right",
)  # fmt: skip
SPATIAL_WORDS = frozenset({
    "left", "right", "above", "below", "under", "underneath", "beneath", "behind", "beside",
    "besides", "near", "nearby", "between", "among", "inside", "outside", "within", "atop",
    "over", "top", "bottom", "front", "back", "middle", "center", "centre", "corner", "edge",
    "around", "across", "along", "opposite", "upstairs", "downstairs", "foreground",
    "background", "upper", "lower", "adjacent",
})  # fmt: skip
NEGATIONS = frozenset({
    "not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "without", "cannot",
})  # fmt: skip
# words about the picture or the act of describing it: a rewrite may add these
META_OBJECTS = frozenset({
    "image", "picture", "photo", "photograph", "scene", "view", "shot", "frame", "snapshot",
    "depiction", "setting", "visual", "visuals", "thing", "things", "someone", "something",
})  # fmt: skip
_NOT_OBJECTS = frozenset({
    "lot", "lots", "kind", "sort", "type", "way", "one", "ones", "it", "its", "this", "that",
    "these", "those", "there", "here", "what", "which", "who", "whom", "whose",
})  # fmt: skip


def colour_terms(text: str) -> Counter[str]:
    names = colour_names()
    return Counter(w for w in words(text) if w in names)


def number_terms(text: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for w in words(text):
        if w[0].isdigit():
            out[w.replace(",", "")] += 1
        elif w in NUMBER_WORDS:
            out[NUMBER_WORDS[w]] += 1
    return out


def spatial_terms(text: str) -> Counter[str]:
    lowered = " ".join(words(text))
    out: Counter[str] = Counter()
    for phrase in SPATIAL_PHRASES:
        out[phrase] += len(re.findall(rf"\b{phrase}\b", lowered))
    # a single word counts once however many phrases contain it: "left" in "on the left"
    for w in lowered.split():
        if w in SPATIAL_WORDS:
            out[w] += 1
    return +out


def negation_count(text: str) -> int:
    return sum(1 for w in words(text) if w in NEGATIONS or w.endswith("n't"))


@lru_cache(maxsize=65536)
def _object_lemma(word: str) -> str | None:
    from lemminflect import getAllLemmas

    if len(word) < 3 or not word.isalpha() or word in _NOT_OBJECTS or word in NEGATIONS:
        return None
    if word in colour_names() or word in NUMBER_WORDS or word in SPATIAL_WORDS:
        return None
    lemmas = getAllLemmas(word)
    noun = lemmas.get("NOUN") or lemmas.get("PROPN")
    if not noun or "AUX" in lemmas:
        return None
    verb = lemmas.get("VERB")
    if verb and verb[0] != noun[0]:  # "sitting" -> sit: a verb form, not an object
        return None
    return noun[0]


@lru_cache(maxsize=65536)
def _any_lemmas(word: str) -> frozenset[str]:
    from lemminflect import getAllLemmas

    return frozenset({word} | {lemma for forms in getAllLemmas(word).values() for lemma in forms})


def object_terms(text: str) -> set[str]:
    return {lemma for w in words(text) if (lemma := _object_lemma(w)) is not None}


@dataclass(frozen=True)
class GuardResult:
    name: str
    passed: bool
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _counter_diff(original: Counter[str], rewrite: Counter[str]) -> dict[str, list[str]]:
    return {
        "missing": sorted((original - rewrite).elements()),
        "added": sorted((rewrite - original).elements()),
    }


def guard_colours(original: str, rewrite: str) -> GuardResult:
    diff = _counter_diff(
        +Counter(set(colour_terms(original))), +Counter(set(colour_terms(rewrite)))
    )
    return GuardResult("colours", not diff["missing"] and not diff["added"], diff)


def guard_numbers(original: str, rewrite: str) -> GuardResult:
    diff = _counter_diff(
        +Counter(set(number_terms(original))), +Counter(set(number_terms(rewrite)))
    )
    return GuardResult("numbers", not diff["missing"] and not diff["added"], diff)


def guard_spatial(original: str, rewrite: str) -> GuardResult:
    diff = _counter_diff(
        +Counter(set(spatial_terms(original))), +Counter(set(spatial_terms(rewrite)))
    )
    return GuardResult("spatial", not diff["missing"] and not diff["added"], diff)


def guard_negation(original: str, rewrite: str) -> GuardResult:
    a, b = negation_count(original), negation_count(rewrite)
    return GuardResult("negation", a == b, {"original": a, "rewrite": b})


def guard_objects(original: str, rewrite: str, *, max_added: int = 0) -> GuardResult:
    ours, theirs = object_terms(original), object_terms(rewrite)
    rewrite_lemmas = set().union(*(_any_lemmas(w) for w in words(rewrite))) if rewrite else set()
    original_lemmas = set().union(*(_any_lemmas(w) for w in words(original))) if original else set()
    missing = sorted(o for o in ours if o not in rewrite_lemmas and o not in META_OBJECTS)
    added = sorted(o for o in theirs if o not in original_lemmas and o not in META_OBJECTS)
    passed = not missing and len(added) <= max_added
    return GuardResult("objects", passed, {"missing": missing, "added": added})


def guard_length(
    original: str, rewrite: str, *, low: float, high: float, slack: int = 6
) -> GuardResult:
    """Word-count ratio in [low, high]; ``slack`` words are added to both counts so that a
    three-word answer may gain a short lead-in ("In this picture, ...")."""
    n_original, n_rewrite = len(words(original)), len(words(rewrite))
    ratio = (n_rewrite + slack) / (n_original + slack)
    return GuardResult(
        "length",
        low <= ratio <= high and n_rewrite > 0,
        {"ratio": round(ratio, 4), "words": [n_original, n_rewrite]},
    )


@dataclass(frozen=True)
class GuardSettings:
    colours: bool = True
    numbers: bool = True
    objects: bool = True
    spatial: bool = True
    negation: bool = True
    length: bool = True
    similarity: bool = True
    length_low: float = 0.5
    length_high: float = 1.6
    length_slack: int = 6
    min_similarity: float = 0.8
    max_added_objects: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.length_low <= 1 <= self.length_high:
            raise ValueError("length bounds must satisfy 0 < low <= 1 <= high")
        if not -1.0 <= self.min_similarity <= 1.0:
            raise ValueError("min_similarity is a cosine, in [-1, 1]")
        if self.max_added_objects < 0 or self.length_slack < 0:
            raise ValueError("max_added_objects and length_slack must be >= 0")

    def enabled(self) -> list[str]:
        names = ("colours", "numbers", "objects", "spatial", "negation", "length", "similarity")
        return [n for n in names if getattr(self, n)]


EMBED_BATCH = 32
Embed = Callable[[Sequence[str]], Any]  # texts -> (n, d) L2-normalised tensor


def guards_check(
    originals: Sequence[str],
    rewrites: Sequence[str],
    settings: GuardSettings,
    *,
    embed: Embed | None = None,
) -> list[list[GuardResult]]:
    """Every enabled guard on each (original, rewrite); the similarity guard is batched."""
    if len(originals) != len(rewrites):
        raise ValueError("originals and rewrites differ in length")
    if settings.similarity and embed is None:
        raise ValueError("the similarity guard needs a sentence encoder (embed=...)")
    out: list[list[GuardResult]] = []
    for original, rewrite in zip(originals, rewrites, strict=True):
        row: list[GuardResult] = []
        if settings.colours:
            row.append(guard_colours(original, rewrite))
        if settings.numbers:
            row.append(guard_numbers(original, rewrite))
        if settings.objects:
            row.append(guard_objects(original, rewrite, max_added=settings.max_added_objects))
        if settings.spatial:
            row.append(guard_spatial(original, rewrite))
        if settings.negation:
            row.append(guard_negation(original, rewrite))
        if settings.length:
            row.append(guard_length(original, rewrite, low=settings.length_low,
                                    high=settings.length_high,
                                    slack=settings.length_slack))  # fmt: skip
        out.append(row)
    if settings.similarity and originals:
        assert embed is not None
        cosines: list[float] = []
        for start in range(0, len(originals), EMBED_BATCH):  # short batches pad little
            a = embed(list(originals[start : start + EMBED_BATCH]))
            b = embed(list(rewrites[start : start + EMBED_BATCH]))
            cosines += (a * b).sum(-1).tolist()
        for row, cosine in zip(out, cosines, strict=True):
            row.append(GuardResult("similarity", cosine >= settings.min_similarity,
                                   {"cosine": round(float(cosine), 4)}))  # fmt: skip
    return out
