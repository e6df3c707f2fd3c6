"""What-if: a scenario is the rule file with some of its values changed (`PATH=VALUE`), validated as
the rule file itself is. One scenario runs through the full engine; a sweep of many runs through a
compiled form of the pots (numpy integer arrays, exact integer comparison and floor division), checked
against the full engine by tests/test_whatif.py.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from itertools import product
from pathlib import Path
from typing import Any

from .errors import PayoutError, error


# --- overrides -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Override:
    """`PATH=VALUE` as typed: PATH addresses a value of the rule file, VALUE is YAML as in the file."""

    path: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}={self.text}"


def parse_override(arg: str, option: str = "--set") -> Override:
    path, sep, text = arg.partition("=")
    if not sep or not path.strip() or not text.strip():
        raise PayoutError(error(option, f"{arg!r} is not PATH=VALUE", "e.g. PAL-50.at_least=45% or "
                                "SA.kommun.amount_sek=40000000"))
    return Override(path.strip(), text.strip())


def _identifies(item: Any, name: str) -> bool:
    """A list element named by its id (a pot, a budget line) or its recipient type (a sub-pot)."""
    if not isinstance(item, dict):
        return False
    return item.get("id") == name or item.get("type") == name or (
        isinstance(item.get("type"), list) and "+".join(item["type"]) == name)


def _children(node: Any, loc: tuple) -> list[tuple[tuple, Any, Any]]:
    """(location, container, key) of every direct child."""
    if isinstance(node, dict):
        return [(loc + (k,), node, k) for k in node]
    if isinstance(node, list):
        return [(loc + (i,), node, i) for i in range(len(node))]
    return []


def _step(node: Any, loc: tuple, name: str) -> list[tuple[tuple, Any, Any]]:
    """Where `name` leads from `node`: a key, a list index, an element by id or type, or, if none of
    these is a direct child, the nearest descendants so named (`PAL-50.at_least` for
    `pots.<PAL-50>.qualify.0.ratio.at_least`)."""
    if isinstance(node, dict) and name in node:
        return [(loc + (name,), node, name)]
    if isinstance(node, list):
        if name.isdigit() and int(name) < len(node):
            return [(loc + (int(name),), node, int(name))]
        named = [(loc + (i,), node, i) for i, item in enumerate(node) if _identifies(item, name)]
        if named:
            return named
    level = _children(node, loc)
    while level:  # breadth first: the nearest match wins, and two at one depth are ambiguous
        found = [(l, c, k) for l, c, k in level if k == name or _identifies(c[k], name)]
        if found:
            return found
        level = [child for l, c, k in level for child in _children(c[k], l)]
    return []


def _shown(loc: tuple, raw: dict) -> str:
    parts, node = [], raw
    for key in loc:
        item = node[key]
        parts.append(item["id"] if isinstance(key, int) and isinstance(item, dict) and "id" in item else str(key))
        node = item
    return ".".join(parts)


def resolve(raw: dict, path: str) -> tuple[tuple, Any, Any]:
    """The one place in the rule file's data that PATH names, as (location, container, key)."""
    node, loc, here = raw, (), None
    for name in path.split("."):
        found = _step(node, loc, name)
        if not found:
            raise PayoutError(error(f"--set {path}", f"{name!r} names nothing under {_shown(loc, raw) or 'the rule file'}",
                                    "write the path as in the rule file, e.g. PAL-50.at_least or "
                                    "pots.PAL-50.recipients.kommun.share"))
        if len(found) > 1:
            options = ", ".join(_shown(l, raw) for l, _, _ in found)
            raise PayoutError(error(f"--set {path}", f"{name!r} is ambiguous: {options}", "name one of them"))
        here = found[0]
        loc, node = here[0], here[1][here[2]]
    if isinstance(node, (dict, list)):
        raise PayoutError(error(f"--set {path}", f"names a whole section ({_shown(loc, raw)}), not a value",
                                "name one value, e.g. PAL-50.at_least"))
    return here


