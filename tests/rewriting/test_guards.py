import pytest

from rewriting.guards import (
    GuardSettings,
    colour_terms,
    guards_check,
    number_terms,
    object_terms,
    spatial_terms,
)

ORIGINAL = "Two red cats sit on the left of a wooden table, and there is no dog in the room."
FAITHFUL = "On the left of a wooden table sit 2 red cats; the room has no dog in it."


def failed(original: str, rewrite: str, **settings) -> list[str]:
    settings.setdefault("similarity", False)
    (row,) = guards_check([original], [rewrite], GuardSettings(**settings))
    return [g.name for g in row if not g.passed]


def test_word_categories():
    assert set(colour_terms("A crimson and navy kite, a reddish sky")) == {
        "crimson",
        "navy",
        "reddish",
    }
    assert number_terms("two cats, 2 dogs and the third bird") == {"2": 2, "#3": 1}
    assert {"left", "in front of", "behind"} <= set(
        spatial_terms("left cup in front of a box behind")
    )
    assert object_terms("The cats are sitting on wooden tables") == {"cat", "table"}


def test_a_faithful_rewrite_passes_every_word_guard():
    assert failed(ORIGINAL, FAITHFUL) == []


@pytest.mark.parametrize(
    ("rewrite", "guard"),
    [
        (FAITHFUL.replace("red", "blue"), "colours"),
        (FAITHFUL.replace("2", "3"), "numbers"),
        (FAITHFUL.replace("cats", "rabbits"), "objects"),
        (FAITHFUL.replace("left", "right"), "spatial"),
        (FAITHFUL.replace("has no dog", "has a dog"), "negation"),
        (FAITHFUL + " A lamp stands in the corner.", "objects"),
        ("Cats.", "length"),
    ],
)
def test_each_planted_error_is_caught_by_its_guard(rewrite, guard):
    assert guard in failed(ORIGINAL, rewrite)


def test_guards_are_switchable_and_recorded():
    rewrite = FAITHFUL.replace("red", "blue")
    assert failed(ORIGINAL, rewrite, colours=False) == []
    (row,) = guards_check([ORIGINAL], [rewrite], GuardSettings(similarity=False))
    colours = next(g for g in row if g.name == "colours")
    assert colours.details == {"missing": ["red"], "added": ["blue"]}
    assert [g.name for g in row] == GuardSettings(similarity=False).enabled()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        GuardSettings(length_low=1.5)
    with pytest.raises(ValueError):
        guards_check(["a"], ["b"], GuardSettings())  # similarity without an encoder


def test_similarity_with_minilm():
    from rewardmodel.encoders.text import default_text_encoder

    encoder = default_text_encoder("cpu")
    settings = GuardSettings(min_similarity=0.7)
    rows = guards_check(
        [ORIGINAL, ORIGINAL],
        [FAITHFUL, "Stock prices fell sharply after the quarterly earnings call."],
        settings, embed=encoder.encode,
    )  # fmt: skip
    sims = [next(g for g in row if g.name == "similarity") for row in rows]
    assert sims[0].passed and sims[0].details["cosine"] > 0.8
    assert not sims[1].passed and sims[1].details["cosine"] < 0.3
