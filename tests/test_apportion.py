"""Largest-remainder apportionment: exact sums, order-free, monotone, ties by code."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skl_payout.distribute import apportion

codes = st.text(alphabet="0123456789", min_size=4, max_size=4)
weights = st.dictionaries(codes, st.integers(min_value=0, max_value=10**7), min_size=1, max_size=60).filter(
    lambda d: sum(d.values()) > 0
)
totals = st.integers(min_value=0, max_value=10**10)


@given(totals, weights)
def test_amounts_add_up_to_the_pot_exactly(total, keys):
    shares = apportion(total, keys)
    assert sum(s.amount for s in shares.values()) == total


@given(totals, weights)
def test_each_amount_is_its_exact_share_floored_or_plus_one(total, keys):
    whole = sum(keys.values())
    for code, share in apportion(total, keys).items():
        exact = Fraction(total * keys[code], whole)
        assert share.exact == exact
        assert share.amount - exact < 1 and exact - share.amount < 1
        assert share.amount in (exact.numerator // exact.denominator, exact.numerator // exact.denominator + 1)


@given(totals, weights, st.randoms())
def test_row_order_is_irrelevant(total, keys, rnd):
    items = list(keys.items())
    rnd.shuffle(items)
    assert apportion(total, dict(items)) == apportion(total, keys)


@given(totals, weights)
def test_a_larger_key_never_gets_less(total, keys):
    shares = apportion(total, keys)
    for a in keys:
        for b in keys:
            if keys[a] > keys[b]:
                assert shares[a].amount >= shares[b].amount


@given(totals, weights)
def test_remainder_kronor_go_to_the_largest_remainders(total, keys):
    shares = apportion(total, keys)
    lucky = [c for c, s in shares.items() if s.extra]
    unlucky = [c for c, s in shares.items() if not s.extra]
    for a in lucky:
        for b in unlucky:
            ra, rb = shares[a].exact - shares[a].floor, shares[b].exact - shares[b].floor
            assert ra > rb or (ra == rb and a < b)


def test_ties_go_to_the_lower_code():
    shares = apportion(10, {"0114": 1, "0115": 1, "0117": 1})
    assert [shares[c].amount for c in ("0114", "0115", "0117")] == [4, 3, 3]


def test_zero_keys_cannot_be_apportioned():
    with pytest.raises(ValueError):
        apportion(100, {"0114": 0})


@settings(max_examples=50)
@given(st.integers(min_value=1, max_value=10**9), st.integers(min_value=1, max_value=300))
def test_equal_keys_differ_by_at_most_one_krona(total, n):
    amounts = [s.amount for s in apportion(total, {f"{i:04d}": 7 for i in range(n)}).values()]
    assert max(amounts) - min(amounts) <= 1
