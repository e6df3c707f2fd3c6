"""Explain every krona of one authority from the trace: the data used, the rule and its source,
each condition as numbers, the arithmetic and the result. The JSON is numbers; the text frames them."""

from __future__ import annotations

from fractions import Fraction

from . import fmt, phrases
from .errors import PayoutError, error
from .pipeline import Result
from .trace import Condition, Row, SubPot, condition_dict


def _exact(value: Fraction | None) -> str | None:
    if value is None:
        return None
    return f"{value.numerator}/{value.denominator}" if value.denominator != 1 else str(value.numerator)


def _condition(c: Condition) -> dict:
    """The trace's numbers for the condition, and the words a letter uses for them."""
    item = condition_dict(c)
    if c.kind == "ratio":
        item["needed"] = c.needed
    item.update(requirement=phrases.requirement(c), value=phrases.value(c), shortfall=phrases.shortfall(c))
    return item


def explain_row(row: Row, sp: SubPot, result: Result) -> dict:
    pot = sp.pot
    item = {
        "pot": sp.id, "title": pot.title, "source": result.rules.cite(pot.source), "quote": pot.source.quote,
        "assumptions": [{"id": a.id, "decision": a.decision, "evidence": a.evidence}
                        for a in result.rules.assumptions if sp.id in a.pots or pot.id in a.pots],
        "qualified": row.qualified, "status": row.status, "reasons": list(row.reasons),
        "checks": [_condition(c) for c in row.conditions],
        "method": sp.method, "among": sp.among, "budget_sek": sp.budget, "rate_sek": sp.rate_sek,
    }
    if row.key_value is not None:
        item["key"] = {"column": pot.distribute.key, "value": row.key_value, "data": row.key_source}
        item["key_sum"] = sp.key_sum
    if sp.method == "fixed_table" and row.allocation is not None:
        item["table_amount_sek"] = row.allocation.amount
        item["table_source"] = result.rules.cite(pot.distribute.table_source) if pot.distribute.table_source else None
    if row.allocation is not None:
        a = row.allocation
        item["computation"] = {"exact_share_sek": _exact(a.exact), "exact_share_decimal": str(fmt.floor_decimal(a.exact, 4)),
                               "floor_sek": a.floor, "remainder_krona": a.extra, "allocation_sek": a.amount}
    item["amount_sek"] = row.amount
    item["withheld_sek"] = row.withheld
    return item


TYPE_ALIASES = {"län": "lan", "lan": "lan", "kommun": "kommun", "landsting": "landsting", "region": "landsting",
                "regiondel": "regiondel"}


def explain(result: Result, code: str, rtype: str | None = None) -> list[dict]:
    """One recipient (or several sharing a code or name) by code, e.g. 0114, or by name, e.g. Norrköping."""
    if rtype is not None:
        if rtype.strip().lower() not in TYPE_ALIASES:
            raise PayoutError(error("--type", f"unknown recipient type {rtype!r}", "kommun, landsting, regiondel or län"))
        rtype = TYPE_ALIASES[rtype.strip().lower()]
    fits = [r for r, _ in result.totals() if rtype is None or r.type == rtype]
    matches = [r for r in fits if r.code == code]
    if not matches:  # a name: exactly, then as the start of a name ("Norrköping" is the kommun, not "Norrköpings ...")
        wanted = code.strip().casefold()
        matches = [r for r in fits if r.name.casefold() == wanted] or \
            [r for r in fits if r.name.casefold().startswith(wanted)] if wanted else []
    if not matches:
        known = sorted({r.code for r, _ in result.totals()})
        hint = f"did Excel drop a leading zero? try {code.zfill(4)!r}" if code.zfill(4) in known and code != code.zfill(4) else None
        raise PayoutError(error("CODE", f"no recipient with code or name {code!r}" + (f" of type {rtype}" if rtype else ""), hint))
    out = []
    for recipient in matches:
        pots = [explain_row(row, result.subpot(row.subpot), result) for row in result.rows_for(recipient)]
        out.append({"type": recipient.type, "code": recipient.code, "name": recipient.name,
                    "county_code": recipient.county_code, "pots": pots,
                    "total_sek": sum(p["amount_sek"] for p in pots),
                    "withheld_sek": sum(p["withheld_sek"] for p in pots)})
    return out


