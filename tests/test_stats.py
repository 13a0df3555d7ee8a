"""The chance bound used by the learning tests."""

from __future__ import annotations

import pytest

from tests.stats import binomial_tail, chance_bound


def test_chance_bound_is_the_one_sided_binomial_quantile() -> None:
    bound = chance_bound(90)
    # 0.56 on 90 items (the old demo-learning bar was 0.52) is well within chance
    assert 0.56 < bound < 0.7
    above = round(bound * 90) + 1
    assert binomial_tail(90, above) < 1e-3 <= binomial_tail(90, above - 1)
    assert chance_bound(1000) < chance_bound(100) < chance_bound(20)
    assert chance_bound(50, p=0.8) > chance_bound(50)  # a high base rate is easier to reach
    with pytest.raises(ValueError, match="too few"):
        chance_bound(5)