def apply(raw: dict, overrides: list[Override]) -> tuple[dict, list[tuple]]:
    """A copy of the rule file's data with the overrides set; the location each one set."""
    from .rules import parse_yaml

    changed = copy.deepcopy(raw)
    locations = []
    for o in overrides:
        loc, container, key = resolve(changed, o.path)
        try:
            value, _ = parse_yaml(o.text)  # read as the rule file reads it: strict YAML, exact decimals
        except Exception as exc:
            raise PayoutError(error(f"--set {o}", f"the value is not valid YAML: {exc}")) from None
        container[key] = value
        locations.append(loc)
    return changed, locations


def scenario_rules(raw: dict, overrides: list[Override], where: str):
    """The scenario's rules, validated by the rule file's own schema; errors name the override."""
    from .rules import validate_rules

    changed, locations = apply(raw, overrides)
    label = f"{where} with " + " ".join(f"--set {o}" for o in overrides) if overrides else where
    try:
        rules = validate_rules(changed, label)
    except PayoutError as exc:
        hints = _related(changed, locations)
        if not hints:
            raise
        raise PayoutError([p if p.hint else type(p)(p.severity, p.where, p.message, hints)
                           for p in exc.problems]) from None
    rules._overrides = tuple(overrides)
    return rules


def _related(changed: dict, locations: list[tuple]) -> str | None:
    """A sub-pot's amount changed where the pot's amount is their sum: say which value must follow."""
    for loc in locations:
        if len(loc) == 5 and loc[0] == "pots" and loc[2] == "recipients" and loc[4] == "amount_sek":
            pot = changed["pots"][loc[1]]
            amounts = [e.get("amount_sek") for e in pot.get("recipients", [])]
            if all(isinstance(a, int) for a in amounts) and sum(amounts) != pot.get("amount_sek"):
                return (f"the pot's amount is the sum of its sub-pots: also --set {pot.get('id')}.amount_sek="
                        f"{sum(amounts)}")
    return None


def raw_rules(path: Path) -> dict:
    from .rules import parse_yaml

    document, _ = parse_yaml(Path(path).read_bytes().decode("utf-8-sig"))
    return document


# --- sweeps --------------------------------------------------------------------------------------

_PLAIN_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?%?")


def _number(text: str) -> tuple[Fraction, bool]:
    """A sweep bound or step as typed: plain ASCII digits, an optional decimal point and %; nothing that
    the rule file itself would refuse (1e3, 1_000, 5.0 for kronor are refused when the values are read)."""
    text = text.strip()
    if not _PLAIN_NUMBER.fullmatch(text):
        raise PayoutError(error("--sweep", f"{text!r} is not a plain number", "write e.g. 40%, 0.5% or 40000000"))
    return Fraction(Decimal(text.rstrip("%"))), text.endswith("%")


def _text(value: Fraction, percent: bool) -> str:
    """A swept value as the rule file would hold it: '45%', '45.5%', '40000000'."""
    decimal = Decimal(value.numerator) / Decimal(value.denominator)
    text = format(decimal.normalize(), "f") if value.denominator != 1 else str(value.numerator)
    return text + ("%" if percent else "")


def sweep_values(arg: str) -> tuple[str, list[str]]:
    """`PATH=FROM..TO:STEP` as the list of values, both ends included, exactly (no float steps); a STEP
    that does not land on TO is refused rather than silently ending short of it."""
    path, sep, spec = arg.partition("=")
    match = re.fullmatch(r"(.+?)\.\.(.+?):(.+)", spec.strip()) if sep else None
    if not match:
        raise PayoutError(error("--sweep", f"{arg!r} is not PATH=FROM..TO:STEP", "e.g. PAL-50.at_least=40%..60%:1%"))
    (start, p1), (stop, p2), (step, p3) = (_number(g) for g in match.groups())
    if not p1 == p2 == p3:
        raise PayoutError(error("--sweep", f"{arg!r}: give FROM, TO and STEP all in % or all as numbers"))
    if step <= 0 or stop < start:
        raise PayoutError(error("--sweep", f"{arg!r}: STEP must be positive and TO at least FROM"))
    steps = (stop - start) / step
    if steps.denominator != 1:
        last = start + int(steps) * step
        raise PayoutError(error("--sweep", f"{arg!r}: steps of {_text(step, p3)} from {_text(start, p1)} do not "
                                f"land on {_text(stop, p2)} (the last would be {_text(last, p1)})",
                                "choose a STEP that divides TO − FROM"))
    count = int(steps) + 1
    if count > MAX_SCENARIOS:
        raise PayoutError(error("--sweep", f"{arg!r} gives {count} values; at most {MAX_SCENARIOS}"))
    return path.strip(), [_text(start + i * step, p1) for i in range(count)]


