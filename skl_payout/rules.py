"""The rule file: a year's agreement as validated, typed data.

Everything a year decides (pots, thresholds, keys, tables, budget lines) lives in the YAML rule
file with a citation of its source; this module only defines what such a file may say.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from .errors import PayoutError, Problem, error

RecipientType = Literal["kommun", "landsting", "regiondel", "lan"]
ColumnType = Literal["count", "amount", "bool", "text"]


def parse_ratio(value: Any) -> Fraction:
    """Read '50%', '50 %', '1/2', '0.5' or a number as an exact fraction (never a float)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a ratio such as '50%', '1/2' or 0.5, not a boolean")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        value = repr(value)  # the decimal the author wrote, not the binary float
    if not isinstance(value, str):
        raise ValueError(f"expected a ratio such as '50%', '1/2' or 0.5, got {value!r}")
    text = value.strip().replace(",", ".").replace("\u00a0", " ")
    try:
        if text.endswith("%"):
            return Fraction(Decimal(text[:-1].strip())) / 100
        if "/" in text:
            num, den = text.split("/", 1)
            return Fraction(int(num), int(den))
        return Fraction(Decimal(text))
    except (InvalidOperation, ValueError, ZeroDivisionError):
        raise ValueError(f"expected a ratio such as '50%', '1/2' or 0.5, got {value!r}") from None


def _whole_kronor(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected whole kronor as an integer (e.g. 40000000), got {value!r}")
    return value


Ratio = Annotated[Fraction, BeforeValidator(parse_ratio)]
Kronor = Annotated[int, BeforeValidator(_whole_kronor)]
ColumnRef = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Source(Model):
    """Where a value comes from: a file in shared/seeds and a section, optionally the quote."""

    document: str
    section: str
    quote: str | None = None
    assumption: str | None = None

    def cite(self) -> str:
        return f"{self.document}, {self.section}"


class Table(Model):
    """A data file the rules read, keyed by authority code or county code."""

    file: str
    id: Literal["code", "county_code"] = "code"
    covers: list[RecipientType]
    columns: dict[str, ColumnType]
    derive: list[RecipientType] = []  # types whose rows are the sum of their county's kommuner
    not_greater_than: list[tuple[str, str]] = []  # (a, b): a <= b on every row
    source: Source | None = None

    @model_validator(mode="after")
    def _check(self) -> "Table":
        if Path(self.file).is_absolute() or ".." in Path(self.file).parts:
            raise ValueError(f"file {self.file!r} must be a plain name inside the data folder")
        for a, b in self.not_greater_than:
            for col in (a, b):
                if col not in self.columns:
                    raise ValueError(f"not_greater_than names {col!r}, which is not among the columns")
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


class Distribution(Model):
    """How a (sub-)pot is shared once qualification is known."""

    method: Literal["proportional", "per_unit", "fixed_table"]
    key: ColumnRef | None = None
    among: Literal["qualified", "eligible"] = "qualified"
    rate_sek: Kronor | None = None
    table: dict[str, Kronor] | None = None
    table_source: Source | None = None
    acknowledged_gap: TableGap | None = None
    unit_label: str = "enheter"

    @model_validator(mode="after")
    def _check(self) -> "Distribution":
        if self.method in ("proportional", "per_unit") and not self.key:
            raise ValueError(f"method {self.method} needs a key (a column such as population.population_65plus)")
        if self.method == "fixed_table" and not self.table:
            raise ValueError("method fixed_table needs a table of code: amount_sek")
        if self.method != "fixed_table" and (self.table or self.acknowledged_gap):
            raise ValueError("table and acknowledged_gap belong to method fixed_table")
        if self.rate_sek is not None and self.method != "per_unit":
            raise ValueError("rate_sek belongs to method per_unit")
        return self


class SubPot(Model):
    """A pot's share for one recipient type (or several sharing one pot)."""

    type: RecipientType | list[RecipientType]
    id: str | None = None
    amount_sek: Kronor | None = None
    share: Ratio | None = None
    source: Source | None = None

    @property
    def types(self) -> list[str]:
        return [self.type] if isinstance(self.type, str) else list(self.type)


class Pot(Model):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    title: str
    amount_sek: Kronor
    source: Source
    recipients: list[SubPot]
    qualify: list[Condition] = []
    distribute: Distribution
    on_empty: Literal["unpaid", "other_types"] = "unpaid"
    tier_of: str | None = None
    tier_mode: Literal["additive", "exclusive"] = "additive"
    period: str | None = None
    payout: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _check(self) -> "Pot":
        if not self.recipients:
            raise ValueError("a pot needs at least one recipient type")
        amounts = [r.amount_sek for r in self.recipients]
        shares = [r.share for r in self.recipients]
        if len(self.recipients) > 1:
            if all(a is not None for a in amounts):
                if sum(amounts) != self.amount_sek:
                    raise ValueError(
                        f"sub-pot amounts add up to {sum(amounts)}, not to the pot's {self.amount_sek}"
                    )
            elif all(s is not None for s in shares):
                if sum(shares) != 1:
                    raise ValueError(f"sub-pot shares add up to {sum(shares)}, not to 1 (100 %)")
            else:
                raise ValueError("with several sub-pots give every one either amount_sek or share")
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
    """A total the sources state, checked against the sum of its parts (lines or other totals)."""

    id: str
    label: str
    amount_sek: Kronor
    parts: list[str]
    acknowledged_difference_sek: int = 0
    note: str | None = None
    source: Source


class Budget(Model):
    lines: list[BudgetLine]
    totals: list[StatedTotal] = []


class Published(Model):
    """An outcome the sources report, which a run on the real data should reproduce (checked by validate)."""

    pot: str  # a sub-pot id as in summary.csv, e.g. PAL-40/kommun
    qualified: int
    source: Source


class Agreement(Model):
    title: str
    reference: str
    source: Source
    payout: str
    unspent: str
    contact: str = "Sveriges Kommuner och Landsting (SKL)"


class Rules(Model):
    schema_version: Literal[1]
    year: int
    agreement: Agreement
    data: dict[str, Table]
    pots: list[Pot]
    budget: Budget
    published: list[Published] = []

    @model_validator(mode="after")
    def _references(self) -> "Rules":
        ids = [p.id for p in self.pots]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"pot ids must be unique; repeated: {', '.join(sorted(dupes))}")
        for pot in self.pots:
            if pot.tier_of and pot.tier_of not in ids:
                raise ValueError(f"pot {pot.id}: tier_of names unknown pot {pot.tier_of!r}")
            refs = [c.ratio.numerator for c in pot.qualify if c.ratio]
            refs += [c.ratio.denominator for c in pot.qualify if c.ratio]
            refs += [c.flag.column for c in pot.qualify if c.flag]
            refs += [c.matching_funds.column for c in pot.qualify if c.matching_funds]
            if pot.distribute.key:
                refs.append(pot.distribute.key)
            types = {t for sub in pot.recipients for t in sub.types}
            for ref in refs:
                table, column = ref.split(".")
                if table not in self.data:
                    raise ValueError(f"pot {pot.id}: {ref!r} names table {table!r}, not declared under data")
                if column not in self.data[table].columns:
                    raise ValueError(f"pot {pot.id}: {ref!r} names column {column!r}, not declared for {table}")
                spec = self.data[table]
                uncovered = types - set(spec.covers) - set(spec.derive)
                if spec.id == "code" and uncovered:
                    raise ValueError(f"pot {pot.id} pays {', '.join(sorted(uncovered))}, but {table} neither covers "
                                     f"nor derives rows for that type: add it to data.{table}.covers")
        line_ids = {line.id for line in self.budget.lines} | {t.id for t in self.budget.totals}
        for line in self.budget.lines:
            for pot_id in line.pots:
                if pot_id not in ids:
                    raise ValueError(f"budget line {line.id}: names unknown pot {pot_id!r}")
            for other in line.included_in:
                if other not in line_ids:
                    raise ValueError(f"budget line {line.id}: included_in names unknown line {other!r}")
        for total in self.budget.totals:
            for part in total.parts:
                if part not in line_ids:
                    raise ValueError(f"stated total {total.id!r}: names unknown budget line or total {part!r}")
        return self

    def pot(self, pot_id: str) -> Pot:
        return next(p for p in self.pots if p.id == pot_id)


