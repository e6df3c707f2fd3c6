"""Distribution: sharing whole kronor exactly, by key, table or rate."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Hashable, Mapping

from .errors import PayoutError


@dataclass(frozen=True)
class Share:
    """One recipient's part of an apportionment, with the arithmetic an auditor re-checks."""

    amount: int
    exact: Fraction  # total × key ÷ sum of keys
    floor: int
    extra: int  # 1 if a remainder krona went here, else 0


def apportion(total: int, weights: Mapping[Hashable, int | Fraction]) -> dict[Hashable, Share]:
    """Largest-remainder method: floors first, then one krona each to the largest remainders.

    Ties go to the smaller identifier (ascending code), so the result never depends on row order.
    The amounts always add up to `total` exactly.
    """
    if total < 0:
        raise ValueError("cannot apportion a negative amount")
    if any(w < 0 for w in weights.values()):
        raise ValueError("keys must not be negative")
    whole = sum(weights.values())
    if not weights or whole == 0:
        raise ValueError("nothing to apportion over: the keys sum to zero")
    exact = {k: Fraction(total) * Fraction(w) / whole for k, w in weights.items()}
    floors = {k: v.numerator // v.denominator for k, v in exact.items()}
    left = total - sum(floors.values())
    order = sorted(weights, key=lambda k: (-(exact[k] - floors[k]), k))
    lucky = set(order[:left])
    return {k: Share(floors[k] + (k in lucky), exact[k], floors[k], int(k in lucky)) for k in weights}


def per_unit(total: int, units: Mapping[Hashable, int], rate: int) -> dict[Hashable, Share]:
    """A fixed rate per unit; the pot must cover it."""
    paid = {k: Share(rate * n, Fraction(rate * n), rate * n, 0) for k, n in units.items()}
    if sum(s.amount for s in paid.values()) > total:
        raise PayoutError(
            f"per-unit payments ({sum(s.amount for s in paid.values())} kr) exceed the sub-pot's budget ({total} kr); "
            "lower rate_sek or use a rate derived from the pot"
        )
    return paid