@dataclass
class Scenario:
    name: str
    overrides: list[Override] = field(default_factory=list)


def grid(sweeps: list[str]) -> list[Scenario]:
    axes = [sweep_values(s) for s in sweeps]
    total = 1
    for _, values in axes:
        total *= len(values)
    if total > MAX_SCENARIOS:
        raise PayoutError(error("--sweep", f"the grid has {total} scenarios; at most {MAX_SCENARIOS}",
                                "use larger steps, or fewer --sweep axes"))
    scenarios = []
    for values in product(*(vals for _, vals in axes)):
        overrides = [Override(path, v) for (path, _), v in zip(axes, values)]
        scenarios.append(Scenario(" ".join(str(o) for o in overrides), overrides))
    return scenarios


def scenarios_file(path: Path) -> list[Scenario]:
    """Named scenarios: YAML (`name: {PATH: VALUE, ...}`) or CSV (`scenario,path,value`, one override a row)."""
    import csv

    from .rules import parse_yaml

    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PayoutError(error(str(path), f"cannot be read as UTF-8 text: {exc}")) from None
    found: dict[str, list[Override]] = {}
    if path.suffix.lower() == ".csv":
        delimiter = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
        rows = list(csv.reader(text.splitlines(), delimiter=delimiter))
        if not rows or [c.strip().lower() for c in rows[0][:3]] != ["scenario", "path", "value"]:
            raise PayoutError(error(f"{path} row 1", "expected the columns scenario, path, value"))
        if len(rows[0]) != 3:
            raise PayoutError(error(f"{path} row 1", f"has {len(rows[0])} columns; expected scenario, path, value"))
        seen: dict[tuple[str, str], int] = {}
        for line, row in enumerate(rows[1:], 2):
            if not any(c.strip() for c in row):
                continue
            if len(row) != 3 or not all(c.strip() for c in row):
                raise PayoutError(error(f"{path} row {line}", "needs exactly a scenario, a path and a value"))
            name, where = row[0].strip(), row[1].strip()
            if (name, where) in seen:
                raise PayoutError(error(f"{path} row {line}", f"scenario {name!r} sets {where} twice "
                                        f"(first on row {seen[name, where]})"))
            seen[name, where] = line
            found.setdefault(name, []).append(Override(where, row[2].strip()))
    else:
        try:
            document, _ = parse_yaml(text)
        except Exception as exc:
            raise PayoutError(error(str(path), f"not valid YAML: {exc}")) from None
        if not isinstance(document, dict) or not all(isinstance(v, dict) for v in document.values()):
            raise PayoutError(error(str(path), "expected named scenarios: `name: {PATH: VALUE, ...}`"))
        for name, values in document.items():
            if str(name) in found:
                raise PayoutError(error(str(path), f"scenario {str(name)!r} is named twice"))
            found[str(name)] = [Override(str(k), _yaml_text(v)) for k, v in values.items()]
    if not found:
        raise PayoutError(error(str(path), "holds no scenario"))
    return [Scenario(name, overrides) for name, overrides in found.items()]


def _yaml_text(value: Any) -> str:
    """The value as YAML text that reads back as the same value and type ("40000000" stays text)."""
    import json

    if isinstance(value, str):
        return value if _PLAIN_NUMBER.fullmatch(value) and value.endswith("%") else json.dumps(value, ensure_ascii=False)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- computing scenarios -------------------------------------------------------------------------

