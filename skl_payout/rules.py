"""The rule file: a year's agreement as validated, typed data.

Everything a year decides (pots, thresholds, keys, tables, budget lines) lives in the YAML rule
file with a citation of its source; this module only defines what such a file may say.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from .errors import PayoutError, Problem, error
from .memo import Recent

RecipientType = Literal["kommun", "landsting", "regiondel", "lan"]
ColumnType = Literal["count", "amount", "bool", "text"]


def parse_ratio(value: Any) -> Fraction:
    """Read '50%', '50 %', '1/2', '0.5' or a number as an exact fraction (never a float)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite() or len(str(value)) > 40 or abs(value.adjusted()) > 20:
            raise ValueError(f"expected a ratio such as '50%', '1/2' or 0.5, got {str(value)[:40]}")
        return Fraction(value)
    if isinstance(value, bool):
        raise ValueError("expected a ratio such as '50%', '1/2' or 0.5, not a boolean")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        value = repr(value)  # the decimal the author wrote, not the binary float
    if not isinstance(value, str):
        raise ValueError(f"expected a ratio such as '50%', '1/2' or 0.5, got {value!r}")
    text = value.strip().replace(",", ".").replace("\u00a0", " ")
    if len(text) > 40:
        raise ValueError(f"expected a ratio such as '50%', '1/2' or 0.5, got {text[:40]}...")
    try:
        if text.endswith("%"):
            return parse_ratio(Decimal(text[:-1].strip())) / 100
        if "/" in text:
            num, den = text.split("/", 1)
            return Fraction(int(num), int(den))
        return parse_ratio(Decimal(text))
    except (InvalidOperation, ValueError, ZeroDivisionError, OverflowError):
        raise ValueError(f"expected a ratio such as '50%', '1/2' or 0.5, got {value!r}") from None


def _shown(value: Any) -> str:
    return str(value) if isinstance(value, Decimal) else repr(value)


MAX_KRONOR = 10**12  # more than any agreement; a larger figure is a typo (a pasted row, extra zeros)


