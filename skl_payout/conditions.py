"""Condition kinds: each is one rule-file model (rules.py), one evaluator here, and its words in
phrases.py, registered together in EVALUATORS. Evaluators compare exactly and return numbers."""

from __future__ import annotations

from fractions import Fraction
from typing import Callable

from .data import Dataset, Recipient
from .distribute import Share
from .rules import Condition, Pot
from .trace import Condition as Outcome


def _ratio(cond: Condition, pot: Pot, r: Recipient, data: Dataset, thresholds: dict, allocation) -> Outcome:
    spec = cond.ratio
    num, den = data.value(spec.numerator, r), data.value(spec.denominator, r)
    inputs = (data.where(spec.numerator, r), data.where(spec.denominator, r))
    passed = bool(den) and Fraction(num, den) >= spec.at_least  # a zero denominator never qualifies
    shown = tuple(thresholds.get((spec.numerator, spec.denominator), [spec.at_least]))
    return Outcome("ratio", passed, spec.label, inputs, numerator=num, denominator=den, threshold=spec.at_least,
                   shown_against=shown)


def _flag(cond: Condition, pot: Pot, r: Recipient, data: Dataset, thresholds: dict, allocation) -> Outcome:
    spec = cond.flag
    value = bool(data.value(spec.column, r))
    label = spec.label or spec.column.split(".")[1].replace("_", " ")
    level = "county" if spec.level == "county" and r.type != "lan" else "authority"
    return Outcome("flag", value, label, (data.where(spec.column, r),), value=value, level=level)


def _matching_funds(cond: Condition, pot: Pot, r: Recipient, data: Dataset, thresholds: dict,
                    allocation: Share | None) -> Outcome:
    spec = cond.matching_funds
    own = data.value(spec.column, r)
    allocated = allocation.amount if allocation is not None else 0
    return Outcome("matching_funds", own >= allocated, spec.label, (data.where(spec.column, r),), own_sek=own,
                   allocation_sek=allocated)


EVALUATORS: dict[str, Callable[..., Outcome]] = {"ratio": _ratio, "flag": _flag, "matching_funds": _matching_funds}


def evaluate(cond: Condition, pot: Pot, r: Recipient, data: Dataset, thresholds: dict,
             allocation: Share | None) -> Outcome:
    """One condition for one recipient. `allocation`: its share, known up front where matching funds apply."""
    return EVALUATORS[cond.kind](cond, pot, r, data, thresholds, allocation)
