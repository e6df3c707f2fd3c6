"""The Swedish words for what the trace holds as numbers: conditions, reasons, transfers.

One place, so that payouts.csv, letters, the report, Excel and `explain` say the same thing; the
engine decides in numbers and never writes a sentence.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

from . import fmt
from .trace import Condition, Row, SubPot


RECIPIENT_TYPES = {"kommun": "kommun", "landsting": "landsting/region", "regiondel": "regiondel", "lan": "län"}


def recipient_type(code: str) -> str:
    """A recipient type as a Swedish reader says it: "lan" is "län"."""
    return RECIPIENT_TYPES[code]


def requirement(c: Condition) -> str:
    """The condition in words: "andel registrerade dödsfall minst 50 %"."""
    if c.kind == "ratio":
        return f"{c.label} minst {fmt.threshold_percent(c.threshold, nbsp=False)}"
    if c.kind == "flag":
        return f"{c.label}{_scope(c)}"
    if c.kind == "matching_funds":
        return f"{c.label} minst lika stor som tilldelningen"
    return "inte kvalificerad för en högre nivå"


def _scope(c: Condition) -> str:
    return " (länets)" if c.level == "county" else ""


def _of(c: Condition) -> str:
    return f"{fmt.number(c.numerator, nbsp=False)} av {fmt.number(c.denominator, nbsp=False)}"


def _shown(c: Condition) -> str:
    return fmt.measure_percent(c.measure, list(c.shown_against) or [c.threshold], nbsp=False)


def value(c: Condition) -> str:
    """The recipient's own value in words: "64,3 % (141 av 219)"."""
    if c.kind == "ratio":
        return f"{c.numerator} av {c.denominator}" if not c.denominator else f"{_shown(c)} ({_of(c)})"
    if c.kind == "flag":
        return "uppfyllt" if c.value else "inte uppfyllt"
    if c.kind == "matching_funds":
        return fmt.kr(c.own_sek, nbsp=False)
    return f"kvalificerad för {c.label}"


def shortfall(c: Condition, nbsp: bool = False) -> str | None:
    """How far from the condition, exactly, when it is not met (`nbsp`: figures never broken across
    lines, for letters)."""
    if c.passed:
        return None
    if c.kind == "ratio":
        if not c.denominator:
            return "andelen kan inte beräknas när nämnaren är 0"
        return (f"{fmt.number(c.needed - c.numerator, nbsp=nbsp)} fler behövdes, minst "
                f"{fmt.number(c.needed, nbsp=nbsp)} av {fmt.number(c.denominator, nbsp=nbsp)}")
    if c.kind == "matching_funds":
        return f"{fmt.kr(c.allocation_sek - c.own_sek, nbsp=nbsp)} för lite"
    if c.kind == "tier":
        return f"ersätts av: {c.label}"
    return None


def sentence(c: Condition) -> str:
    """The condition and its outcome in one line, as payouts.csv's reason column has it."""
    if c.kind == "ratio":
        need = fmt.threshold_percent(c.threshold, nbsp=False)
        if not c.denominator:
            return (f"{c.label}: {c.numerator} av {c.denominator}, kan inte beräknas (nämnaren är 0); "
                    f"krav minst {need}")
        text = f"{c.label} {_shown(c)} ({_of(c)}) {'≥' if c.passed else '<'} {need}"
        return text if c.passed else text + f" (saknas {fmt.number(c.needed - c.numerator, nbsp=False)})"
    if c.kind == "flag":
        return f"{c.label}{_scope(c)} uppfyllt: {fmt.yes_no(bool(c.value))}"
    if c.kind == "matching_funds":
        return (f"{c.label} {fmt.kr(c.own_sek, nbsp=False)} {'≥' if c.passed else '<'} "
                f"tilldelning {fmt.kr(c.allocation_sek, nbsp=False)}")
    return f"ersätts av den högre nivån {c.higher_tier}"