# --- loading -------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader (no object construction) that also rejects repeated keys."""


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
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


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


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
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise PayoutError(error(str(path), "rule file not found")) from None
    except UnicodeDecodeError as exc:
        raise PayoutError(error(str(path), f"rule file is not UTF-8 text ({exc.reason})")) from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise PayoutError(error(where, f"not valid YAML: {problem}")) from None
    if not isinstance(raw, dict):
        raise PayoutError(error(str(path), "a rule file must be a YAML mapping (key: value) at the top level"))
    try:
        return Rules.model_validate(raw)
    except ValidationError as exc:
        lines = _key_lines(node) if node is not None else {}
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            loc = tuple(p for p in loc if p not in ("str", "list[literal['kommun','landsting','regiondel','lan']]"))
            line = _line_for(lines, loc)
            where = f"{path}:{line}" if line else str(path)
            if err["type"] == "extra_forbidden":
                msg = f"unknown key {loc[-1]!r} at {_path_text(loc)}"
                hint = "check the spelling against the schema in docs/RULES.md"
            elif err["type"] == "missing":
                msg = f"missing required key {_path_text(loc)}"
                hint = None
            else:
                msg = f"{_path_text(loc)}: {err['msg']}"
                hint = None
            problems.append(Problem("error", where, msg, hint))
        raise PayoutError(problems) from None
