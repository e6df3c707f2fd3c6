"""The trace: one immutable record of a payout run, in numbers, that every output renders from.

`pipeline.compute` builds it once; `run` writes it as trace.json; `letters` and `explain` read it back
from a recorded run, so they say what was paid even when the data folder is gone. Words live in
`phrases.py`, never here. `check` re-adds every sum from independent parts and raises on any gap:
it runs after compute and whenever a trace is read back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .distribute import Share
from .errors import PayoutError, error

SCHEMA_VERSION = 1
TRACE_FILE = "trace.json"


@dataclass(frozen=True, order=True)
class Recipient:
    type: str
    code: str
    name: str
    county_code: str
    parent_code: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.type, self.code)


@dataclass(frozen=True)
class Condition:
    """One condition's outcome for one recipient, as numbers.

    kind: ratio (numerator / denominator >= threshold), flag (value is true; level county reads the
    county's row), matching_funds (own_sek >= allocation_sek), tier (replaced by a higher exclusive tier).
    """

    kind: str
    passed: bool
    label: str
    inputs: tuple[str, ...] = ()  # where each value was read: "palliativregistret.csv row 12, column deaths"
    numerator: int | None = None
    denominator: int | None = None
    threshold: Fraction | None = None
    shown_against: tuple[Fraction, ...] = ()  # every threshold this measure meets in the rules (for display)
    value: bool | None = None
    level: str | None = None
    own_sek: int | None = None
    allocation_sek: int | None = None
    higher_tier: str | None = None

    @property
    def measure(self) -> Fraction | None:
        if self.kind != "ratio" or not self.denominator:
            return None
        return Fraction(self.numerator, self.denominator)

    @property
    def needed(self) -> int | None:
        """The smallest whole numerator that meets the threshold (ratio conditions)."""
        if self.kind != "ratio" or not self.denominator:
            return None
        return -((-self.threshold.numerator * self.denominator) // self.threshold.denominator)

    @property
    def code(self) -> str:
        """Why it failed, as a code (phrases.py has the words)."""
        if self.passed:
            return "met"
        return {"ratio": "no_denominator" if not self.denominator else "below_threshold", "flag": "flag_not_met",
                "matching_funds": "matching_funds_short", "tier": "replaced_by_higher_tier"}[self.kind]


@dataclass(frozen=True)
class Row:
    """One recipient in one sub-pot: conditions, key, allocation and what became of it."""

    subpot: str
    recipient: Recipient
    conditions: tuple[Condition, ...]
    key_value: int | None
    key_source: str | None  # provenance of the key value
    allocation: Share | None  # the recipient's exact share of the sub-pot, if it had one
    status: str  # paid | withheld | not_qualified
    amount: int  # paid
    withheld: int

    @property
    def qualified(self) -> bool:
        return all(c.passed for c in self.conditions)

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.conditions if not c.passed)

    @property
    def ratio(self) -> Condition | None:
        return next((c for c in self.conditions if c.kind == "ratio"), None)

    # the arithmetic, under the names the renderers use
    @property
    def share(self) -> Share | None:
        return self.allocation


@dataclass(frozen=True)
class SubPot:
    """A (sub-)pot: its money in and out, how it was shared, and its rows."""

    id: str
    pot_id: str
    types: tuple[str, ...]
    method: str
    among: str
    rate_sek: int | None
    original_budget: int
    received: tuple[tuple[str, int], ...]  # (from sub-pot, kronor): money handed to this one
    handed: tuple[tuple[str, int], ...]  # (to sub-pot, kronor): money this one handed on
    budget: int
    key_sum: int | None
    paid: int
    withheld: int
    unpaid: int
    rows: tuple[Row, ...]
    pot: Any = field(default=None, compare=False, repr=False)  # the rule file's Pot, attached, never stored

    @property
    def eligible(self) -> int:
        return len(self.rows)

    @property
    def qualified(self) -> int:
        return sum(r.qualified for r in self.rows)


@dataclass(frozen=True)
class Trace:
    year: int
    rules_sha256: str | None
    counties: tuple[tuple[str, str], ...]  # (county code, name)
    pots: tuple[tuple[str, int], ...]  # (pot id, amount in the rule file)
    subpots: tuple[SubPot, ...]
    schema_version: int = SCHEMA_VERSION

    @property
    def paid(self) -> int:
        return sum(sp.paid for sp in self.subpots)

    @property
    def withheld(self) -> int:
        return sum(sp.withheld for sp in self.subpots)


# --- invariants that can fail ---------------------------------------------------------------------


def check(trace: Trace, where: str = "the run") -> None:
    """Every money invariant, each from independent sums; a breach is a clear error, never an assert."""
    problems = []

    def fail(what: str) -> None:
        problems.append(error(where, f"the money does not add up: {what}",
                              "nothing was written; report this with the rule file and data"))

    by_pot: dict[str, list[SubPot]] = {}
    for sp in trace.subpots:
        by_pot.setdefault(sp.pot_id, []).append(sp)
        rows_paid = sum(r.amount for r in sp.rows)
        rows_held = sum(r.withheld for r in sp.rows)
        if rows_paid != sp.paid:
            fail(f"{sp.id}: its rows pay {rows_paid} kr, the sub-pot says {sp.paid} kr")
        if rows_held != sp.withheld:
            fail(f"{sp.id}: its rows withhold {rows_held} kr, the sub-pot says {sp.withheld} kr")
        if sp.paid + sp.withheld + sp.unpaid != sp.budget:
            fail(f"{sp.id}: paid {sp.paid} + withheld {sp.withheld} + unpaid {sp.unpaid} kr is not its budget "
                 f"{sp.budget} kr")
        moved = sp.original_budget + sum(a for _, a in sp.received) - sum(a for _, a in sp.handed)
        if moved != sp.budget:
            fail(f"{sp.id}: {sp.original_budget} kr + received − handed on = {moved} kr, not its budget {sp.budget} kr")
        if min(sp.paid, sp.withheld, sp.unpaid, sp.budget) < 0:
            fail(f"{sp.id}: a negative amount")
        for r in sp.rows:
            if r.amount < 0 or r.withheld < 0 or (r.amount and r.withheld):
                fail(f"{sp.id}, {r.recipient.code}: paid {r.amount} kr and withheld {r.withheld} kr")
            if r.amount and not r.qualified:
                fail(f"{sp.id}, {r.recipient.code}: paid {r.amount} kr without meeting its conditions")
            if (r.amount or r.withheld) and (r.allocation is None or r.allocation.amount != r.amount + r.withheld):
                fail(f"{sp.id}, {r.recipient.code}: paid or withheld {r.amount + r.withheld} kr is not its allocation")
            expected = "paid" if r.qualified else ("withheld" if r.withheld else "not_qualified")
            if r.status != expected:
                fail(f"{sp.id}, {r.recipient.code}: status {r.status!r}, its numbers say {expected!r}")
        _check_arithmetic(sp, fail)
    received = sorted((src, sp.id, a) for sp in trace.subpots for src, a in sp.received)
    handed = sorted((sp.id, dst, a) for sp in trace.subpots for dst, a in sp.handed)
    if received != handed:
        fail("the money handed on between sub-pots and the money received do not match")
    for pot_id, amount in trace.pots:
        parts = by_pot.get(pot_id, [])
        if sum(sp.original_budget for sp in parts) != amount:
            fail(f"{pot_id}: the sub-pots add up to {sum(sp.original_budget for sp in parts)} kr, the pot is {amount} kr")
        if sum(sp.paid + sp.withheld for sp in parts) > amount:
            fail(f"{pot_id}: pays and withholds more than the pot's {amount} kr")
    if set(by_pot) != {p for p, _ in trace.pots}:
        fail("the sub-pots name other pots than the rule file")
    if problems:
        raise PayoutError(problems)


def _check_arithmetic(sp: SubPot, fail) -> None:
    """Re-derive every decision and share from the trace's own inputs: a forged or buggy number shows."""
    for r in sp.rows:
        for c in r.conditions:
            if c.kind == "ratio":
                ok = bool(c.denominator) and Fraction(c.numerator, c.denominator) >= c.threshold
            elif c.kind == "flag":
                ok = bool(c.value)
            elif c.kind == "matching_funds":
                ok = c.own_sek >= c.allocation_sek
            else:
                ok = False
            if ok != c.passed:
                fail(f"{sp.id}, {r.recipient.code}: condition {c.label!r} says {c.passed}, its numbers say {ok}")
    if sp.method == "fixed_table":
        return
    pool = [r for r in sp.rows if r.allocation is not None]
    if sp.key_sum is not None and pool and sum(r.key_value for r in pool) != sp.key_sum:
        fail(f"{sp.id}: the key sum {sp.key_sum} is not the sum of the keys of those sharing it")
    if sp.method == "per_unit" and sp.rate_sek is not None:
        for r in pool:
            if r.allocation.amount != r.key_value * sp.rate_sek:
                fail(f"{sp.id}, {r.recipient.code}: {r.key_value} × {sp.rate_sek} kr is not {r.allocation.amount} kr")
        return
    if pool and sum(r.allocation.amount for r in pool) != sp.budget:
        fail(f"{sp.id}: the allocations add up to {sum(r.allocation.amount for r in pool)} kr, not the budget")
    for r in pool:
        a = r.allocation
        exact = Fraction(sp.budget * r.key_value, sp.key_sum) if sp.key_sum else None
        if exact != a.exact or a.floor != (exact.numerator // exact.denominator) or a.extra not in (0, 1) \
                or a.amount != a.floor + a.extra:
            fail(f"{sp.id}, {r.recipient.code}: the share {a.amount} kr is not {r.key_value} / {sp.key_sum} of "
                 f"{sp.budget} kr, floored, plus at most one remainder krona")


# --- trace.json ------------------------------------------------------------------------------------


def _fraction(value: Fraction | None) -> str | None:
    return None if value is None else f"{value.numerator}/{value.denominator}"


def _read_fraction(text: str | None) -> Fraction | None:
    if text is None:
        return None
    num, den = str(text).split("/")
    return Fraction(int(num), int(den))


def condition_dict(c: Condition) -> dict:
    """One condition's numbers, as trace.json and `explain --json` give them."""
    out = {"kind": c.kind, "passed": c.passed, "outcome": c.code, "label": c.label, "inputs": list(c.inputs)}
    if c.kind == "ratio":
        out.update(numerator=c.numerator, denominator=c.denominator, measure=_fraction(c.measure),
                   comparison=">=", threshold=_fraction(c.threshold),
                   shown_against=[_fraction(t) for t in c.shown_against])
    elif c.kind == "flag":
        out.update(flag=c.value, level=c.level)
    elif c.kind == "matching_funds":
        out.update(own_sek=c.own_sek, allocation_sek=c.allocation_sek, comparison=">=")
    else:
        out.update(higher_tier=c.higher_tier)
    return out


def to_dict(trace: Trace) -> dict:
    condition = condition_dict

    def row(r: Row) -> dict:
        a = r.allocation
        return {"recipient": {"type": r.recipient.type, "code": r.recipient.code, "name": r.recipient.name,
                              "county_code": r.recipient.county_code, "parent_code": r.recipient.parent_code},
                "conditions": [condition(c) for c in r.conditions], "qualified": r.qualified,
                "key": None if r.key_value is None else {"value": r.key_value, "source": r.key_source},
                "allocation": None if a is None else {"exact_sek": _fraction(a.exact), "floor_sek": a.floor,
                                                      "remainder_krona": a.extra, "amount_sek": a.amount},
                "status": r.status, "reasons": list(r.reasons), "paid_sek": r.amount, "withheld_sek": r.withheld}

    return {
        "schema_version": trace.schema_version, "year": trace.year, "rules_sha256": trace.rules_sha256,
        "counties": [{"county_code": c, "name": n} for c, n in trace.counties],
        "pots": [{"pot": p, "amount_sek": a} for p, a in trace.pots],
        "subpots": [{"id": sp.id, "pot": sp.pot_id, "types": list(sp.types), "method": sp.method, "among": sp.among,
                     "rate_sek": sp.rate_sek, "original_budget_sek": sp.original_budget,
                     "received": [{"from": s, "amount_sek": a} for s, a in sp.received],
                     "handed": [{"to": d, "amount_sek": a} for d, a in sp.handed],
                     "budget_sek": sp.budget, "key_sum": sp.key_sum, "paid_sek": sp.paid,
                     "withheld_sek": sp.withheld, "unpaid_sek": sp.unpaid,
                     "rows": [row(r) for r in sp.rows]} for sp in trace.subpots],
    }


def to_json(trace: Trace) -> str:
    return json.dumps(to_dict(trace), ensure_ascii=False, separators=(",", ":")) + "\n"


def from_dict(data: dict, where: str = TRACE_FILE) -> Trace:
    """A trace read back; anything missing or of the wrong kind is a clear error, then the sums are checked."""
    try:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"schema_version {data.get('schema_version')!r}, this tool reads {SCHEMA_VERSION}")

        def condition(c: dict) -> Condition:
            if c["kind"] not in KINDS or not isinstance(c["passed"], bool) or \
                    (c["kind"] == "flag" and not isinstance(c.get("flag"), bool)):
                raise ValueError(f"condition kind {c['kind']!r} or passed {c['passed']!r} is not valid")
            for k in ("numerator", "denominator", "own_sek", "allocation_sek"):
                _whole(c.get(k), k, optional=True)
            if c["kind"] == "ratio" and (c.get("numerator") is None or c.get("denominator") is None
                                         or c.get("threshold") is None):
                raise ValueError("a ratio condition needs numerator, denominator and threshold")
            if c["kind"] == "matching_funds" and (c.get("own_sek") is None or c.get("allocation_sek") is None):
                raise ValueError("a matching-funds condition needs own_sek and allocation_sek")
            return Condition(
                kind=c["kind"], passed=bool(c["passed"]), label=c["label"], inputs=tuple(c["inputs"]),
                numerator=c.get("numerator"), denominator=c.get("denominator"),
                threshold=_read_fraction(c.get("threshold")),
                shown_against=tuple(_read_fraction(t) for t in c.get("shown_against", [])),
                value=c.get("flag"), level=c.get("level"), own_sek=c.get("own_sek"),
                allocation_sek=c.get("allocation_sek"), higher_tier=c.get("higher_tier"))

        def row(sp_id: str, r: dict) -> Row:
            a, k, who = r["allocation"], r["key"], r["recipient"]
            if r["status"] not in ("paid", "withheld", "not_qualified") or who["type"] not in RECIPIENT_TYPES \
                    or not all(isinstance(who[x], str) for x in ("code", "name", "county_code")):
                raise ValueError(f"row {who.get('code')!r} in {sp_id}: status or recipient is not valid")
            for value in (r["paid_sek"], r["withheld_sek"], *(a.values() if a else ()), *([k["value"]] if k else ())):
                if not isinstance(value, str):
                    _whole(value, "an amount")
            share = None if a is None else Share(int(a["amount_sek"]), _read_fraction(a["exact_sek"]),
                                                 int(a["floor_sek"]), int(a["remainder_krona"]))
            return Row(sp_id, Recipient(who["type"], who["code"], who["name"], who["county_code"], who.get("parent_code")),
                       tuple(condition(c) for c in r["conditions"]), None if k is None else int(k["value"]),
                       None if k is None else k["source"], share, r["status"], int(r["paid_sek"]),
                       int(r["withheld_sek"]))

        trace = Trace(
            year=int(data["year"]), rules_sha256=data["rules_sha256"],
            counties=tuple((c["county_code"], c["name"]) for c in data["counties"]),
            pots=tuple((p["pot"], int(p["amount_sek"])) for p in data["pots"]),
            subpots=tuple(SubPot(
                id=sp["id"], pot_id=sp["pot"], types=tuple(sp["types"]), method=sp["method"], among=sp["among"],
                rate_sek=sp["rate_sek"], original_budget=int(sp["original_budget_sek"]),
                received=tuple((x["from"], int(x["amount_sek"])) for x in sp["received"]),
                handed=tuple((x["to"], int(x["amount_sek"])) for x in sp["handed"]),
                budget=int(sp["budget_sek"]), key_sum=sp["key_sum"], paid=int(sp["paid_sek"]),
                withheld=int(sp["withheld_sek"]), unpaid=int(sp["unpaid_sek"]),
                rows=tuple(row(sp["id"], r) for r in sp["rows"])) for sp in data["subpots"]))
        for sp in trace.subpots:
            if sp.method not in ("proportional", "per_unit", "fixed_table") or sp.among not in ("qualified", "eligible"):
                raise ValueError(f"{sp.id}: method {sp.method!r} or among {sp.among!r} is not valid")
            for value in (sp.original_budget, sp.budget, sp.paid, sp.withheld, sp.unpaid):
                _whole(value, f"{sp.id}: an amount")
            _whole(sp.key_sum, f"{sp.id}: key_sum", optional=True)
            codes = [r.recipient.key for r in sp.rows]
            if len(codes) != len(set(codes)):
                raise ValueError(f"{sp.id}: a recipient appears twice")
        if len({sp.id for sp in trace.subpots}) != len(trace.subpots):
            raise ValueError("a sub-pot appears twice")
    except (KeyError, TypeError, ValueError, AttributeError, ZeroDivisionError, IndexError, OverflowError) as exc:
        raise PayoutError(error(where, f"is not a complete skl-payout trace: {exc}",
                                "run `skl-payout run` again to write a new one")) from None
    check(trace, where)
    return trace


KINDS = ("ratio", "flag", "matching_funds", "tier")
RECIPIENT_TYPES = ("kommun", "landsting", "regiondel", "lan")


def _whole(value, what: str, optional: bool = False) -> None:
    """A whole number as JSON has it: not a boolean, not a fraction, not text, not absurdly large."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 10**15:
        raise ValueError(f"{what} is {value!r}, not a whole number")