def _whole_kronor(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected whole kronor as an integer (e.g. 40000000), got {_shown(value)}")
    if value < 0:
        raise ValueError(f"{value} is negative; money paid out is never negative")
    if value > MAX_KRONOR:
        raise ValueError(f"{value} kr is implausible (more than {MAX_KRONOR} kr); check the number of zeros")
    return value


def _proportion(value: Any) -> Fraction:
    """A ratio between 0 and 100 %: `at_least: 50` is not 50 % but 5000 %, and is refused with that hint."""
    ratio = parse_ratio(value)
    if not 0 <= ratio <= 1:
        shown = value.strip() if isinstance(value, str) else _shown(value)
        hint = f"; did you mean {shown.rstrip('%').strip()}%?" if 1 < ratio <= 100 and "%" not in str(value) else ""
        percent = Decimal(ratio.numerator * 100) / Decimal(ratio.denominator)
        raise ValueError(f"{shown} is {percent.normalize():f} %, outside 0–100 %{hint}")
    return ratio


def _any_kronor(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected whole kronor as an integer (e.g. 500000), got {_shown(value)}")
    if abs(value) > MAX_KRONOR:
        raise ValueError(f"{value} kr is implausible; check the number of zeros")
    return value


Ratio = Annotated[Fraction, BeforeValidator(_proportion)]
Kronor = Annotated[int, BeforeValidator(_whole_kronor)]
SignedKronor = Annotated[int, BeforeValidator(_any_kronor)]
ColumnRef = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True, defer_build=True)


class Source(Model):
    """Where a value comes from: a document the rule file lists under `sources` (an id of sources/index.yaml),
    a section label of that document, optionally the quote."""

    document: str
    section: str
    quote: str | None = None
    assumption: str | None = None  # an analyst's note for the rule file's reader; never shown to a recipient

    def cite(self) -> str:
        return f"{self.document}, {self.section}"


class SourceDocument(Model):
    """A source document the rule file cites by a short id: how a letter names it."""

    title: Annotated[str, Field(min_length=1)]  # the document's own title
    cite_as: Annotated[str, Field(min_length=1)]  # what a letter prints, e.g. "SKL:s genomförandeplan för 2011"
    file: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")] | None = None  # a name in sources/


class Assumption(Model):
    """A decision of ours where the sources are silent: what, why, and which pots it moves."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    decision: str
    evidence: str
    pots: list[str] = []  # pot or sub-pot ids whose money it moves; empty: it moves none
    source: Source | None = None


class Conflict(Model):
    """A contradiction between the sources (SOURCE_ANALYSIS C-number), and the reading the rule file takes."""

    id: Annotated[str, Field(pattern=r"^C[0-9]+$")]
    conflict: str
    reading: str  # the reading chosen, or why no modelled pot depends on it
    pots: list[str] = []  # pots the reading moves money in; empty: it affects no modelled pot
    assumption: str | None = None  # the assumption id that settles it, if any


def _column_shorthand(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


class Column(Model):
    """A column's type and, for numbers, the plausibility bounds a value must lie within.

    Bounds are the rule file's, with a reason: no kommun has more inhabitants than Sweden. A value
    outside them is an error naming the cell, so a pasted 10^30 cannot take a whole pot.
    """

    type: ColumnType
    min: Annotated[int, Field(ge=0)] | None = None
    max: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> "Column":
        if self.type in ("count", "amount") and self.max is None:
            raise ValueError(f"a {self.type} column needs a plausibility bound: {{type: {self.type}, max: ...}}")
        if self.type not in ("count", "amount") and (self.min is not None or self.max is not None):
            raise ValueError(f"min and max belong to count and amount columns, not {self.type}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


class Table(Model):
    """A data file the rules read, keyed by authority code or county code."""

    file: str
    id: Literal["code", "county_code"] = "code"
    covers: list[RecipientType]
    columns: dict[str, Annotated[Column, BeforeValidator(_column_shorthand)]]
    derive: list[RecipientType] = []  # types whose rows are the sum of their county's kommuner
    not_greater_than: list[tuple[str, str]] = []  # (a, b): a <= b on every row, else an error
    warn_greater_than: list[tuple[str, str]] = []  # (a, b): a > b is real data, accepted and reported
    source: Source | None = None

    @model_validator(mode="after")
    def _check(self) -> "Table":
        if Path(self.file).is_absolute() or ".." in Path(self.file).parts:
            raise ValueError(f"file {self.file!r} must be a plain name inside the data folder")
        for name, pairs in (("not_greater_than", self.not_greater_than), ("warn_greater_than", self.warn_greater_than)):
            for a, b in pairs:
                for col in (a, b):
                    if col not in self.columns:
                        raise ValueError(f"{name} names {col!r}, which is not among the columns")
                    if self.columns[col].type not in ("count", "amount"):
                        raise ValueError(f"{name} compares numbers; {col!r} is a {self.columns[col].type} column")
        both = set(self.not_greater_than) & set(self.warn_greater_than)
        if both:
            raise ValueError(f"{sorted(both)[0]} is both an error (not_greater_than) and a warning (warn_greater_than)")
        if self.derive and any(c.type not in ("count", "amount") for c in self.columns.values()):
            raise ValueError("derive sums the county's kommuner, which only numbers allow: this table has "
                             "yes/no or text columns, whose rows must be given")
        if self.id == "code" and "lan" in self.covers:
            raise ValueError("a table keyed by code cannot cover lan: län rows are keyed by county_code")
        return self


class RatioCondition(Model):
    numerator: ColumnRef
    denominator: ColumnRef
    at_least: Ratio
    label: str = "andel"


class FlagCondition(Model):
    column: ColumnRef
    level: Literal["authority", "county"] = "authority"
    label: str | None = None


class MatchingFundsCondition(Model):
    column: ColumnRef
    label: str = "egen medfinansiering"


class Condition(Model):
    """One requirement; a pot's conditions must all hold."""

    ratio: RatioCondition | None = None
    flag: FlagCondition | None = None
    matching_funds: MatchingFundsCondition | None = None
    source: Source | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "Condition":
        given = [k for k in ("ratio", "flag", "matching_funds") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a condition needs exactly one of: ratio, flag, matching_funds")
        return self

    @property
    def kind(self) -> str:
        return "ratio" if self.ratio else "flag" if self.flag else "matching_funds"


class TableGap(Model):
    amount_sek: Kronor
    note: str


class Discrepancy(Model):
    """A table row the rule file uses with another amount than the source prints, and the assumption why."""

    code: str
    printed_sek: Kronor
    assumption: str


class Distribution(Model):
    """How a (sub-)pot is shared once qualification is known."""

    method: Literal["proportional", "per_unit", "fixed_table"]
    key: ColumnRef | None = None
    among: Literal["qualified", "eligible"] = "qualified"
    rate_sek: Annotated[Kronor, Field(gt=0)] | None = None
    table: dict[str, Kronor] | None = None
    table_source: Source | None = None
    acknowledged_gap: TableGap | None = None
    source_discrepancies: list[Discrepancy] = []
    unit_label: str = "enheter"

    @model_validator(mode="after")
    def _check(self) -> "Distribution":
        if self.method in ("proportional", "per_unit") and not self.key:
            raise ValueError(f"method {self.method} needs a key (a column such as population.population_65plus)")
        if self.method == "fixed_table" and not self.table:
            raise ValueError("method fixed_table needs a table of code: amount_sek")
        if self.method != "fixed_table" and (self.table or self.acknowledged_gap or self.source_discrepancies):
            raise ValueError("table, acknowledged_gap and source_discrepancies belong to method fixed_table")
        for d in self.source_discrepancies:
            if d.code not in (self.table or {}):
                raise ValueError(f"source_discrepancies names code {d.code!r}, which is not in the table")
            if d.printed_sek == self.table[d.code]:
                raise ValueError(f"source_discrepancies: code {d.code} is used as printed; there is no discrepancy")
        if self.rate_sek is not None and self.method != "per_unit":
            raise ValueError("rate_sek belongs to method per_unit")
        return self


def _positive_share(value: Any) -> Fraction:
    ratio = _proportion(value)
    if ratio == 0:
        raise ValueError("a sub-pot of 0 % pays nobody: leave the type out instead")
    return ratio


class SubPot(Model):
    """A pot's share for one recipient type (or several sharing one pot)."""

    type: RecipientType | list[RecipientType]
    id: str | None = None
    amount_sek: Annotated[Kronor, Field(gt=0)] | None = None  # a sub-pot of 0 kr pays nobody
    share: Annotated[Fraction, BeforeValidator(_positive_share)] | None = None
    source: Source | None = None
    source_unit: RecipientType | None = None  # the unit the grant itself used, when the data pays another
    source_unit_note: str | None = None

    @property
    def types(self) -> list[str]:
        return [self.type] if isinstance(self.type, str) else list(self.type)


class Term(Model):
    """A sentence a letter states about payout, use or repayment, and the source that states it."""

    text: str
    source: Source

    @model_validator(mode="after")
    def _quoted(self) -> "Term":
        if not self.source.quote:
            raise ValueError("a letter states only what the sources state: give the source's quote")
        return self


class Pot(Model):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    title: str
    amount_sek: Annotated[Kronor, Field(gt=0)]  # a pot of 0 kr is a typo, not a rule
    source: Source
    recipients: list[SubPot]
    qualify: list[Condition] = []
    distribute: Distribution
    # decision 5: an empty sub-pot's money goes to the pot's other types, unless a source says otherwise
    on_empty: Literal["unpaid", "other_types"] = "other_types"
    on_empty_source: Source | None = None
    # a recipient that fails a condition of a fixed table (or of an allocation among all eligible):
    # its amount is returned (unpaid) or held until the condition is met (withheld)
    unmet: Literal["unpaid", "withheld"] = "unpaid"
    # what a letter says of withheld money, after "2 500 000 kr innehålls": "och betalas ut när länets
    # handlingsplan har inkommit och godkänts av SKL", with the source that states it (quoted)
    withheld_until: str | None = None
    withheld_source: Source | None = None
    tier_of: str | None = None
    tier_mode: Literal["additive", "exclusive"] = "additive"
    period: str | None = None  # the measurement period, only where the sources state one
    payout: str | None = None
    performance: bool = True  # performance money (prestationsersättning); letters say so only when it is
    terms: list[Term] = []  # what a letter states about payout, use and repayment of this pot's money
    note: str | None = None

    def subpot_ids(self) -> list[str]:
        """The ids the run reports its sub-pots under (summary.csv's `pot`)."""
        if len(self.recipients) == 1:
            return [self.recipients[0].id or self.id]
        return [s.id or f"{self.id}/{'+'.join(s.types)}" for s in self.recipients]

    @model_validator(mode="after")
    def _check(self) -> "Pot":
        if not self.recipients:
            raise ValueError("a pot needs at least one recipient type")
        amounts = [r.amount_sek for r in self.recipients]
        shares = [r.share for r in self.recipients]
        if any(a is not None and s is not None for a, s in zip(amounts, shares)):
            raise ValueError("a sub-pot gives both amount_sek and share: give one, so the two cannot disagree")
        if all(a is not None for a in amounts):
            if sum(amounts) != self.amount_sek:
                raise ValueError(f"sub-pot amounts add up to {sum(amounts)}, not to the pot's {self.amount_sek}")
        elif all(s is not None for s in shares):
            if sum(shares) != 1:
                shown = Decimal(sum(shares).numerator * 100) / Decimal(sum(shares).denominator)
                raise ValueError(f"sub-pot shares add up to {shown.normalize():f} %, not to 100 %")
        elif len(self.recipients) > 1 or any(a is not None or s is not None for a, s in zip(amounts, shares)):
            raise ValueError("give every sub-pot either amount_sek or share (a single sub-pot may give neither)")
        table = self.distribute.table
        if table is not None:
            gap = self.amount_sek - sum(table.values())
            ack = self.distribute.acknowledged_gap
            if gap < 0:
                raise ValueError(f"the fixed table sums to {sum(table.values())}, more than the pot's {self.amount_sek}")
            if gap and (ack is None or ack.amount_sek != gap):
                raise ValueError(
                    f"the fixed table sums to {sum(table.values())}, {gap} less than the pot's {self.amount_sek}; "
                    f"if the source says so, acknowledge it with distribute.acknowledged_gap.amount_sek: {gap}"
                )
            if not gap and ack is not None:
                raise ValueError("acknowledged_gap is set but the table sums to the pot exactly")
        if self.on_empty == "unpaid" and len(self.recipients) > 1 and self.on_empty_source is None:
            raise ValueError("on_empty: unpaid returns a sub-pot's money although the pot's other types qualified; "
                             "the sources show the money handed over (DOMAIN decision 5): cite the source that says "
                             "otherwise in on_empty_source, or leave on_empty out")
        if self.unmet == "withheld":
            if self.distribute.method != "fixed_table" and self.distribute.among != "eligible":
                raise ValueError("unmet: withheld holds an allocation a recipient has before it qualifies: it needs "
                                 "method fixed_table or distribute.among: eligible")
            if not self.withheld_until or self.withheld_source is None or not self.withheld_source.quote:
                raise ValueError("unmet: withheld needs withheld_until (what a letter says after \"… kr innehålls\") "
                                 "and withheld_source with the quote that states it: a letter promises nothing "
                                 "the sources do not say")
        elif self.withheld_until or self.withheld_source:
            raise ValueError("withheld_until and withheld_source belong to unmet: withheld")
        seen: set[str] = set()
        for r in self.recipients:
            for t in r.types:
                if t in seen:
                    raise ValueError(f"recipient type {t} appears in two sub-pots")
                seen.add(t)
        return self


class BudgetLine(Model):
    id: str
    label: str
    amount_sek: Kronor
    recipient: Literal["authorities", "organisation", "unspecified"]
    pots: list[str] = []
    included_in: list[str] = []
    modelled: bool = True
    source: Source


class StatedTotal(Model):
    """A total the sources state, checked against the sum of its parts (lines or other totals).

    `unitemised_sek` is the part of the total the sources do not break down (declared, never derived:
    a change to any stated line then breaks the reconciliation instead of moving the remainder).
    """

    id: str
    label: str
    amount_sek: Kronor
    parts: list[str]
    unitemised_sek: Kronor = 0
    acknowledged_difference_sek: SignedKronor = 0
    note: str | None = None
    source: Source


class Budget(Model):
    lines: list[BudgetLine]
    totals: list[StatedTotal] = []


class Published(Model):
    """A qualifier count the sources report, which a run on the real data should reproduce (checked by validate)."""

    pot: str  # a sub-pot id as in summary.csv, e.g. PAL-40/kommun
    qualified: Annotated[int, Field(ge=0)]
    comparable: bool = True  # False: counted in other units than the data (e.g. 31 regiondelar, not 21 landsting)
    why: str | None = None
    source: Source

    @model_validator(mode="after")
    def _why(self) -> "Published":
        if not self.comparable and not self.why:
            raise ValueError("comparable: false needs why: the reason the count cannot be compared with the data")
        return self


class PublishedMoney(Model):
    """Money the sources say was paid: checked against the rules with the published qualifier counts."""

    id: str
    label: str
    pots: list[str]  # pot or sub-pot ids
    paid_sek: Kronor
    source: Source


class Unchecked(Model):
    """A published figure validate cannot check, and why (said aloud rather than skipped)."""

    figure: str
    why: str
    source: Source


class Outcomes(Model):
    counts: list[Published] = []
    money: list[PublishedMoney] = []
    unchecked: list[Unchecked] = []


class Agreement(Model):
    title: str
    reference: str
    source: Source
    payout: str | None = None  # superseded by each pot's terms; not printed in letters
    unspent: str | None = None
    contact: str = "Sveriges Kommuner och Landsting (SKL)"


class Rules(Model):
    schema_version: Literal[1]
    year: int
    agreement: Agreement
    data: dict[str, Table]
    pots: list[Pot]
    budget: Budget
    published: Outcomes = Outcomes()
    sources: dict[str, SourceDocument] = {}
    assumptions: list[Assumption] = []
    conflicts: list[Conflict] = []
    expected_recipients: dict[RecipientType, Annotated[int, Field(ge=0)]] = {}  # how many the agreement covers
    _sha256: str | None = PrivateAttr(default=None)  # of the bytes the rules were read from
    _overrides: tuple = PrivateAttr(default=())  # a what-if scenario's changed values (whatif.Override)

    @property
    def sha256(self) -> str | None:
        return self._sha256

    @property
    def overrides(self) -> tuple:
        return self._overrides

    def pot(self, pot_id: str) -> Pot:
        return next(p for p in self.pots if p.id == pot_id)

    def money_ids(self) -> set[str]:
        """Every pot id and sub-pot id (as in summary.csv) an assumption or outcome may name."""
        return {p.id for p in self.pots} | {sub for p in self.pots for sub in p.subpot_ids()}

    def cite(self, source: Source) -> str:
        """A citation as a recipient reads it: the document's title and the section, never a file name."""
        doc = self.sources.get(source.document)
        return f"{doc.cite_as}, {source.section}" if doc else source.cite()

    def assumptions_for(self, pot_id: str) -> list[Assumption]:
        """The assumptions that move money in a pot (named by the pot or one of its sub-pots)."""
        return [a for a in self.assumptions if any(p == pot_id or p.split("/")[0] == pot_id for p in a.pots)]


# --- checks across the file, each naming the key path it is about --------------------------------

_NUMERIC = ("count", "amount")
_NEEDS = {"numerator": _NUMERIC, "denominator": _NUMERIC, "flag": ("bool",), "matching_funds": ("amount",),
          "key": _NUMERIC}
_WHAT = {"numerator": "a ratio's numerator", "denominator": "a ratio's denominator", "flag": "a flag",
         "matching_funds": "matching funds", "key": "a distribution key"}


def cross_check(rules: Rules) -> list[tuple[tuple, str]]:
    """References between parts of the file: (key path, message) for each one that does not hold."""
    found: list[tuple[tuple, str]] = []
    ids = [p.id for p in rules.pots]
    for i, pot in enumerate(rules.pots):
        here = ("pots", i)
        if ids.count(pot.id) > 1:
            found.append((here + ("id",), f"pot id {pot.id!r} is used twice; ids must be unique"))
        if pot.tier_of and pot.tier_of not in ids:
            found.append((here + ("tier_of",), f"names unknown pot {pot.tier_of!r}"))
        seen, tier = {pot.id}, pot.tier_of
        while tier in ids:
            if tier in seen:
                found.append((here + ("tier_of",), f"the tiers of {pot.id} form a loop back to {tier}"))
                break
            seen.add(tier)
            tier = rules.pot(tier).tier_of
        types = [t for sub in pot.recipients for t in sub.types]
        if pot.distribute.method == "fixed_table" and len(types) > 1:
            found.append((here + ("recipients",), "a fixed table pays one recipient type: with several, a code "
                                                  "such as 01 (landsting and län) would be paid twice"))
        for j, cond in enumerate(pot.qualify):
            if cond.matching_funds and pot.distribute.method != "fixed_table" and pot.distribute.among != "eligible":
                found.append((here + ("qualify", j, "matching_funds"), "matching funds compare own money with the "
                              "allocation, which must be known before qualifying: use distribute.among: eligible "
                              "(or a fixed table)"))
            if cond.flag and cond.flag.level == "county" and cond.flag.column.split(".")[0] in rules.data \
                    and rules.data[cond.flag.column.split(".")[0]].id != "county_code":
                found.append((here + ("qualify", j, "flag", "level"), "level: county needs a table keyed by "
                                                                      "county_code; this one is keyed by code"))
        refs: list[tuple[tuple, str, str]] = []  # (key path, column reference, role)
        for j, cond in enumerate(pot.qualify):
            if cond.ratio:
                refs += [(here + ("qualify", j, "ratio", "numerator"), cond.ratio.numerator, "numerator"),
                         (here + ("qualify", j, "ratio", "denominator"), cond.ratio.denominator, "denominator")]
            if cond.flag:
                refs.append((here + ("qualify", j, "flag", "column"), cond.flag.column, "flag"))
            if cond.matching_funds:
                refs.append((here + ("qualify", j, "matching_funds", "column"), cond.matching_funds.column,
                             "matching_funds"))
        if pot.distribute.key:
            refs.append((here + ("distribute", "key"), pot.distribute.key, "key"))
        types = {t for sub in pot.recipients for t in sub.types}
        for loc, ref, role in refs:
            table, column = ref.split(".")
            spec = rules.data.get(table)
            if spec is None:
                found.append((loc, f"{ref!r} names table {table!r}, which is not declared under data"))
                continue
            if column not in spec.columns:
                found.append((loc, f"{ref!r} names column {column!r}, which is not declared for {table}"))
                continue
            kind = spec.columns[column].type
            if kind not in _NEEDS[role]:
                found.append((loc, f"{ref!r} is a {kind} column; {_WHAT[role]} needs "
                                   f"{' or '.join(_NEEDS[role])}"))
            uncovered = types - set(spec.covers) - set(spec.derive)
            if spec.id == "code" and uncovered:
                found.append((loc, f"pot {pot.id} pays {', '.join(sorted(uncovered))}, but {table} neither covers "
                                   f"nor derives rows for that type: add it to data.{table}.covers"))
    line_ids = {line.id for line in rules.budget.lines} | {t.id for t in rules.budget.totals}
    totals = {t.id: t for t in rules.budget.totals}
    for i, total in enumerate(rules.budget.totals):
        stack, seen = list(total.parts), set()
        while stack:
            part = stack.pop()
            if part == total.id:
                found.append((("budget", "totals", i, "parts"), f"stated total {total.id!r} contains itself"))
                break
            if part in totals and part not in seen:
                seen.add(part)
                stack += totals[part].parts
    for i, line in enumerate(rules.budget.lines):
        for pot_id in line.pots:
            if pot_id not in ids:
                found.append((("budget", "lines", i, "pots"), f"budget line {line.id}: names unknown pot {pot_id!r}"))
        for other in line.included_in:
            if other not in line_ids:
                found.append((("budget", "lines", i, "included_in"),
                              f"budget line {line.id}: included_in names unknown line {other!r}"))
    for i, total in enumerate(rules.budget.totals):
        for part in total.parts:
            if part not in line_ids:
                found.append((("budget", "totals", i, "parts"),
                              f"stated total {total.id!r}: names unknown budget line or total {part!r}"))
    found += _check_notes(rules)
    return found


def _citations(node: Any, loc: tuple = ()):
    """Every Source in the rules, with its key path."""
    if isinstance(node, Source):
        yield loc, node
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _citations(getattr(node, name), loc + (name,))
    elif isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            yield from _citations(item, loc + (i,))
    elif isinstance(node, dict):
        for key, item in node.items():
            yield from _citations(item, loc + (key,))


def _check_notes(rules: Rules) -> list[tuple[tuple, str]]:
    """Assumptions, conflicts, published outcomes and citations name things that exist."""
    found: list[tuple[tuple, str]] = []
    money = rules.money_ids()
    ids = [a.id for a in rules.assumptions]
    for kind, entries in (("assumptions", rules.assumptions), ("conflicts", rules.conflicts)):
        listed = [e.id for e in entries]
        for i, entry in enumerate(entries):
            if listed.count(entry.id) > 1:
                found.append(((kind, i, "id"), f"{entry.id} is listed twice"))
            found += [((kind, i, "pots"), f"names unknown pot {pot!r}") for pot in entry.pots if pot not in money]
    for i, c in enumerate(rules.conflicts):
        if c.assumption and c.assumption not in ids:
            found.append((("conflicts", i, "assumption"), f"names unknown assumption {c.assumption!r}"))
    for i, pot in enumerate(rules.pots):
        for j, d in enumerate(pot.distribute.source_discrepancies):
            if d.assumption not in ids:
                found.append((("pots", i, "distribute", "source_discrepancies", j, "assumption"),
                              f"names unknown assumption {d.assumption!r}"))
    subpots = {sub for p in rules.pots for sub in p.subpot_ids()}
    counted: set[str] = set()
    for i, entry in enumerate(rules.published.counts):
        if entry.pot not in subpots:
            found.append((("published", "counts", i, "pot"), f"names {entry.pot!r}, which is not a sub-pot; a count "
                                                             f"is per sub-pot: {', '.join(sorted(subpots))}"))
        elif entry.pot in counted:
            found.append((("published", "counts", i, "pot"), f"{entry.pot} has two published counts"))
        counted.add(entry.pot)
    money_entries = [m.id for m in rules.published.money]
    for i, entry in enumerate(rules.published.money):
        if money_entries.count(entry.id) > 1:
            found.append((("published", "money", i, "id"), f"id {entry.id!r} is used twice"))
        for pot in entry.pots:
            if pot not in money:
                found.append((("published", "money", i, "pots"), f"names unknown pot {pot!r}; pots and sub-pots: "
                                                                 f"{', '.join(sorted(money))}"))
        pots = entry.pots
        if len(set(pots)) < len(pots) or any(p.split("/")[0] in pots for p in pots if "/" in p):
            found.append((("published", "money", i, "pots"), "names the same money twice (a pot and its sub-pot, "
                                                             "or one pot twice)"))
    for loc, source in _citations(rules):  # a letter names a document by its title, never by an id
        if source.document not in rules.sources:
            found.append((loc + ("document",), f"cites {source.document!r}, which is not listed under sources "
                                               "(id: {title, cite_as, file})"))
    return found


# --- loading -------------------------------------------------------------------------------------


MAX_RULE_FILE_BYTES = 1024 * 1024  # a year's rules are a few hundred lines


class _StrictResolver(yaml.resolver.BaseResolver):
    """YAML 1.2 core scalars only. The YAML 1.1 forms that read as something else than they look
    (`040000000` octal, `1:20` sexagesimal, `yes`/`on` booleans, `.inf`) are tagged to be refused."""


_SURPRISE = "tag:skl-payout:yaml11"
for _tag, _regexp, _first in [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^[-+]?(?:0|[1-9][0-9]*)$", "-+0123456789"),
    ("tag:yaml.org,2002:float", r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$", "-+0123456789."),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (_SURPRISE, r"^(?:[-+]?0[0-9_]+(?:\.[0-9_]*)?|[-+]?0[xXbBoO][0-9a-fA-F_]+|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?"
                r"|[-+]?[0-9]+_[0-9_]*(?:\.[0-9_]*)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
                r"|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF)$", list("-+0123456789.yYnNoO")),
]:
    _StrictResolver.add_implicit_resolver(_tag, __import__("re").compile(_regexp), list(_first))


def _surprise(loader, node: yaml.ScalarNode):
    text = node.value
    if text.lower() in ("yes", "no", "on", "off"):
        why = f"{text!r} is a boolean in YAML 1.1 but text in YAML 1.2"
        fix = "write true or false, or quote it if it is text"
    elif ":" in text:
        why = f"{text!r} is a base-60 number in YAML 1.1"
        fix = "quote it if it is text"
    elif "_" in text:
        why = f"{text!r} groups digits with underscores, which only YAML 1.1 reads as a number"
        fix = f"write {text.replace('_', '')}"
    elif "inf" in text.lower() or "nan" in text.lower():
        why = f"{text!r} is not a finite number"
        fix = "write the number"
    else:
        why = f"{text!r} has a leading zero, which YAML 1.1 reads as an octal or other base"
        fix = f"write {text.lstrip('+-0') or '0'} without the leading zero, or quote it if it is a code (\"{text}\")"
    raise yaml.constructor.ConstructorError(None, None, f"{why}; {fix}", node.start_mark)


class _StrictLoader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer,
                    yaml.constructor.SafeConstructor, _StrictResolver):
    """A safe loader (no object construction) that refuses repeated keys, aliases and YAML 1.1 surprises."""

    def __init__(self, stream):
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        _StrictResolver.__init__(self)

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"aliases (*{event.anchor}) are not allowed in a rule file: write each value out, "
                "with its own source", event.start_mark)
        return super().compose_node(parent, index)


def _no_duplicates(loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, (str, int, float, bool, type(None))):
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain name, not a list or mapping", key_node.start_mark
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice (first on line {seen[key]})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


def _exact_float(loader, node: yaml.ScalarNode) -> Decimal:
    """A decimal as written: `0.70000000000000001` stays that, where a float would make it 0.7."""
    return Decimal(node.value)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)
