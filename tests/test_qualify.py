"""Qualification compares exactly: the boundary is where the agreement puts it, to the registration."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skl_payout.data import Recipient
from skl_payout.distribute import per_unit
from skl_payout.errors import PayoutError
from skl_payout import phrases
from skl_payout.conditions import evaluate
from skl_payout.rules import Condition

KOMMUN = Recipient("kommun", "0114", "Upplands Väsby", "01")


class Values:
    """The two numbers a ratio condition reads, standing in for a data set."""

    def __init__(self, num: int, den: int):
        self.num, self.den = num, den

    def value(self, ref, recipient):
        return self.num if ref.endswith("registered_deaths") else self.den

    def where(self, ref, recipient):
        return f"test {ref}"


def condition(threshold: str) -> Condition:
    return Condition.model_validate({"ratio": {"numerator": "p.registered_deaths", "denominator": "p.deaths",
                                               "at_least": threshold}})


def check_ratio(cond, recipient, values):
    return evaluate(cond, None, recipient, values, {}, None)


thresholds = st.sampled_from(["40%", "50%", "70%", "100%", "1/3", "66.7%"])


@given(st.integers(1, 100_000), thresholds)
def test_the_smallest_qualifying_count_qualifies_and_one_less_does_not(deaths, threshold):
    cond = condition(threshold)
    t = cond.ratio.at_least
    needed = -((-t.numerator * deaths) // t.denominator)  # ceil(t × deaths)
    assert check_ratio(cond, KOMMUN, Values(needed, deaths)).passed
    if needed > 0:
        below = check_ratio(cond, KOMMUN, Values(needed - 1, deaths))
        assert not below.passed
        assert below.needed - below.numerator == 1 and "1 fler behövdes" in phrases.shortfall(below)


@given(st.integers(0, 10_000), st.integers(0, 10_000), thresholds)
def test_qualified_exactly_when_the_ratio_reaches_the_threshold(num, den, threshold):
    cond = condition(threshold)
    check = check_ratio(cond, KOMMUN, Values(num, den))
    assert check.passed == (den > 0 and Fraction(num, den) >= cond.ratio.at_least)


def test_zero_deaths_never_qualifies():
    check = check_ratio(condition("0%"), KOMMUN, Values(0, 0))
    assert not check.passed and check.code == "no_denominator" and "nämnaren är 0" in phrases.sentence(check)


def test_fixed_rate_cannot_exceed_the_pot():
    with pytest.raises(PayoutError):
        per_unit(1000, {"0114": 11}, 100)
