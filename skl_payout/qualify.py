"""Qualification: does an authority meet a pot's conditions? Exact comparisons only."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from . import fmt
from .data import Dataset, Recipient
from .rules import Condition, Pot


@dataclass
class Check:
    """The outcome of one condition for one recipient, with the words a letter needs."""

    kind: str
    passed: bool
    text: str  # Swedish, for letters and the reason column
    measure: Fraction | None = None
    threshold: Fraction | None = None
    shortfall: str | None = None  # how far from the threshold, when missed
    inputs: list[str] = field(default_factory=list)  # where each value came from
    requirement: str = ""  # the condition in words: "andel registrerade dödsfall minst 50 %"
    value_text: str = ""  # the recipient's own value in words: "64,3 % (141 av 219)"


@dataclass
class Qualification:
    checks: list[Check]

    @property
    def qualified(self) -> bool:
        return all(c.passed for c in self.checks)

    def reason(self) -> str:
        if not self.checks:
            return "inget villkor"
        failed = [c.text for c in self.checks if not c.passed]
        return "; ".join(failed) if failed else "; ".join(c.text for c in self.checks)

    @property
    def ratio(self) -> Check | None:
        return next((c for c in self.checks if c.kind == "ratio"), None)


def check_ratio(cond: Condition, recipient: Recipient, data: Dataset, shown_against: list | None = None) -> Check:
    """`shown_against`: every threshold this measure meets in the rules, so the shown share agrees everywhere."""
    spec = cond.ratio
    num, den = data.value(spec.numerator, recipient), data.value(spec.denominator, recipient)
    inputs = [data.where(spec.numerator, recipient), data.where(spec.denominator, recipient)]
    need = fmt.threshold_percent(spec.at_least, nbsp=False)
    requirement = f"{spec.label} minst {need}"
    if not den:
        return Check("ratio", False, f"{spec.label}: {num} av {den}, kan inte beräknas (nämnaren är 0); krav minst {need}",
                     None, spec.at_least, "andelen kan inte beräknas när nämnaren är 0", inputs, requirement,
                     f"{num} av {den}")
    value = Fraction(num, den)
    passed = value >= spec.at_least
    shown = fmt.measure_percent(value, shown_against or [spec.at_least], nbsp=False)
    of = f"{fmt.number(num, nbsp=False)} av {fmt.number(den, nbsp=False)}"
    text = f"{spec.label} {shown} ({of}) {'≥' if passed else '<'} {need}"
    shortfall = None
    if not passed:
        # smallest whole numerator that would have qualified, for the letter's "missed by"
        needed = -((-spec.at_least.numerator * den) // spec.at_least.denominator)
        missing = needed - num
        # stated exactly, in whole units, never as a rounded percentage
        shortfall = (f"{fmt.number(missing, nbsp=False)} fler behövdes, minst {fmt.number(needed, nbsp=False)} "
                     f"av {fmt.number(den, nbsp=False)}")
        text += f" (saknas {fmt.number(missing, nbsp=False)})"
    return Check("ratio", passed, text, value, spec.at_least, shortfall, inputs, requirement, f"{shown} ({of})")


def check_flag(cond: Condition, recipient: Recipient, data: Dataset) -> Check:
    spec = cond.flag
    value = bool(data.value(spec.column, recipient))
    label = spec.label or spec.column.split(".")[1].replace("_", " ")
    scope = " (länets)" if spec.level == "county" and recipient.type != "lan" else ""
    text = f"{label}{scope} uppfyllt: {fmt.yes_no(value)}"
    return Check("flag", value, text, None, None, None,
                 [data.where(spec.column, recipient)], f"{label}{scope}", "uppfyllt" if value else "inte uppfyllt")


def qualify(pot: Pot, recipient: Recipient, data: Dataset, thresholds: dict | None = None) -> Qualification:
    """Every condition except matching funds, which needs the allocation (see distribute).

    `thresholds`: (numerator, denominator) -> every threshold the rules compare that measure with.
    """
    checks = []
    for cond in pot.qualify:
        if cond.ratio:
            measure = (cond.ratio.numerator, cond.ratio.denominator)
            checks.append(check_ratio(cond, recipient, data, (thresholds or {}).get(measure)))
        elif cond.flag:
            checks.append(check_flag(cond, recipient, data))
    return Qualification(checks)


def check_matching_funds(cond: Condition, recipient: Recipient, data: Dataset, allocation: int) -> Check:
    spec = cond.matching_funds
    own = data.value(spec.column, recipient)
    passed = own >= allocation
    text = f"{spec.label} {fmt.kr(own, nbsp=False)} {'≥' if passed else '<'} tilldelning {fmt.kr(allocation, nbsp=False)}"
    shortfall = None if passed else f"{fmt.kr(allocation - own, nbsp=False)} för lite"
    return Check("matching_funds", passed, text, None, None, shortfall, [data.where(spec.column, recipient)],
                 f"{spec.label} minst lika stor som tilldelningen", fmt.kr(own, nbsp=False))