def _field_check(loc: tuple):
    """The rule file's own validator for a value the compiled form can take, by where it sits."""
    from . import rules as R

    if len(loc) == 6 and loc[0] == "pots" and loc[2] == "qualify" and loc[4] == "ratio" and loc[5] == "at_least":
        return "threshold", R._proportion
    if len(loc) == 3 and loc[0] == "pots" and loc[2] == "amount_sek":
        return "amount", R._whole_kronor
    if len(loc) == 5 and loc[0] == "pots" and loc[2] == "recipients" and loc[4] == "share":
        return "share", R._positive_share
    if len(loc) == 5 and loc[0] == "pots" and loc[2] == "recipients" and loc[4] == "amount_sek":
        def positive(value):
            value = R._whole_kronor(value)
            if value <= 0:
                raise ValueError("a sub-pot of 0 kr pays nobody")
            return value
        return "sub_amount", positive
    return None, None


class Planner:
    """Turns a scenario's overrides into changes of the compiled pots, each value validated by the rule
    file's own validator; None where only the full engine can compute the scenario."""

    def __init__(self, raw: dict, compiled):
        from .rules import parse_yaml

        self.raw, self.compiled, self._parse = raw, compiled, parse_yaml
        self._values: dict[tuple, Any] = {}
        self._places: dict[str, tuple] = {}
        self._checked: set[tuple] = set()

    def changes(self, scenario: Scenario) -> dict | None:
        plan: dict[str, dict] = {}
        edits: dict[int, list[tuple[tuple, Any]]] = {}
        for o in scenario.overrides:
            if o.path not in self._places:
                self._places[o.path] = resolve(self.raw, o.path)[0]
            loc = self._places[o.path]
            kind, check = _field_check(loc)
            if kind is None:
                return None
            pot = self.raw["pots"][loc[1]]
            compiled = self.compiled.pots.get(pot.get("id"))
            if compiled is None:
                return None
            raw_value, value = self._value(o, loc, check, scenario)
            edits.setdefault(loc[1], []).append((loc[2:], raw_value))
            change = plan.setdefault(compiled.id, {})
            if kind == "threshold":
                if compiled.thresholds[loc[3]] is None:
                    return None
                change.setdefault("thresholds", list(compiled.thresholds))[loc[3]] = value
            elif kind == "amount":
                change["amount"] = value
            else:
                entries = change.setdefault("entries", [dict(e) for e in compiled.entries])
                entries[loc[3]]["share" if kind == "share" else "amount"] = value
        for index, changed in edits.items():  # each scenario's pots validated whole, as the rule file's
            self._check_pot(index, changed, scenario)
        return plan

    def _value(self, o: Override, loc: tuple, check, scenario: Scenario):
        key = (loc, o.text)
        if key not in self._values:
            try:
                raw, _ = self._parse(o.text)
                self._values[key] = raw, check(raw)
            except ValueError as exc:
                raise PayoutError(error(f"scenario {scenario.name}: {o}", f"{_shown(loc, self.raw)}: {exc}")) from None
            except Exception as exc:  # YAML the strict loader refuses
                raise PayoutError(error(f"scenario {scenario.name}: {o}", f"not a valid value: {exc}")) from None
        return self._values[key]

    def _check_pot(self, index: int, changed: list[tuple[tuple, Any]], scenario: Scenario) -> None:
        """The pot with the scenario's values, through the rule file's Pot model (shares that add up,
        amounts above 0, ...); a refusal is reported as the whole rule file's validation words it."""
        from pydantic import ValidationError

        from .rules import Pot

        key = (index, tuple((loc, repr(v)) for loc, v in changed))
        if key in self._checked:
            return
        pot = dict(self.raw["pots"][index])
        for loc, value in changed:  # copies along the changed path only: the rest is shared, never changed
            node = pot
            for part in loc[:-1]:
                node[part] = copy.copy(node[part])
                node = node[part]
            node[loc[-1]] = value
        try:
            Pot.model_validate(pot)
        except (ValidationError, ValueError):
            scenario_rules(self.raw, scenario.overrides, f"scenario {scenario.name}")  # raises, in its words
            raise PayoutError(error(f"scenario {scenario.name}", "refused by the rule file's schema")) from None
        self._checked.add(key)


