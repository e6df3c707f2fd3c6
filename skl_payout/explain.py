"""Explain every krona of one authority: the data used, the rule and its source, the arithmetic."""

from __future__ import annotations

from fractions import Fraction

from . import fmt
from .errors import PayoutError, error
from .pipeline import Result, Row


def _exact(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}" if value.denominator != 1 else str(value.numerator)


def explain_row(row: Row, result: Result) -> dict:
    sp, pot, spec = row.subpot, row.subpot.pot, row.subpot.pot.distribute
    item = {
        "pot": sp.id, "title": pot.title, "source": result.rules.cite(pot.source), "quote": pot.source.quote,
        "assumptions": [{"id": a.id, "decision": a.decision, "evidence": a.evidence}
                        for a in result.rules.assumptions if sp.id in a.pots or pot.id in a.pots],
        "qualified": row.qualified,
        "checks": [{"kind": c.kind, "requirement": c.requirement, "value": c.value_text, "passed": c.passed,
                    "shortfall": c.shortfall, "data": c.inputs} for c in row.qualification.checks],
        "method": spec.method, "among": spec.among, "budget_sek": sp.budget,
    }
    if spec.key:
        item["key"] = {"column": spec.key, "value": row.key_value, "data": result.data.where(spec.key, row.recipient)}
        item["key_sum"] = sp.key_sum
    if spec.method == "fixed_table":
        item["table_amount_sek"] = spec.table[row.recipient.code]
        item["table_source"] = result.rules.cite(spec.table_source) if spec.table_source else None
    if row.share is not None:
        item["computation"] = {
            "exact_share_sek": _exact(row.share.exact),
            "exact_share_decimal": str(fmt.floor_decimal(row.share.exact, 4)),
            "floor_sek": row.share.floor, "remainder_krona": row.share.extra,
            "allocation_sek": row.share.amount,
        }
    item["amount_sek"] = row.amount
    item["withheld_sek"] = row.withheld
    return item


def explain(result: Result, code: str, rtype: str | None = None) -> list[dict]:
    matches = [r for r, _ in result.totals() if r.code == code and (rtype is None or r.type == rtype)]
    if not matches:
        known = sorted({r.code for r, _ in result.totals()})
        hint = f"did Excel drop a leading zero? try {code.zfill(4)!r}" if code.zfill(4) in known and code != code.zfill(4) else None
        raise PayoutError(error("CODE", f"no recipient with code {code!r}" + (f" of type {rtype}" if rtype else ""), hint))
    out = []
    for recipient in matches:
        pots = [explain_row(row, result) for row in result.rows_for(recipient)]
        out.append({"type": recipient.type, "code": recipient.code, "name": recipient.name,
                    "county_code": recipient.county_code, "pots": pots,
                    "total_sek": sum(p["amount_sek"] for p in pots)})
    return out


def as_text(item: dict) -> list[str]:
    """Plain lines for the terminal (English frame, Swedish values as in the letters)."""
    lines = [f"{item['type']} {item['code']} {item['name']} (county {item['county_code']})"]
    for p in item["pots"]:
        lines.append("")
        lines.append(f"[{p['pot']}] {p['title']}")
        lines.append(f"  rule source: {p['source']}")
        if p["quote"]:
            lines.append(f"  rule text: \"{p['quote']}\"")
        for a in p["assumptions"]:
            lines.append(f"  assumption {a['id']}: {a['decision']}")
            lines.append(f"    why: {a['evidence']}")
        for c in p["checks"]:
            mark = "met" if c["passed"] else "NOT met"
            lines.append(f"  condition: {c['requirement']}: {c['value']} -> {mark}"
                         + (f" ({c['shortfall']})" if c["shortfall"] and not c["passed"] else ""))
            for d in c["data"]:
                lines.append(f"    data: {d}")
        if "key" in p:
            lines.append(f"  key: {p['key']['column']} = {p['key']['value']} ({p['key']['data']})")
        if p["method"] == "fixed_table":
            lines.append(f"  fixed table ({p.get('table_source')}): {p['table_amount_sek']} kr")
        elif "computation" in p:
            c = p["computation"]
            lines.append(f"  computation: {p['key']['value']} / {p['key_sum']} x {p['budget_sek']} kr = "
                         f"{c['exact_share_sek']} kr = {c['exact_share_decimal']} kr")
            lines.append(f"  floor {c['floor_sek']} kr + remainder krona {c['remainder_krona']} = {c['allocation_sek']} kr"
                         + ("" if p["qualified"] else " (withheld until the condition is met)" if p["withheld_sek"]
                            else " (not paid: a condition is not met)"))
        else:
            lines.append("  not in the distribution: a condition is not met")
        lines.append(f"  amount: {p['amount_sek']} kr")
        if p["withheld_sek"]:
            lines.append(f"  withheld until the condition is met: {p['withheld_sek']} kr")
    lines.append("")
    lines.append(f"TOTAL {item['type']} {item['code']} {item['name']}: {item['total_sek']} kr")
    return lines