_StrictLoader.add_constructor("tag:yaml.org,2002:float", _exact_float)


def _strict_int(loader, node: yaml.ScalarNode) -> int:
    """YAML 1.2 integers only, also under an explicit `!!int` (which YAML 1.1 reads `010` as 8)."""
    if not re.fullmatch(r"[-+]?(0|[1-9][0-9]{0,17})", node.value):
        raise yaml.constructor.ConstructorError(None, None, f"{node.value[:40]!r} is not a plain whole number "
                                                "(no leading zero, at most 18 digits)", node.start_mark)
    return int(node.value)


def _strict_bool(loader, node: yaml.ScalarNode) -> bool:
    if node.value not in ("true", "True", "TRUE", "false", "False", "FALSE"):
        raise yaml.constructor.ConstructorError(None, None, f"{node.value!r} is not true or false", node.start_mark)
    return node.value.lower() == "true"


def _clean_str(loader, node: yaml.ScalarNode) -> str:
    """Text without control characters, which letters and Excel cannot show."""
    bad = next((c for c in node.value if (ord(c) < 32 and c not in "\n\t") or 127 <= ord(c) < 160), None)
    if bad is not None:
        raise yaml.constructor.ConstructorError(None, None, f"the text holds a control character (U+{ord(bad):04X})",
                                                node.start_mark)
    return node.value


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _strict_int)
_StrictLoader.add_constructor("tag:yaml.org,2002:bool", _strict_bool)
_StrictLoader.add_constructor("tag:yaml.org,2002:str", _clean_str)
_StrictLoader.add_constructor(_SURPRISE, _surprise)
_StrictLoader.yaml_constructors = {
    tag: fn for tag, fn in _StrictLoader.yaml_constructors.items()
    if tag is None or tag.startswith("tag:yaml.org,2002:") or tag == _SURPRISE
}


