"""Checking a year without writing anything: rules, data, tables and the budget reconciliation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import fmt
from .errors import PayoutError, Problem, error, note, warning
from .memo import Recent
from .rules import Rules


@dataclass
class Report:
    year: int | None
    rules_path: Path
    data_dir: Path
    problems: list[Problem] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # what was checked and held
    assumptions: list[dict] = field(default_factory=list)  # the rule file's assumptions, as data
    conflicts: list[dict] = field(default_factory=list)  # the source conflicts it resolves

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
                "problems": [p.as_dict() for p in self.problems], "checks": self.checks,
                "assumptions": self.assumptions, "conflicts": self.conflicts}


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
        if total.unitemised_sek:
            amounts["not itemised in the sources"] = total.unitemised_sek
            problems.append(note(f"{where}: stated total {total.id}",
                                 f"{total.label}: {_kr(total.unitemised_sek)} of {_kr(total.amount_sek)} is not itemised "
                                 "in the sources; the tool distributes none of it", _said(total.note)))
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
            problems.append(warning(label, message + " (acknowledged in the rule file)", _said(total.note)))
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
                                    f"the pot's {_kr(pot.amount_sek)}; the gap is reported as unpaid", _said(gap.note)))
        else:
            checks.append(f"pot {pot.id}: fixed table sums to the pot, {_kr(pot.amount_sek)}")
        for d in pot.distribute.source_discrepancies:
            problems.append(warning(f"{where}: pot {pot.id}, code {d.code}",
                                    f"source discrepancy: the source prints {_kr(d.printed_sek)} for {d.code}, the rule "
                                    f"file pays {_kr(table[d.code])} (assumption {d.assumption})",
                                    _decision(rules, d.assumption)))
    return problems, checks


def source_checks(rules: Rules, where: str) -> tuple[list[Problem], list[str]]:
    """Every citation against the shipped source documents: the section exists, the quote stands there.

    A rule file is data anyone can edit, and what it quotes reaches letters and reports under a
    source's name; so a quote the source does not contain is an error, not a test failure.
    """
    from . import sources
    from .rules import _citations, _path_text

    problems, checks = [], []
    shipped = sources.catalogue()
    unchecked: set[str] = set()
    count = 0
    for loc, cite in _citations(rules):
        if cite.document not in shipped:
            unchecked.add(cite.document)
            continue
        listed = rules.sources.get(cite.document)
        why = sources.check(cite.document, cite.section, cite.quote, listed.file if listed else None)
        if why:
            problems.append(error(f"{where}: {_path_text(loc)}", why,
                                  "quote the source verbatim (see sources/README.md), or correct the section"))
        count += 1
    for doc_id, doc in rules.sources.items():
        if doc_id in shipped and (doc.title, doc.cite_as) != (shipped[doc_id]["title"], shipped[doc_id]["cite_as"]):
            problems.append(warning(f"{where}: sources.{doc_id}", "title or cite_as differs from the shipped "
                                    "catalogue (sources/index.yaml): letters name the document differently"))
    if unchecked:
        problems.append(note(f"{where}: sources", f"cites {', '.join(sorted(unchecked))}, not among the shipped "
                                                  "source documents: those quotes are not checked"))
    if count:
        checks.append(f"{count} citations checked against the shipped source documents: every section exists and "
                      "every quote stands in it verbatim")
    return problems, checks


def _decision(rules: Rules, assumption_id: str) -> str | None:
    return _said(next((a.decision for a in rules.assumptions if a.id == assumption_id), None))


def _said(note: str | None) -> str | None:
    """A note of the rule file, in its own (Swedish) words, quoted so the English console stays English."""
    return f"the rule file says: “{note}”" if note else None


def published_checks(rules: Rules, result, where: str) -> tuple[list[Problem], list[str]]:
    """Qualifier counts the sources publish, against what this data gives (a warning if they differ)."""
    problems, checks = [], []
    counts = {sp.id: sp.qualified for sp in result.subpots}
    for pub in rules.published.counts:
        if not pub.comparable:
            continue  # said aloud by published_notes
        if pub.pot not in counts:
            problems.append(error(f"{where}: published", f"names sub-pot {pub.pot!r}, which this run does not have",
                                  f"sub-pots: {', '.join(counts)}"))
        elif counts[pub.pot] == pub.qualified:
            checks.append(f"published outcome reproduced: {pub.qualified} qualified for {pub.pot} ({rules.cite(pub.source)})")
        else:
            problems.append(warning(f"{where}: published", f"{pub.pot}: this data gives {counts[pub.pot]} qualified, "
                                    f"the source reports {pub.qualified} ({rules.cite(pub.source)})",
                                    "expected with other data than the year's real register figures"))
    return problems, checks


def published_money(rules: Rules, where: str) -> tuple[list[Problem], list[str]]:
    """The money the sources say was paid, against what these rules pay with the published qualifier counts.

    This needs no register data: a proportional pot pays a sub-pot in full when anyone in it qualifies,
    and an empty sub-pot's money goes where `on_empty` says. So it checks the rules themselves: an
    `unpaid` default or a table that does not add up would make it fail.
    """
    from .pipeline import split

    problems, checks = [], []
    counts = {pub.pot: pub.qualified for pub in rules.published.counts}
    for entry in rules.published.money:
        paid, unknown = 0, []
        for name in entry.pots:
            pot = rules.pot(name.split("/")[0])
            simulated, why = _simulate(pot, split(pot), counts)
            if simulated is None:
                unknown.append(why)
                continue
            paid += simulated[name] if name != pot.id else sum(simulated.values())
        label = f"{where}: published money {entry.id}"
        cite = rules.cite(entry.source)
        if unknown:
            problems.append(note(label, f"{entry.label}: cannot be checked: {'; '.join(unknown)}"))
        elif paid == entry.paid_sek:
            checks.append(f"published outcome reproduced by the rules: {entry.label}, {_kr(paid)} ({cite})")
        else:
            problems.append(error(label, f"{entry.label}: the sources say {_kr(entry.paid_sek)} was paid ({cite}); with "
                                         f"the published qualifier counts these rules pay {_kr(paid)}",
                                  "check on_empty, the sub-pot amounts and the fixed table"))
    for item in rules.published.unchecked:
        problems.append(note(f"{where}: published", f"not checked: {item.figure} ({rules.cite(item.source)}): {item.why}"))
    for pub in rules.published.counts:
        if not pub.comparable:
            problems.append(note(f"{where}: published", f"not compared with the data: {pub.qualified} qualified for "
                                                        f"{pub.pot} ({rules.cite(pub.source)}): {pub.why}"))
    return problems, checks


def _simulate(pot, parts, counts: dict[str, int]) -> tuple[dict[str, int] | None, str]:
    """What each sub-pot pays given only how many qualified in it, or None and why that is not enough."""
    missing = [sub_id for sub_id, _, _ in parts if sub_id not in counts]
    if missing:
        return None, f"the sources publish no qualifier count for {', '.join(missing)}"
    spec = pot.distribute
    paid: dict[str, int] = {}
    for sub_id, _, budget in parts:
        n = counts[sub_id]
        if spec.method == "fixed_table":
            if n not in (0, len(spec.table)):
                return None, f"{n} of {len(spec.table)} qualified for {sub_id}: the table amounts depend on which"
            paid[sub_id] = sum(spec.table.values()) if n else 0
        elif spec.method == "per_unit" and spec.rate_sek is not None:
            return None, f"{pot.id} pays a fixed rate per unit, which depends on the register data"
        elif spec.among == "eligible" and pot.qualify:
            return None, f"{pot.id} allocates among all eligible: what is paid depends on which qualify"
        else:
            paid[sub_id] = budget if n else 0
    if pot.on_empty == "other_types":
        takers = [sub_id for sub_id, _, _ in parts if counts[sub_id]]
        if takers:
            for sub_id, _, budget in parts:
                if not counts[sub_id] and spec.method != "fixed_table":
                    from .distribute import apportion

                    moved = apportion(budget, {t: next(b for i, _, b in parts if i == t) for t in takers})
                    for t in takers:
                        paid[t] += moved[t].amount
    return paid, ""


def assumption_list(rules: Rules) -> tuple[list[dict], list[dict]]:
    """The rule file's assumptions and source conflicts, as validate --json and run.json record them."""
    assumptions = [{"id": a.id, "decision": a.decision, "evidence": a.evidence, "pots": a.pots,
                    "source": rules.cite(a.source) if a.source else None} for a in rules.assumptions]
    conflicts = [{"id": c.id, "conflict": c.conflict, "reading": c.reading, "pots": c.pots,
                  "assumption": c.assumption} for c in rules.conflicts]
    return assumptions, conflicts


