"""How well chance can do: the bar a learning test's accuracy must clear.

A model that learned nothing gets each held-out pair right with probability ``p`` (0.5 for a
pair; the base rate for a yes/no read-out), so its number of hits is Binomial(n, p). A test
that asserts ``accuracy > chance_bound(n)`` passes for such a model with probability below
``alpha``.
"""

from __future__ import annotations

from math import comb


def binomial_tail(n: int, k: int, p: float = 0.5) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exactly."""
    return sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(max(k, 0), n + 1))


def chance_bound(n: int, p: float = 0.5, alpha: float = 1e-3) -> float:
    """The accuracy at or below which chance still passes with probability >= ``alpha``: the
    largest ``k / n`` with P(X >= k) >= ``alpha``. Accuracies above it are reached by chance
    with probability < ``alpha`` (one-sided)."""
    if n < 1:
        raise ValueError("a held-out set of no items proves nothing")
    k = n
    while k > 0 and binomial_tail(n, k, p) < alpha:
        k -= 1
    if k == n:
        raise ValueError(f"{n} held-out trials are too few to beat chance at alpha={alpha}")
    return k / n


def auc_chance_bound(n_good: int, n_bad: int, alpha: float = 1e-3) -> float:
    """The chance bound of an accuracy over every (good, bad) couple of two groups (a
    Mann-Whitney AUC). Its couples share items, so it is less certain than a binomial over
    them: under chance its variance is (n_good + n_bad + 1) / (12 n_good n_bad), that of a
    binomial proportion over ``3 n_good n_bad / (n_good + n_bad + 1)`` trials, the size used."""
    effective = int(3 * n_good * n_bad / (n_good + n_bad + 1))
    return chance_bound(effective, alpha=alpha)