@lru_cache(maxsize=16384)  # payouts.csv, payouts.xlsx and the report each say it: worded once per run
def reason(row: Row) -> str:
    """Why a row qualified or not: the failed conditions, else all of them."""
    if not row.conditions:
        return "inget villkor"
    failed = [sentence(c) for c in row.conditions if not c.passed]
    return "; ".join(failed) if failed else "; ".join(sentence(c) for c in row.conditions)


def transfers(sp: SubPot) -> list[str]:
    """Money handed between sub-pots, in words (decision 5)."""
    lines = [f"+{fmt.kr(amount, nbsp=False)} från {source} (inga kvalificerade)" for source, amount in sp.received]
    if sp.handed:
        total = sum(amount for _, amount in sp.handed)
        lines.append(f"{fmt.kr(total, nbsp=False)} överfört till {', '.join(d for d, _ in sp.handed)} "
                     "(inga kvalificerade)")
    return lines


def distribution(row: Row, sp: SubPot, rules) -> str:
    """The arithmetic behind a row's amount, from the trace's numbers, in a sentence an auditor can re-check."""
    pot, share = sp.pot, row.allocation
    if sp.method == "fixed_table":
        cite = rules.cite(pot.distribute.table_source) if pot.distribute.table_source else "fastställd tabell"
        text = f"Fast belopp enligt tabell ({cite}): {fmt.kr(share.amount)}."
        if row.withheld:
            return text + f" Beloppet innehålls {pot.withheld_until}."
        return text if row.qualified else text + " Beloppet betalas inte ut eftersom villkoret inte är uppfyllt."
    replaced = [c for c in row.conditions if not c.passed]
    if replaced and all(c.kind == "tier" for c in replaced):
        return f"Ersättningen ur denna pott ersätts av den högre nivån: {replaced[0].label}."
    if share is None:
        return "Ingen ersättning ur denna pott, eftersom villkoren inte är uppfyllda."
    unit = pot.distribute.unit_label
    among = "samtliga berättigade" if sp.among == "eligible" or not pot.qualify else "de kvalificerade"
    if sp.method == "per_unit" and sp.rate_sek is not None:
        text = f"{fmt.number(row.key_value)} {unit} × {fmt.kr(sp.rate_sek)} styck = {fmt.kr(share.amount)}."
    elif sp.method == "per_unit":
        text = (f"{fmt.number(row.key_value)} {unit} × {fmt.kr(sp.budget)} / {fmt.number(sp.key_sum)} {unit} "
                f"({rate_text(Fraction(sp.budget, sp.key_sum))} styck) = {fmt.kr(share.amount)}.")
    else:
        text = (f"Er andel: {fmt.number(row.key_value)} av sammanlagt {fmt.number(sp.key_sum)} {unit} hos {among} "
                f"({fmt.percent(Fraction(row.key_value, sp.key_sum), 4)}) av {fmt.kr(sp.budget)} = "
                f"{fmt.kr(share.amount)}.")
    if share.extra:
        text += " Avrundningen gav en extra krona enligt den största resten."
    if row.withheld:
        text += f" Tilldelningen innehålls {pot.withheld_until}."
    elif sp.among == "eligible" and not row.qualified:
        text += " Tilldelningen betalas inte ut eftersom villkoren inte är uppfyllda."
    return text


def rate_text(rate: Fraction) -> str:
    return fmt.decimal_kr(fmt.floor_decimal(rate, 2))


CORRECTION_WORDS = "tidigare utbetalt"  # in every correction; a letter that shows them shows a correction


def correction(previous: int, new: int) -> str:
    """A correction after payment, in one sentence: what was paid, the new amount, and the difference."""
    head = f"Rättelse av tidigare beslut: {CORRECTION_WORDS} {fmt.kr(previous)}, nytt belopp {fmt.kr(new)}"
    if new > previous:
        return f"{head}. Skillnaden, {fmt.kr(new - previous)}, betalas ut nu."
    if new < previous:
        return (f"{head}. Skillnaden, {fmt.kr(previous - new)}, ska betalas tillbaka; hur och när meddelas "
                "separat.")
    return f"{head}: beloppet är oförändrat."
