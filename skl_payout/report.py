"""report.html: one self-contained page for the ministry, with a map of Sweden (no network, no JS)."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from . import __version__, fmt, phrases, resources
from .data import sha256
from .pipeline import Result

MAP_FILE = Path(__file__).parent / "maps" / "sweden.json"
PALETTE = ["#f1eef6", "#bdc9e1", "#74a9cf", "#2b8cbe", "#045a8d"]
NO_PAYOUT = "#f4f4f4"
POP_65 = "population.population_65plus"  # the DOMAIN.md population file's 65+ column
TYPE_NAMES = {"kommun": "Kommuner", "landsting": "Landsting/regioner", "regiondel": "Regiondelar", "lan": "Län"}


@lru_cache(maxsize=1)
def sweden() -> dict:
    return json.loads(MAP_FILE.read_text(encoding="utf-8"))


def classes(values: list[Decimal]) -> list[tuple[Decimal, Decimal]]:
    """Up to five classes over the distinct positive values (in tenths of a krona, as shown), bounds inclusive.

    Payouts per inhabitant take few distinct values (one per combination of pots), so classes are
    cut over distinct values rather than over municipalities, and never repeat a value.
    """
    distinct = sorted({v for v in values if v > 0})
    groups = min(len(PALETTE), len(distinct))
    return [(distinct[len(distinct) * i // groups], distinct[len(distinct) * (i + 1) // groups - 1])
            for i in range(groups)]


def per_capita_map(result: Result) -> dict | None:
    """Kommuner coloured by their own payout per inhabitant aged 65+."""
    table = POP_65.split(".")[0]
    if table not in result.data.tables or "population_65plus" not in result.data.tables[table].spec.columns:
        return None
    totals = {r.code: amount for r, amount in result.totals() if r.type == "kommun"}
    values = {}
    for r in result.data.of_type("kommun"):
        pop = result.data.value(POP_65, r)
        values[r.code] = (r, fmt.floor_decimal(Fraction(totals.get(r.code, 0), pop), 1) if pop else Decimal(0))
    bounds = classes([v for _, v in values.values()])
    shapes = sweden()

    def colour(v: Decimal) -> str:
        if v <= 0 or not bounds:
            return NO_PAYOUT
        return next((PALETTE[i] for i, (_, hi) in enumerate(bounds) if v <= hi), PALETTE[-1])

    kr_each = fmt.decimal_kr
    areas = [{"code": code, "path": shapes["kommuner"][code], "colour": colour(v),
              "title": f"{r.name} ({code}): {kr_each(v)} per invånare 65+, totalt {fmt.kr(totals.get(code, 0))}"}
             for code, (r, v) in sorted(values.items()) if code in shapes["kommuner"]]
    legend = [{"colour": NO_PAYOUT, "label": "ingen utbetalning"}]
    legend += [{"colour": PALETTE[i], "label": kr_each(lo) if lo == hi else f"{kr_each(lo)} – {kr_each(hi)}"}
               for i, (lo, hi) in enumerate(bounds)]
    missing = sorted(set(values) - set(shapes["kommuner"]))
    return {"viewBox": shapes["viewBox"], "areas": areas, "lan": list(shapes["lan"].values()), "legend": legend,
            "missing": missing, "source": shapes["source"]}


def coverage(result: Result) -> list[dict]:
    """For each ratio condition: how many passed, and how many fell short by under 5 percentage points."""
    rows = []
    for sp in result.subpots:
        checks = [(row, row.ratio) for row in sp.rows if row.ratio]
        if not checks:
            continue
        threshold = checks[0][1].threshold
        measured = [c.measure for _, c in checks if c.measure is not None]
        passed = sum(1 for _, c in checks if c.passed)
        near = sum(1 for m in measured if threshold - Fraction(5, 100) <= m < threshold)
        median = sorted(measured)[len(measured) // 2] if measured else None
        rows.append({"pot": sp.id, "requirement": phrases.requirement(checks[0][1]), "eligible": len(checks), "passed": passed,
                     "near": near, "no_data": len(checks) - len(measured),
                     "median": fmt.percent(median) if median is not None else "–"})
    return rows


def notes(rules) -> list[str]:
    """The rule file's own Swedish notes on gaps, double counting and money not modelled."""
    texts = [p.distribute.acknowledged_gap.note for p in rules.pots if p.distribute.acknowledged_gap]
    texts += [t.note for t in rules.budget.totals if t.acknowledged_difference_sek and t.note]
    texts += [f"Ej modellerat: {line.label}, {fmt.kr(line.amount_sek)}. Källorna anger inga potter, villkor eller "
              "fördelningsnyckel, så verktyget fördelar inget av detta belopp." for line in rules.budget.lines
              if not line.modelled]
    # the analysts' cross-references ("(SOURCE_ANALYSIS C19)") are for the rule file's readers, not the report's
    return [re.sub(r"\s*\((?:SOURCE_ANALYSIS|DOMAIN)\b[^)]*\)", "", text) for text in texts]