if getattr(yaml, "__with_libyaml__", False):
    class _CStrictLoader(yaml.cyaml.CParser, yaml.constructor.SafeConstructor, _StrictResolver):
        """The strict loader on libyaml's C parser: several times faster; the same constructors and
        resolver (the C parser asks the Python resolver for every plain scalar's tag)."""

        def __init__(self, stream):
            yaml.cyaml.CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            _StrictResolver.__init__(self)

    _CStrictLoader.yaml_constructors = _StrictLoader.yaml_constructors
else:  # pragma: no cover - PyYAML built without libyaml
    _CStrictLoader = None


def _shared(node: yaml.Node) -> bool:
    """Whether a node is reached twice: what an alias composes to (the C parser resolves aliases itself)."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (yaml.MappingNode, yaml.SequenceNode)):
            if id(n) in seen:
                return True
            seen.add(id(n))
            stack.extend(v for pair in n.value for v in pair) if isinstance(n, yaml.MappingNode) else stack.extend(n.value)
        elif id(n) in seen:
            return True
        else:
            seen.add(id(n))
    return False


def parse_yaml(text: str) -> tuple[Any, yaml.Node | None]:
    """The document and its node tree (for line numbers), parsed once with the strict loader: on
    libyaml where it is available; a document with an alias, or one libyaml refuses, is parsed again in
    pure Python, whose messages name the alias and the line."""
    if _CStrictLoader is not None:
        loader = _CStrictLoader(text)
        try:
            node = loader.get_single_node()
            if node is None or not _shared(node):
                return (loader.construct_document(node) if node is not None else None), node
        except yaml.YAMLError:
            pass  # the pure-Python loader says why, in its own words
        finally:
            loader.dispose()
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), node
    finally:
        loader.dispose()


def _key_lines(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map each key path to the line it stands on, so schema errors can name the line."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            sub = path + (key_node.value,)
            out[sub] = key_node.start_mark.line + 1
            _key_lines(value_node, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            sub = path + (i,)
            out[sub] = item.start_mark.line + 1
            _key_lines(item, sub, out)
    return out


def _line_for(lines: dict[tuple, int], loc: tuple) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _path_text(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def load_rules(path: Path) -> Rules:
    """Load and validate a rule file; every problem names the file, the key path and the line."""
    path = Path(path)
    try:
        if path.is_dir():
            raise PayoutError(error(str(path), "is a folder, not a rule file"))
        if path.stat().st_size > MAX_RULE_FILE_BYTES:
            raise PayoutError(error(str(path), f"is {path.stat().st_size} bytes; a rule file is a few hundred lines",
                                    "is this the right file?"))
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except FileNotFoundError:
        raise PayoutError(error(str(path), "rule file not found")) from None
    except UnicodeDecodeError as exc:
        raise PayoutError(error(str(path), f"rule file is not UTF-8 text ({exc.reason})")) from None
    except OSError as exc:
        raise PayoutError(error(str(path), f"cannot be read: {exc.strerror}")) from None
    digest = hashlib.sha256(raw).hexdigest()
    key = (str(path), digest)
    # the same bytes give the same (immutable) rules wherever the file lies, or the same refusal, which
    # names the file as it was given: each read and validated once per process
    found = _LOADED.get(digest) or _LOADED.get(key)
    if isinstance(found, PayoutError):
        raise PayoutError(found.problems)
    if found is not None:
        return found
    try:
        rules = _parse_rules(path, text, key)
    except PayoutError as exc:
        _LOADED.put(key, exc)
        raise
    return _LOADED.put(digest, rules)


def _parse_rules(path: Path, text: str, key: tuple[str, str]) -> Rules:
    try:
        document, node = parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise PayoutError(error(where, f"not valid YAML: {problem}")) from None
    except RecursionError:
        raise PayoutError(error(str(path), "not valid YAML: nested too deeply")) from None
    rules = validate_rules(document, str(path), _key_lines(node) if node is not None else {})
    rules._sha256 = key[1]
    return rules


_LOADED: Recent[Rules | PayoutError] = Recent(16)  # by content, or for a refusal by name and content


def validate_rules(raw: Any, where: str = "rules", lines: dict[tuple, int] | None = None) -> Rules:
    """The schema, then the references across the file; problems name the key path and line."""
    lines = lines or {}
    if not isinstance(raw, dict):
        raise PayoutError(error(where, "a rule file must be a YAML mapping (key: value) at the top level"))

    def located(loc: tuple, msg: str, hint: str | None = None) -> Problem:
        line = _line_for(lines, loc)
        return Problem("error", f"{where}:{line}" if line else where, msg, hint)

    try:
        rules = Rules.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            loc = tuple(p for p in loc if p not in ("str", "list[literal['kommun','landsting','regiondel','lan']]"))
            if err["type"] == "extra_forbidden":
                problems.append(located(loc, f"unknown key {loc[-1]!r} at {_path_text(loc)}",
                                        "check the spelling against the schema in docs/RULES.md"))
            elif err["type"] == "missing":
                problems.append(located(loc, f"missing required key {_path_text(loc)}"))
            else:
                msg = err["msg"].removeprefix("Value error, ")
                problems.append(located(loc, f"{_path_text(loc)}: {msg}"))
        raise PayoutError(problems) from None
    found = cross_check(rules)
    if found:
        raise PayoutError([located(loc, f"{_path_text(loc)}: {msg}") for loc, msg in found])
    return rules