def data_notes(result, where: str) -> list[Problem]:
    """What the data says about the rules' assumptions: values accepted as real, roles paid twice, units."""
    rules, data = result.rules, result.data
    problems = list(data.warnings)
    for pot in rules.pots:
        for sub_id, sub in zip(pot.subpot_ids(), pot.recipients):
            if sub.source_unit and sub.source_unit not in sub.types:
                problems.append(warning(f"{where}: pot {sub_id}",
                                        f"the grant shared this sub-pot among {sub.source_unit} units; these rules and "
                                        f"data pay {'/'.join(sub.types)} instead", _said(sub.source_unit_note)))
    paid = {(r.type, r.code): amount for r, amount in result.totals()}
    for county, name in sorted(data.counties.items()):
        kommuner = [r for r in data.of_type("kommun") if r.county_code == county]
        councils = [r for r in data.of_type("landsting") if r.county_code == county]
        if len(kommuner) == 1 and councils and (("kommun", kommuner[0].code) in paid) and \
                (("landsting", councils[0].code) in paid):
            k, c = kommuner[0], councils[0]
            problems.append(note(f"{where}: county {county} {name}",
                                 f"kommun {k.code} {k.name} is the county's only kommun and holds the county council's "
                                 f"role (landsting {c.code} {c.name}): it is considered in both roles, "
                                 f"{_kr(paid[('kommun', k.code)])} as kommun and {_kr(paid[('landsting', c.code)])} "
                                 "as landsting", "see the rule file's assumptions"))
    if data.payees is not None:  # without payees.csv letters say what is missing; with one, it must cover the run
        from .payees import FILE, missing, missing_warning

        absent = missing(data.payees, [r for r, _ in result.totals()])
        if absent:
            problems.append(missing_warning(FILE, absent))
    return problems


