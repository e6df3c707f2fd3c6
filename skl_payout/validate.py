"""Checking a year without writing anything: rules, data, tables and the budget reconciliation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import fmt
from .errors import PayoutError, Problem, error, warning
from .rules import Rules


@dataclass
class Report:
    year: int | None
    rules_path: Path
    data_dir: Path
    problems: list[Problem] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # what was checked and held

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict:
        return {"year": self.year, "rules": str(self.rules_path), "data": str(self.data_dir), "ok": self.ok,
                "errors": len(self.errors), "warnings": len(self.warnings),
                "problems": [p.as_dict() for p in self.problems], "checks": self.checks}


def _kr(amount: int) -> str:
    return fmt.kr(amount, nbsp=False)


def reconcile_budget(rules: Rules, where: str) -> tuple[list[Problem], list[str]]:
    """Stated totals against their parts, pots against their budget lines; name every gap."""
    problems, checks = [], []
    lines = {line.id: line for line in rules.budget.lines}
    totals = {t.id: t for t in rules.budget.totals}
    pots = {p.id: p for p in rules.pots}
    for line in rules.budget.lines:
        if line.pots:
            pot_sum = sum(pots[p].amount_sek for p in line.pots)
            if pot_sum != line.amount_sek:
                problems.append(error(f"{where}: budget line {line.id}",
                                      f"its pots ({', '.join(line.pots)}) add up to {_kr(pot_sum)}, "
                                      f"the line says {_kr(line.amount_sek)}"))
            else:
                checks.append(f"budget line {line.id}: pots {', '.join(line.pots)} = {_kr(pot_sum)}")
        if not line.modelled:
            problems.append(warning(f"{where}: budget line {line.id}",
                                    f"not modelled: {line.label}, {_kr(line.amount_sek)}; the sources give no pots, "
                                    "thresholds or key, so the tool distributes none of it"))
    in_lines = {p for line in rules.budget.lines for p in line.pots}
    for pot in rules.pots:
        if pot.id not in in_lines:
            problems.append(warning(f"{where}: pot {pot.id}", "the pot is in no budget line"))

    def leaves(part: str) -> list[str]:
        return [leaf for sub in totals[part].parts for leaf in leaves(sub)] if part in totals else [part]

    for total in rules.budget.totals:
        amounts = {part: (lines[part].amount_sek if part in lines else totals[part].amount_sek) for part in total.parts}
        parts_sum = sum(amounts.values())
        diff = parts_sum - total.amount_sek
        found = [leaf for part in total.parts for leaf in leaves(part)]
        doubles = []
        for leaf in dict.fromkeys(found):
            containers = [c for c in lines[leaf].included_in if c in found]
            if found.count(leaf) > 1 or containers:
                how = f"it is also included in {', '.join(containers)}" if containers else "it is listed twice"
                doubles.append(f"{lines[leaf].label} ({_kr(lines[leaf].amount_sek)}) is counted twice: {how}")
        label = f"{where}: stated total {total.id}"
        if diff == 0:  # a stated sub-total already counts what it contains once
            checks.append(f"{total.label}: {' + '.join(_kr(a) for a in amounts.values())} = {_kr(total.amount_sek)}")
            continue
        message = (f"{total.label}: the parts ({', '.join(total.parts)}) add up to {_kr(parts_sum)}, the source states "
                   f"{_kr(total.amount_sek)}: a difference of {'+' if diff > 0 else ''}{_kr(diff)}")
        if doubles:
            message += ". " + "; ".join(doubles)
        if diff == total.acknowledged_difference_sek and diff != 0:
            problems.append(warning(label, message + " (acknowledged in the rule file)", total.note))
        else:
            problems.append(error(label, message, "if the source really says so, set acknowledged_difference_sek"))
    return problems, checks


def table_checks(rules: Rules, where: str) -> tuple[list[Problem], list[str]]:
    problems, checks = [], []
    for pot in rules.pots:
        table = pot.distribute.table
        if table is None:
            continue
        gap = pot.distribute.acknowledged_gap
        if gap:
            problems.append(warning(f"{where}: pot {pot.id}",
                                    f"the fixed table sums to {_kr(sum(table.values()))}, {_kr(gap.amount_sek)} less than "
                                    f"the pot's {_kr(pot.amount_sek)}; the gap is reported as unpaid", gap.note))
        else:
            checks.append(f"pot {pot.id}: fixed table sums to the pot, {_kr(pot.amount_sek)}")
    return problems, checks


def published_checks(rules: Rules, result, where: str) -> tuple[list[Problem], list[str]]:
    """Qualifier counts the sources publish, against what this data gives (a warning if they differ)."""
    problems, checks = [], []
    counts = {sp.id: sp.qualified for sp in result.subpots}
    for pub in rules.published:
        if pub.pot not in counts:
            problems.append(error(f"{where}: published", f"names sub-pot {pub.pot!r}, which this run does not have",
                                  f"sub-pots: {', '.join(counts)}"))
        elif counts[pub.pot] == pub.qualified:
            checks.append(f"published outcome reproduced: {pub.qualified} qualified for {pub.pot} ({pub.source.cite()})")
        else:
            problems.append(warning(f"{where}: published", f"{pub.pot}: this data gives {counts[pub.pot]} qualified, "
                                    f"the source reports {pub.qualified} ({pub.source.cite()})",
                                    "expected with other data than the year's real register figures"))
    return problems, checks


def recipient_checks(rules: Rules, data, where: str) -> tuple[list[Problem], list[str]]:
    """As many recipients of each type as the agreement covers: one missing from every file gets
    nothing and its share goes to the others, which the data alone cannot show."""
    problems, checks = [], []
    for rtype, expected in rules.expected_recipients.items():
        found = len(data.of_type(rtype))
        if found == expected:
            checks.append(f"{found} {rtype} recipients, as the rule file expects")
        else:
            problems.append(warning(f"{where}: expected_recipients.{rtype}",
                                    f"the data has {found} {rtype} recipients, the agreement covers {expected}: "
                                    f"{'a missing one gets nothing and its share goes to the others' if found < expected else 'more than it covers'}",
                                    "check authorities.csv and counties.csv against SCB's list for the year"))
    return problems, checks


def rule_warnings(rules: Rules, where: str) -> list[Problem]:
    """What a run should say aloud: acknowledged gaps and money the tool does not model."""
    return [p for check in (table_checks, reconcile_budget) for p in check(rules, where)[0]]


def validate(rules_path: Path, data_dir: Path, year: int | None = None) -> Report:
    """Every check that can be made without writing; collects problems rather than stopping at one."""
    from .data import load_dataset
    from .pipeline import compute
    from .rules import load_rules

    report = Report(year, rules_path, data_dir)
    try:
        rules = load_rules(rules_path)
    except PayoutError as exc:
        report.problems += exc.problems
        return report
    report.year = rules.year
    report.checks.append(f"rule file {rules_path.name}: schema valid, every reference resolves")
    where = rules_path.name
    for check in (table_checks, reconcile_budget):
        problems, checks = check(rules, where)
        report.problems += problems
        report.checks += checks
    try:
        data = load_dataset(data_dir, rules)
        report.checks.append(f"data {data_dir}: {len(data.files)} files read, every row valid")
        problems, checks = recipient_checks(rules, data, where)
        report.problems += problems
        report.checks += checks
        result = compute(rules, data)
        report.checks.append(f"dry run: {_kr(result.paid)} of {_kr(sum(p.amount_sek for p in rules.pots))} would be paid")
        problems, checks = published_checks(rules, result, where)
        report.problems += problems
        report.checks += checks
    except PayoutError as exc:
        report.problems += exc.problems
    return report