def context(result: Result, rules_path: Path) -> dict:
    rules = result.rules
    pots = [{"id": sp.id, "title": sp.pot.title, "budget": fmt.kr(sp.budget), "paid": fmt.kr(sp.paid),
             "withheld": fmt.kr(sp.withheld), "unpaid": fmt.kr(sp.unpaid), "qualified": sp.qualified, "eligible": sp.eligible,
             "source": rules.cite(sp.pot.source), "transfers": phrases.transfers(sp)} for sp in result.subpots]
    by_type: dict[str, list[int]] = defaultdict(list)
    by_county: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r, amount in result.totals():
        by_type[r.type].append(amount)
        by_county[r.county_code][r.type] += amount
    types = [{"name": TYPE_NAMES[t], "count": len(a), "paid_count": sum(1 for x in a if x), "amount": fmt.kr(sum(a))}
             for t, a in by_type.items()]
    type_keys = [t for t in ("kommun", "landsting", "regiondel", "lan") if t in by_type]
    counties = []
    for code, name in sorted(result.counties.items()):
        amounts = by_county.get(code, {})
        counties.append({"code": code, "name": name, "cells": [fmt.kr(amounts.get(t, 0)) for t in type_keys],
                         "total": fmt.kr(sum(amounts.values()))})
    budget = sum(sp.budget for sp in result.subpots)
    recipients = [{"type": r.type, "code": r.code, "name": r.name, "county": result.counties.get(r.county_code, ""),
                   "amount": fmt.kr(a)} for r, a in result.totals()]
    return {
        "year": rules.year, "agreement": rules.agreement, "pots": pots, "types": types,
        "type_headers": [TYPE_NAMES[t] for t in type_keys], "counties": counties,
        "county_totals": [fmt.kr(sum(by_type[t])) for t in type_keys],
        "budget": fmt.kr(budget), "paid": fmt.kr(result.paid), "withheld": fmt.kr(result.withheld),
        "has_withheld": result.withheld > 0, "unpaid": fmt.kr(budget - result.paid - result.withheld),
        "coverage": coverage(result), "map": per_capita_map(result), "recipients": recipients,
        "warnings": notes(rules),
        "assumptions": [{"id": a.id, "decision": a.decision, "evidence": a.evidence, "pots": ", ".join(a.pots),
                         "source": rules.cite(a.source) if a.source else None} for a in rules.assumptions],
        "conflicts": [{"id": c.id, "conflict": c.conflict, "reading": c.reading, "pots": ", ".join(c.pots),
                       "assumption": c.assumption} for c in rules.conflicts],
        "tool": {"version": __version__, "rules": rules_path.name, "rules_sha256": (result.rules.sha256 or sha256(rules_path))},
    }


def write_report(result: Result, folder: Path, rules_path: Path, templates: Path | None = None) -> Path:
    from .letters import environment

    env = environment(templates or resources.shipped("templates"), "html")
    path = folder / "report.html"
    path.write_text(env.get_template("report.html.j2").render({**context(result, rules_path), "sample": result.data.synthetic,
                                                                     "scenario": [str(o) for o in result.rules.overrides]}), encoding="utf-8")
    return path
