"""Tests written as data: each tests/cases/*.yaml is one case (name, rules, input, output).

A case names a shipped rule file, optionally keeps only some pots (`pots`) and overrides values by
dotted path (`set`, e.g. `PAL-50.on_empty: other_types` or `data.population.covers: [...]`); `input` maps file names to rows;
`output` gives expected amounts per sub-pot and code, withheld and unpaid amounts and qualifier lists.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from conftest import RULES, read_yaml, write_csv
from skl_payout.data import load_dataset
from skl_payout.pipeline import compute
from skl_payout.rules import Rules

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))


def case_rules(case: dict) -> Rules:
    raw = read_yaml(RULES / f"{case['rules']}.yaml")
    keep = case.get("pots")
    if keep:
        raw["pots"] = [p for p in raw["pots"] if p["id"] in keep]
        used = {ref.split(".")[0] for p in raw["pots"] for ref in _refs(p)}
        raw["data"] = {k: v for k, v in raw["data"].items() if k in used}
        raw["budget"] = {"lines": [], "totals": []}
    pots = {p["id"]: p for p in raw["pots"]}
    for path, value in (case.get("set") or {}).items():
        first, *keys = path.split(".")
        target = raw["data"] if first == "data" else pots[first]
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[int(keys[-1]) if isinstance(target, list) else keys[-1]] = copy.deepcopy(value)
    return Rules.model_validate(raw)


def _refs(pot: dict) -> list[str]:
    refs = [pot["distribute"].get("key")] if pot["distribute"].get("key") else []
    for cond in pot.get("qualify", []):
        for kind in ("ratio", "flag", "matching_funds"):
            if kind in cond:
                refs += [v for k, v in cond[kind].items() if k in ("numerator", "denominator", "column")]
    return refs


def write_input(folder: Path, files: dict[str, list[dict]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        columns = list(rows[0])
        write_csv(folder / name, columns, [[row[c] for c in columns] for row in rows])
    return folder


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path, tmp_path):
    case = read_yaml(path)
    assert set(case) <= {"name", "rules", "pots", "set", "input", "output"}, f"{path.name}: unknown keys"
    rules = case_rules(case)
    result = compute(rules, load_dataset(write_input(tmp_path / "data", case["input"]), rules))
    subpots = {sp.id: sp for sp in result.subpots}
    expected = case["output"]
    for sp_id, amounts in (expected.get("amounts") or {}).items():
        got = {row.recipient.code: row.amount for row in subpots[sp_id].rows}
        assert {str(c): got.get(str(c)) for c in amounts} == {str(c): a for c, a in amounts.items()}, case["name"]
    for sp_id, unpaid in (expected.get("unpaid") or {}).items():
        assert subpots[sp_id].unpaid == unpaid, f"{case['name']}: unpaid of {sp_id}"
    for sp_id, withheld in (expected.get("withheld") or {}).items():
        assert subpots[sp_id].withheld == withheld, f"{case['name']}: withheld of {sp_id}"
    for sp_id, codes in (expected.get("qualified") or {}).items():
        assert sorted(r.recipient.code for r in subpots[sp_id].rows if r.qualified) == sorted(map(str, codes))
    for sp in result.subpots:
        assert sp.paid + sp.withheld + sp.unpaid == sp.budget