def _n(value: int) -> str:
    return fmt.number(value, nbsp=False)


def _kr(value: int) -> str:
    return fmt.kr(value, nbsp=False)


def arithmetic(p: dict) -> list[str]:
    """The allocation's arithmetic, by method, from the explained numbers (the letter says the same).
    The exact fraction appears here only, where the arithmetic is shown."""
    c = p.get("computation")
    if p["method"] == "fixed_table":
        return [f"  fixed table ({p.get('table_source')}): {_kr(p['table_amount_sek'])}"] if "table_amount_sek" in p else []
    if c is None:
        if p["reasons"] == ["replaced_by_higher_tier"]:
            return ["  not in the distribution: paid in the higher tier instead"]
        return ["  not in the distribution: a condition is not met"]
    if p["method"] == "per_unit" and p["rate_sek"] is not None:
        lines = [f"  computation: {_n(p['key']['value'])} x {_kr(p['rate_sek'])} (fixed rate per unit) = "
                 f"{_kr(c['allocation_sek'])}"]
    else:
        share = Fraction(c["exact_share_sek"])
        exact = "" if share.denominator == 1 else f" (exactly {c['exact_share_sek']})"
        lines = [f"  computation: {_n(p['key']['value'])} / {_n(p['key_sum'])} x {_kr(p['budget_sek'])} = "
                 f"{fmt.decimal_kr(fmt.floor_decimal(share, 4), nbsp=False)}{exact}",
                 f"  floor {_kr(c['floor_sek'])} + remainder krona {c['remainder_krona']} = {_kr(c['allocation_sek'])}"]
    if p["status"] == "withheld":
        lines[-1] += " (withheld until the condition is met)"
    elif p["reasons"] == ["replaced_by_higher_tier"]:
        lines[-1] += " (not paid here: paid in the higher tier instead)"
    elif not p["qualified"]:
        lines[-1] += " (not paid: a condition is not met)"
    return lines


def as_text(item: dict) -> list[str]:
    """Plain lines for the terminal: an English frame around the Swedish words of the rule file and
    the letters. Each assumption is named where it applies and stated once, at the end."""
    kind = "län" if item["type"] == "lan" else item["type"]
    lines = [f"{kind} {item['code']} {item['name']} (county {item['county_code']})"]
    assumptions: dict[str, dict] = {}
    for p in item["pots"]:
        lines.append("")
        lines.append(f"[{p['pot']}] {p['title']}")
        lines.append(f"  rule source: {p['source']}")
        if p["quote"]:
            lines.append(f"  rule text: \"{p['quote']}\"")
        if p["assumptions"]:
            lines.append(f"  assumptions: {', '.join(a['id'] for a in p['assumptions'])} (stated below)")
            assumptions.update((a["id"], a) for a in p["assumptions"])
        for c in p["checks"]:
            mark = "met" if c["passed"] else "NOT met"
            lines.append(f"  condition: {c['requirement']}: {c['value']} -> {mark}"
                         + (f" ({c['shortfall']})" if c["shortfall"] and not c["passed"] else ""))
            for d in c["inputs"]:
                lines.append(f"    data: {d}")
        if "key" in p:
            lines.append(f"  key: {p['key']['column']} = {_n(p['key']['value'])} ({p['key']['data']})")
        lines += arithmetic(p)
        lines.append(f"  amount: {_kr(p['amount_sek'])}")
        if p["withheld_sek"]:
            lines.append(f"  withheld until the condition is met: {_kr(p['withheld_sek'])}")
    lines.append("")
    lines.append(f"TOTAL {kind} {item['code']} {item['name']}: {_kr(item['total_sek'])}")
    if item["withheld_sek"]:
        lines.append(f"withheld until a condition is met: {_kr(item['withheld_sek'])}")
    if assumptions:
        lines.append("")
        lines.append("Assumptions of the rule file used above (where the sources are silent):")
        for a in assumptions.values():
            lines.append(f"  assumption {a['id']}: {a['decision']}")
            lines.append(f"    why: {a['evidence']}")
    return lines