@dataclass
class SweepResult:
    base: Any  # the base run's Result
    compiled: Any
    scenarios: list[Scenario]
    outcomes: list[Any]  # compiled.Outcome per scenario
    fast: int  # how many scenarios the compiled form computed (the rest: the full engine)


def outcome_of(result, compiled) -> Any:
    """A full-engine Result as a compiled.Outcome, in the base run's order of recipients."""
    import numpy as np

    from .compiled import Outcome

    position = {r: i for i, r in enumerate(compiled.recipients)}
    amounts = np.zeros(len(position), dtype=np.int64)
    for r, amount in result.totals():
        if r not in position:
            raise PayoutError(error("scenario", f"{r.type} {r.code} is not a recipient of the base run"))
        amounts[position[r]] = amount
    return Outcome({sp.id: (sp.qualified, sp.paid, sp.withheld, sp.unpaid) for sp in result.subpots}, amounts)


def run_scenarios(inp, scenarios: list[Scenario], progress=None) -> SweepResult:
    """Every scenario, each validated: through the compiled pots where it can be (its values by the rule
    file's validators, its pots by the Pot model), else through the full engine with the same gate as
    `run` (and the data read again when the scenario changes how it is read)."""
    from . import api
    from .compiled import Compiled
    from .data import load_dataset
    from .pipeline import compute
    from .validate import rule_warnings

    if len(scenarios) > MAX_SCENARIOS:
        raise PayoutError(error("whatif", f"{len(scenarios)} scenarios; at most {MAX_SCENARIOS} in one sweep",
                                "use larger steps, or fewer --sweep axes"))
    base = api.compute(inp)
    raw = raw_rules(inp.rules_path)
    compiled = Compiled(base)
    planner = Planner(raw, compiled)
    outcomes, fast = [], 0
    for count, scenario in enumerate(scenarios, 1):
        plan = planner.changes(scenario)
        if plan is not None:
            outcomes.append(compiled.evaluate(plan))
            fast += 1
        else:
            rules = scenario_rules(raw, scenario.overrides, f"scenario {scenario.name}")
            errors = [p for p in rule_warnings(rules, inp.rules_path.name) if p.severity == "error"]
            if errors:
                raise PayoutError(errors)
            touches_data = any(resolve(raw, o.path)[0][0] == "data" for o in scenario.overrides)
            data = load_dataset(inp.data_dir, rules) if touches_data else base.data
            outcomes.append(outcome_of(compute(rules, data), compiled))
        if progress and (count % 64 == 0 or count == len(scenarios)):
            progress(count, len(scenarios))
    return SweepResult(base, compiled, scenarios, outcomes, fast)


MAX_SCENARIOS = 20_000


# --- what a scenario changed ---------------------------------------------------------------------

COMPARISON_COLUMNS = ["recipient_type", "code", "name", "base_sek", "scenario_sek", "change_sek",
                      "newly_qualified", "dropped_out"]
POT_COMPARISON_COLUMNS = ["pot", "base_qualified", "scenario_qualified", "base_paid_sek", "scenario_paid_sek",
                          "base_withheld_sek", "scenario_withheld_sek", "base_unpaid_sek", "scenario_unpaid_sek"]


