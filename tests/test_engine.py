"""The 2011 rules on arbitrary national data sets: amounts follow DOMAIN.md's decisions exactly.

An independent reference implementation (integer arithmetic, no Fraction) recomputes every
sub-pot from the CSV files and must agree with the tool to the krona.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import COUNTIES_2011, RULES, write_dataset
from skl_payout.data import load_dataset
from skl_payout.errors import PayoutError
from skl_payout.pipeline import compute
from skl_payout.rules import load_rules

RULES_2011 = load_rules(RULES / "2011.yaml")


def reference_shares(total: int, keys: dict[str, int]) -> dict[str, int]:
    """Largest remainder with integer divmod; ties by ascending code (DOMAIN decision 1)."""
    whole = sum(keys.values())
    if whole == 0:
        return {c: 0 for c in keys}
    floors = {c: total * k // whole for c, k in keys.items()}
    rems = {c: total * k % whole for c, k in keys.items()}
    left = total - sum(floors.values())
    for c in sorted(keys, key=lambda c: (-rems[c], c))[:left]:
        floors[c] += 1
    return floors


@st.composite
def national(draw):
    kommuner, landsting = [], []
    for county, _ in COUNTIES_2011:
        for n in range(draw(st.integers(1, 3))):
            deaths = draw(st.integers(0, 400))
            units = draw(st.integers(0, 6))
            kommuner.append(dict(
                code=f"{county}{10 + n:02d}", name=f"Kommun {county}{n}", county=county,
                pop=draw(st.integers(1000, 900000)), pop65=draw(st.integers(0, 150000)),
                deaths=deaths, reg=draw(st.integers(0, deaths)),
                units=units, started=draw(st.integers(0, units)), regs=draw(st.integers(0, 5000)),
            ))
        deaths = draw(st.integers(0, 4000))
        units = draw(st.integers(0, 20))
        landsting.append(dict(code=county, deaths=deaths, reg=draw(st.integers(0, deaths)), units=units,
                              started=draw(st.integers(0, units)), regs=draw(st.integers(0, 9000))))
    approved = {c: draw(st.booleans()) for c, _ in COUNTIES_2011}
    return kommuner, landsting, approved


def qualifies(num: int, den: int, pct: int) -> bool:
    return den > 0 and num * 100 >= pct * den  # exact: no rounding of the percentage


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(national())
def test_2011_rules_follow_the_domain_decisions(dataset):
    kommuner, landsting, approved = dataset
    pop65 = {k["code"]: k["pop65"] for k in kommuner}
    for l in landsting:  # a landsting's key is the sum of its county's kommuner
        pop65[l["code"]] = sum(k["pop65"] for k in kommuner if k["county"] == l["code"])
    expected, unshareable = {}, []
    def share_pot(pot: str, budgets: tuple[int, int], qualified) -> None:
        q = {rtype: {a["code"]: pop65[a["code"]] for a in members if qualified(a)}
             for rtype, members in (("kommun", kommuner), ("landsting", landsting))}
        budget = dict(zip(("kommun", "landsting"), budgets))
        for empty, other in (("kommun", "landsting"), ("landsting", "kommun")):
            if not q[empty] and q[other]:  # decision 5: an empty sub-pot goes to the other type
                budget[other], budget[empty] = budget[other] + budget[empty], 0
        for rtype, members in (("kommun", kommuner), ("landsting", landsting)):
            if q[rtype] and budget[rtype] and not sum(q[rtype].values()):
                unshareable.append(f"{pot}/{rtype}")  # qualified, but a key sum of 0: refused, never unpaid
            shares = reference_shares(budget[rtype], q[rtype])
            for a in members:
                expected[(f"{pot}/{rtype}", a["code"])] = shares.get(a["code"], 0)

    for pot, pct, budgets in (("PAL-50", 50, (28_000_000, 12_000_000)), ("PAL-70", 70, (7_000_000, 3_000_000))):
        share_pot(pot, budgets, lambda a, pct=pct: qualifies(a["reg"], a["deaths"], pct))
    share_pot("SA", (35_000_000, 15_000_000), lambda a: a["units"] > 0 and a["started"] >= a["units"])
    table = RULES_2011.pot("DEV-66").distribute.table
    for county, _ in COUNTIES_2011:
        expected[("DEV-66", county)] = table[county] if approved[county] else 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_dataset(Path(tmp) / "d", kommuner, landsting, approved=approved)
        if unshareable:
            with pytest.raises(PayoutError, match="sums to 0: the pot cannot be shared"):
                compute(RULES_2011, load_dataset(folder, RULES_2011))
            return
        result = compute(RULES_2011, load_dataset(folder, RULES_2011))
    got = {(sp.id, r.recipient.code): r.amount for sp in result.subpots for r in sp.rows}
    assert got == expected
    withheld = {sp.id: sp.withheld for sp in result.subpots}
    assert withheld.pop("DEV-66") == sum(table[c] for c, _ in COUNTIES_2011 if not approved[c])
    assert not any(withheld.values())
    for sp in result.subpots:
        assert sp.paid + sp.withheld + sp.unpaid == sp.budget
        assert sp.paid == sp.budget or sp.qualified == 0 or sp.id == "DEV-66" or sp.key_sum == 0