def run_notes(result, where: str) -> list[Problem]:
    """Everything a run says aloud: the rule file's gaps, missing recipients, and what the data shows."""
    return rule_warnings(result.rules, where) + recipient_checks(result.rules, result.data, where)[0] + \
        data_notes(result, where)


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
    """What a run should say aloud: acknowledged gaps, source discrepancies, money not modelled.

    A what-if scenario (rules with overrides) may pay other amounts than the agreement states: there
    the budget's reconciliation is a warning, not an error.

    Said three times in a run (checked before computing, recorded in run.json, printed), so kept for
    the last few rule sets: the rules are immutable and the shipped sources do not change."""
    key = (id(rules), where)
    said = _SAID.get(key)
    if said is not None:
        return list(said[1])
    problems = []
    for check in (source_checks, table_checks, reconcile_budget, published_money):
        found = check(rules, where)[0]
        if rules.overrides and check in (reconcile_budget, published_money):
            found = [Problem("warning", p.where, "in this scenario: " + p.message, p.hint) if p.severity == "error"
                     else p for p in found]
        problems += found
    _SAID.put(key, (rules, tuple(problems)))  # the rules held with their id, which is then never reused
    return problems


_SAID: Recent[tuple] = Recent(8)


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
    report.assumptions, report.conflicts = assumption_list(rules)
    where = rules_path.name
    for check in (source_checks, table_checks, reconcile_budget, published_money):
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
        report.problems += data_notes(result, where)
        withheld = f", {_kr(result.withheld)} withheld until conditions are met" if result.withheld else ""
        report.checks.append(f"dry run: {_kr(result.paid)} of {_kr(sum(p.amount_sek for p in rules.pots))} would be "
                             f"paid{withheld}")
        problems, checks = published_checks(rules, result, where)
        report.problems += problems
        report.checks += checks
    except PayoutError as exc:
        report.problems += exc.problems
    return report