def comparison(base, scenario) -> tuple[list[list], list[list]]:
    """Per recipient (base, scenario, change, the pots it newly qualifies for or drops out of) and per
    sub-pot (qualified, paid, withheld, unpaid, before and after)."""
    before, after = dict(base.totals()), dict(scenario.totals())
    qualified: dict = {}  # recipient -> {sub-pot: [in the base, in the scenario]}
    for result, label in ((base, 0), (scenario, 1)):
        for sp in result.subpots:
            for row in sp.rows:
                qualified.setdefault(row.recipient, {}).setdefault(sp.id, [False, False])[label] = row.qualified
    people = []
    for r in sorted(set(before) | set(after), key=lambda r: ({"kommun": 0, "landsting": 1, "regiondel": 2,
                                                             "lan": 3}[r.type], r.code)):
        mine = qualified.get(r, {})
        gained = sorted(sp for sp, (a, b) in mine.items() if b and not a)
        lost = sorted(sp for sp, (a, b) in mine.items() if a and not b)
        old, new = before.get(r, 0), after.get(r, 0)
        people.append([r.type, r.code, r.name, old, new, new - old, " ".join(gained), " ".join(lost)])
    pots = []
    base_sp = {sp.id: sp for sp in base.subpots}
    for sp in scenario.subpots:
        b = base_sp.get(sp.id)
        pots.append([sp.id, b.qualified if b else 0, sp.qualified, b.paid if b else 0, sp.paid,
                     b.withheld if b else 0, sp.withheld, b.unpaid if b else 0, sp.unpaid])
    return people, pots


def write_comparison(base, scenario, folder: Path) -> list[str]:
    from .outputs import csv_text

    people, pots = comparison(base, scenario)
    files = {"comparison.csv": csv_text(COMPARISON_COLUMNS, people),
             "comparison_pots.csv": csv_text(POT_COMPARISON_COLUMNS, pots)}
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8", newline="")
    return list(files)


# --- a sweep's outputs ---------------------------------------------------------------------------

SWEEP_MANIFEST = "sweep.json"
TYPE_ORDER = ("kommun", "landsting", "regiondel", "lan")


def sweep_tables(sweep: SweepResult) -> tuple[list[str], list[list], list[str], list[list]]:
    """sweep.csv (one row per scenario) and sweep_recipients.csv (one row per recipient, one column per scenario)."""
    subpots = [sp.id for sp in sweep.base.subpots]
    types = [t for t in TYPE_ORDER if any(r.type == t for r in sweep.compiled.recipients)]
    of_type = {t: [i for i, r in enumerate(sweep.compiled.recipients) if r.type == t] for t in types}
    columns = ["scenario", "overrides"]
    for sp in subpots:
        columns += [f"{sp}:qualified", f"{sp}:paid_sek", f"{sp}:withheld_sek", f"{sp}:unpaid_sek"]
    columns += [f"total_{t}_sek" for t in types] + ["total_paid_sek"]
    rows = []
    for scenario, outcome in zip(sweep.scenarios, sweep.outcomes):
        row = [scenario.name, " ".join(str(o) for o in scenario.overrides)]
        for sp in subpots:
            row += list(outcome.subpots[sp])
        row += [int(outcome.amounts[of_type[t]].sum()) for t in types] + [int(outcome.amounts.sum())]
        rows.append(row)
    people_columns = ["recipient_type", "code", "name"] + [s.name for s in sweep.scenarios]
    matrix = [[r.type, r.code, r.name] + [int(o.amounts[i]) for o in sweep.outcomes]
              for i, r in enumerate(sweep.compiled.recipients)]
    return columns, rows, people_columns, matrix


def write_sweep(sweep: SweepResult, folder: Path, axis: tuple[str, list[str]] | None) -> list[str]:
    from .outputs import csv_text

    columns, rows, people_columns, matrix = sweep_tables(sweep)
    (folder / "sweep.csv").write_text(csv_text(columns, rows), encoding="utf-8", newline="")
    (folder / "sweep_recipients.csv").write_text(csv_text(people_columns, matrix), encoding="utf-8", newline="")
    (folder / "sweep.html").write_text(sweep_html(sweep, axis), encoding="utf-8")
    return ["sweep.csv", "sweep_recipients.csv", "sweep.html"]


def sweep_html(sweep: SweepResult, axis: tuple[str, list[str]] | None) -> str:
    """Self-contained: no scripts, no links; charts as inline SVG against the swept value."""
    from jinja2 import Environment, select_autoescape

    from . import charts, fmt, resources

    if axis is not None:
        xs = [float(_number(v)[0]) for v in axis[1]]  # float for drawing only: every figure shown is exact
        x_label, ticks = axis[0], axis[1]
    else:
        xs = [float(i) for i in range(len(sweep.scenarios))]
        x_label, ticks = "scenario", [s.name for s in sweep.scenarios]
    pots = []
    base_pots = {sp.id: sp for sp in sweep.base.subpots}
    for pot in sweep.base.rules.pots:
        ids = [sp.id for sp in sweep.base.subpots if sp.pot_id == pot.id]
        qualified = {i: [o.subpots[i][0] for o in sweep.outcomes] for i in ids}
        paid = {i: [o.subpots[i][1] for o in sweep.outcomes] for i in ids}
        moved = any(len(set(v)) > 1 for v in list(qualified.values()) + list(paid.values()))
        pots.append({"id": pot.id, "title": pot.title, "moved": moved,
                     "qualified": charts.line_chart(xs, qualified, x_label, "kvalificerade", ticks),
                     "paid": charts.line_chart(xs, paid, x_label, "utbetalt (kr)", ticks, money=True),
                     "rows": [{"id": i, "base_qualified": base_pots[i].qualified, "eligible": base_pots[i].eligible,
                               "min_q": min(qualified[i]), "max_q": max(qualified[i]),
                               "min_paid": fmt.kr(min(paid[i])), "max_paid": fmt.kr(max(paid[i]))} for i in ids]})
    types = [t for t in TYPE_ORDER if any(r.type == t for r in sweep.compiled.recipients)]
    of_type = {t: [i for i, r in enumerate(sweep.compiled.recipients) if r.type == t] for t in types}
    from .phrases import recipient_type

    per_type = {recipient_type(t): [int(o.amounts[of_type[t]].sum()) for o in sweep.outcomes] for t in types}
    first, last = sweep.outcomes[0].amounts, sweep.outcomes[-1].amounts
    moves = sorted(range(len(first)), key=lambda i: (-abs(int(last[i]) - int(first[i])), i))[:15]
    movers = [{"name": f"{recipient_type(sweep.compiled.recipients[i].type)} {sweep.compiled.recipients[i].code} "
                       f"{sweep.compiled.recipients[i].name}", "first": fmt.kr(int(first[i])), "last": fmt.kr(int(last[i])),
               "change": ("+" if last[i] > first[i] else "") + fmt.kr(int(last[i]) - int(first[i]))}
              for i in moves if last[i] != first[i]] if axis is not None else []  # only along a swept value
    env = Environment(autoescape=select_autoescape(default=True), keep_trailing_newline=True)
    template = env.from_string(resources.shipped("templates").joinpath("sweep.html.j2").read_text(encoding="utf-8"))
    return template.render(
        year=sweep.base.rules.year, title=sweep.base.rules.agreement.title, count=len(sweep.scenarios),
        axis=x_label, first=sweep.scenarios[0].name, last=sweep.scenarios[-1].name, pots=pots,
        types=charts.line_chart(xs, per_type, x_label, "utbetalt (kr)", ticks, money=True), movers=movers,
        sample=sweep.base.data.synthetic if sweep.base.data else False)


def recorded_sweep(folder: Path) -> dict[str, str | None]:
    """The files sweep.json records (what `safefs.staged` may replace)."""
    from .safefs import _manifest_of_ours

    data, intact = _manifest_of_ours(Path(folder) / SWEEP_MANIFEST)
    outputs = data.get("outputs") if data else None
    if not isinstance(outputs, dict):
        return {}
    recorded: dict[str, str | None] = {SWEEP_MANIFEST: None if intact else "edited"}
    recorded.update({n: d for n, d in outputs.items() if isinstance(d, str) and "/" not in n})
    return recorded
