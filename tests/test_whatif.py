"""What-if: a scenario pays exactly what a run with the rule file edited the same way pays."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, RULES, cli, read_csv
from skl_payout import api
from skl_payout.errors import PayoutError
from skl_payout.outputs import TOTAL_COLUMNS, csv_text, total_rows
from skl_payout.pipeline import compute
from skl_payout.rules import _key_lines, load_rules, parse_yaml
from skl_payout.whatif import (Override, Planner, Scenario, grid, parse_override, raw_rules, resolve,
                               scenario_rules, scenarios_file, sweep_values)


@pytest.fixture(scope="module")
def engine():
    from skl_payout.compiled import Compiled

    inp = api.inputs(2011)
    base = api.compute(inp)
    compiled = Compiled(base)
    return inp, base, compiled, Planner(raw_rules(inp.rules_path), compiled)


def edited_rule_file(rules: Path, overrides: list[Override], target: Path) -> Path:
    """The rule file edited by hand, as an officer would: the value on its own line replaced."""
    text = rules.read_text(encoding="utf-8")
    raw, node = parse_yaml(text)
    lines = text.split("\n")
    for o in overrides:
        loc, _, key = resolve(raw, o.path)
        number = _key_lines(node)[loc] - 1
        lines[number], n = re.subn(rf"(\b{key}:\s*)[^\s,}}#]+", rf"\g<1>{o.text}", lines[number], count=1)
        assert n == 1, lines[number]
    target.write_text("\n".join(lines), encoding="utf-8")
    return target


def totals_text(result) -> str:
    return csv_text(TOTAL_COLUMNS, total_rows(result))


def compiled_totals_text(compiled, outcome) -> str:
    rows = [[r.type, r.code, r.name, r.county_code, int(a)] for r, a in zip(compiled.recipients, outcome.amounts)]
    return csv_text(TOTAL_COLUMNS, rows)


# --- paths ---------------------------------------------------------------------------------------

def test_a_path_names_one_value_of_the_rule_file():
    raw = raw_rules(RULES / "2011.yaml")
    assert resolve(raw, "PAL-50.at_least")[0] == ("pots", 0, "qualify", 0, "ratio", "at_least")
    assert resolve(raw, "SA.kommun.amount_sek")[0][:4] == ("pots", 2, "recipients", 0)
    assert resolve(raw, "pots.PAL-70.amount_sek")[0] == ("pots", 1, "amount_sek")
    for path, words in (("PAL-50.nothing", "names nothing"), ("PAL-50.qualify", "whole section"),
                        ("amount_sek", "ambiguous")):
        with pytest.raises(PayoutError) as exc:
            resolve(raw, path)
        assert words in str(exc.value), path


def test_values_are_validated_as_the_rule_file_validates_them():
    raw = raw_rules(RULES / "2011.yaml")
    for text, words in (("50", "did you mean 50%"), ("45.5.5%", ""), ("-1", "")):
        with pytest.raises(PayoutError) as exc:
            scenario_rules(raw, [parse_override(f"PAL-50.at_least={text}")], "2011.yaml")
        assert "--set PAL-50.at_least" in str(exc.value) and words in str(exc.value)
    with pytest.raises(PayoutError) as exc:
        scenario_rules(raw, [parse_override("SA.kommun.amount_sek=40000000")], "2011.yaml")
    assert "also --set SA.amount_sek=55000000" in str(exc.value)
    with pytest.raises(PayoutError):
        parse_override("PAL-50.at_least")


def test_sweep_values_are_exact_and_include_both_ends():
    path, values = sweep_values("PAL-50.at_least=40%..41%:0.1%")
    assert path == "PAL-50.at_least" and values[0] == "40%" and values[-1] == "41%" and len(values) == 11
    assert sweep_values("X=1..3:1")[1] == ["1", "2", "3"]
    assert len(grid(["A=1..3:1", "B=1%..2%:1%"])) == 6
    for bad in ("X=1..3", "X=3..1:1", "X=1%..3:1", "X=1..3:0"):
        with pytest.raises(PayoutError):
            sweep_values(bad)


# --- exact ---------------------------------------------------------------------------------------

def test_whatif_set_gives_the_totals_of_an_edited_rule_file(tmp_path):
    overrides = [Override("PAL-50.at_least", "45%"), Override("SA.landsting.amount_sek", "20000000"),
                 Override("SA.amount_sek", "55000000")]
    edited = edited_rule_file(RULES / "2011.yaml", overrides, tmp_path / "2011.yaml")
    done = cli("run", "--rules", str(edited), "--out", str(tmp_path / "edited"))
    assert done.returncode == 1 and "budget line performance" in done.stderr  # run holds the agreement's budget
    done = cli("whatif", "--year", "2011", *sum((["--set", str(o)] for o in overrides), []),
               "--out", str(tmp_path / "whatif"))
    assert done.returncode == 0, done.stderr
    assert "in this scenario" in done.stderr  # the departure from the agreement is said aloud
    expected = totals_text(compute(load_rules(edited), api.compute(api.inputs(2011)).data))
    assert (tmp_path / "whatif" / "totals.csv").read_text(encoding="utf-8") == expected
    changes = read_csv(tmp_path / "whatif" / "comparison.csv")
    before = {r["code"]: int(r["amount_sek"]) for r in read_csv(ROOT / "tests" / "golden" / "2011" / "totals.csv")
              if r["recipient_type"] == "kommun"}
    assert all(int(c["base_sek"]) == before[c["code"]] for c in changes if c["recipient_type"] == "kommun")
    assert any(c["newly_qualified"] == "PAL-50/kommun" for c in changes)
    assert cli("verify", str(tmp_path / "whatif")).returncode == 0


def test_a_threshold_alone_matches_a_real_run_of_the_edited_file(tmp_path):
    overrides = [Override("PAL-70.at_least", "65%")]
    edited = edited_rule_file(RULES / "2011.yaml", overrides, tmp_path / "2011.yaml")
    assert cli("run", "--rules", str(edited), "--out", str(tmp_path / "edited")).returncode == 0
    assert cli("whatif", "--year", "2011", "--set", "PAL-70.at_least=65%", "--out",
               str(tmp_path / "whatif")).returncode == 0
    assert (tmp_path / "whatif" / "totals.csv").read_bytes() == (tmp_path / "edited" / "totals.csv").read_bytes()


percent = st.integers(min_value=0, max_value=1000).map(lambda n: f"{n // 10}%" if n % 10 == 0 else f"{n // 10}.{n % 10}%")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pal50=percent, pal70=percent, sa=st.sampled_from(["95%", "100%", "80%", "0%"]),
       amount=st.integers(min_value=1, max_value=10**9), share=st.integers(min_value=1, max_value=99))
def test_compiled_scenarios_equal_the_full_engine(engine, pal50, pal70, sa, amount, share):
    inp, base, compiled, planner = engine
    overrides = [Override("PAL-50.at_least", pal50), Override("PAL-70.at_least", pal70),
                 Override("SA.at_least", sa), Override("PAL-50.amount_sek", str(amount)),
                 Override("PAL-70.kommun.share", f"{share}%"), Override("PAL-70.landsting.share", f"{100 - share}%")]
    plan = planner.changes(Scenario("x", overrides))
    assert plan is not None, "these overrides are all ones the compiled form takes"
    outcome = compiled.evaluate(plan)
    full = compute(scenario_rules(planner.raw, overrides, "2011.yaml"), base.data)
    assert compiled_totals_text(compiled, outcome) == totals_text(full)
    assert outcome.subpots == {sp.id: (sp.qualified, sp.paid, sp.withheld, sp.unpaid) for sp in full.subpots}


def test_compiled_amounts_cannot_overflow(engine):
    """The largest pot the schema allows (10**12 kr) times the largest key: exact, as the full engine."""
    _, base, compiled, planner = engine
    overrides = [Override("PAL-50.amount_sek", str(10**12))]
    outcome = compiled.evaluate(planner.changes(Scenario("x", overrides)))
    assert outcome.subpots["PAL-50/kommun"][1] + outcome.subpots["PAL-50/landsting"][1] == 10**12
    full = compute(scenario_rules(planner.raw, overrides, "2011.yaml"), base.data)
    assert compiled_totals_text(compiled, outcome) == totals_text(full)


# --- sweeps --------------------------------------------------------------------------------------

def test_a_sweep_writes_exact_tables_and_a_self_contained_report(tmp_path, engine):
    inp, base, compiled, planner = engine
    out = tmp_path / "sweep"
    done = cli("whatif", "--year", "2011", "--sweep", "PAL-50.at_least=40%..60%:5%", "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = read_csv(out / "sweep.csv")
    assert [r["scenario"] for r in rows] == [f"PAL-50.at_least={v}%" for v in (40, 45, 50, 55, 60)]
    qualified = [int(r["PAL-50/kommun:qualified"]) for r in rows]
    assert qualified == sorted(qualified, reverse=True) and qualified[2] == base.subpot("PAL-50/kommun").qualified
    for r in rows:
        assert int(r["PAL-50/kommun:paid_sek"]) + int(r["PAL-50/kommun:unpaid_sek"]) == 28_000_000
    matrix = list(csv.reader(open(out / "sweep_recipients.csv", encoding="utf-8")))
    assert len(matrix) == 1 + len(compiled.recipients)
    for j, r in enumerate(rows):
        assert sum(int(m[3 + j]) for m in matrix[1:]) == int(r["total_paid_sek"])
    middle = {(m[0], m[1]): int(m[5]) for m in matrix[1:]}  # 50 %: the rule file as it stands
    assert middle == {(r.type, r.code): a for r, a in base.totals()}
    html = (out / "sweep.html").read_text(encoding="utf-8")
    assert html.count("<svg") >= 3 and "<polyline" in html
    assert "<script" not in html and not re.search(r"""(src|href)=["']?https?:""", html)


def test_named_scenarios_from_yaml_and_csv(tmp_path):
    (tmp_path / "s.yaml").write_text("lower: {PAL-50.at_least: 45%}\nhigher:\n  PAL-50.at_least: 55%\n"
                                     "  PAL-70.at_least: 75%\n", encoding="utf-8")
    (tmp_path / "s.csv").write_text("scenario;path;value\nlower;PAL-50.at_least;45%\nhigher;PAL-50.at_least;55%\n"
                                    "higher;PAL-70.at_least;75%\n", encoding="utf-8")
    assert [(s.name, [str(o) for o in s.overrides]) for s in scenarios_file(tmp_path / "s.yaml")] == \
        [(s.name, [str(o) for o in s.overrides]) for s in scenarios_file(tmp_path / "s.csv")]
    done = cli("whatif", "--year", "2011", "--scenarios", str(tmp_path / "s.yaml"), "--json",
               "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["scenario"] for r in rows] == ["lower", "higher"]
    assert rows[0]["PAL-50/kommun:qualified"] > rows[1]["PAL-50/kommun:qualified"]


def test_a_scenario_the_compiled_form_cannot_take_goes_through_the_full_engine(tmp_path, engine):
    inp, base, compiled, planner = engine
    scenario = Scenario("dev", [Override("DEV-66.amount_sek", "66000000")])
    assert planner.changes(scenario) is None  # a fixed table: the full engine decides
    (tmp_path / "s.yaml").write_text("words: {PAL-50.unit_label: personer 65+}\n", encoding="utf-8")
    done = cli("whatif", "--year", "2011", "--scenarios", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o"))
    assert done.returncode == 0 and "0 through the compiled pots, 1 through the full engine" in done.stdout
    (row,) = read_csv(tmp_path / "o" / "sweep.csv")
    assert int(row["total_paid_sek"]) == base.paid


# --- what a hostile tester found -----------------------------------------------------------------

def test_a_threshold_with_a_huge_denominator_is_compared_exactly(engine):
    """num × t.den would overflow int64: the compiled form must fall back to Python integers."""
    inp, base, compiled, planner = engine
    compared = 0
    for value in ("0.6666666666666666", "50.00000000000001%", "1/3"):
        overrides = [Override("PAL-50.at_least", value)]
        try:
            rules = scenario_rules(planner.raw, overrides, "2011.yaml")
        except PayoutError:  # refused by the rule file's own validator: the compiled form refuses it too
            with pytest.raises(PayoutError):
                planner.changes(Scenario(value, overrides))
            continue
        outcome = compiled.evaluate(planner.changes(Scenario(value, overrides)))
        assert compiled_totals_text(compiled, outcome) == totals_text(compute(rules, base.data)), value
        compared += 1
    assert compared >= 2


def test_every_scenario_of_a_sweep_is_validated_not_only_the_ends(tmp_path):
    done = cli("whatif", "--year", "2011", "--sweep", "SA.kommun.amount_sek=35000000..45000000:5000000",
               "--sweep", "SA.amount_sek=50000000..60000000:5000000", "--out", str(tmp_path / "o"))
    assert done.returncode == 1 and "sub-pot amounts add up to" in done.stderr
    assert not (tmp_path / "o").exists()
    (tmp_path / "s.yaml").write_text("ok: {PAL-70.at_least: 70%}\nbad: {PAL-70.kommun.share: 90%}\n"
                                     "last: {PAL-70.at_least: 75%}\n", encoding="utf-8")
    done = cli("whatif", "--year", "2011", "--scenarios", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o"))
    assert done.returncode == 1 and "scenario bad" in done.stderr


def test_a_sweep_applies_the_same_gate_as_run(tmp_path):
    for extra in (["--set", "pots.PAL-50.source.quote=nonsense text"],
                  ["--set", "data.population.columns.population_65plus.max=10"]):
        alone = cli("whatif", "--year", "2011", *extra, "--out", str(tmp_path / "one"))
        swept = cli("whatif", "--year", "2011", *extra, "--sweep", "PAL-70.at_least=70%..75%:5%",
                    "--out", str(tmp_path / "many"))
        assert alone.returncode == 1 and swept.returncode == 1, (extra, swept.stdout)


def test_whatif_never_replaces_a_run_and_a_scenario_gets_no_letters(tmp_path, sample_run):
    run = tmp_path / "run"
    sample_run(2011, run)
    before = (run / "totals.csv").read_bytes()
    done = cli("whatif", "--year", "2011", "--set", "PAL-50.at_least=45%", "--out", str(run))
    assert done.returncode == 1 and "never replaces a run" in done.stderr
    assert (run / "totals.csv").read_bytes() == before
    scenario = tmp_path / "scenario"
    assert cli("whatif", "--year", "2011", "--set", "PAL-50.at_least=45%", "--out", str(scenario)).returncode == 0
    assert "SCENARIO, inget beslut" in (scenario / "report.html").read_text(encoding="utf-8")
    done = cli("letters", "--out", str(scenario))
    assert done.returncode == 1 and "not a decision" in done.stderr and not (scenario / "letters").exists()


@pytest.mark.parametrize("overrides", [
    ["PAL-70.kommun.share=0.000001%", "PAL-70.landsting.share=99.999999%", "PAL-70.at_least=80%"],
    ["PAL-50.kommun.share=0.000001%", "PAL-50.landsting.share=99.999999%", "PAL-50.at_least=99%"],
], ids=["empty-takes-from-a-0-kr-sub-pot", "0-kr-sub-pot-qualifies"])
def test_a_0_kr_sub_pot_is_handed_over_and_shared_exactly(overrides, engine, tmp_path):
    inp, base, compiled, planner = engine
    parsed = [parse_override(o) for o in overrides]
    full = compute(scenario_rules(planner.raw, parsed, "2011.yaml"), base.data)
    assert sum(a for _, a in full.totals()) == sum(a for _, a in base.totals())  # every krona still paid
    outcome = compiled.evaluate(planner.changes(Scenario("x", parsed)))
    assert compiled_totals_text(compiled, outcome) == totals_text(full)


def test_a_tiny_withheld_allocation_of_0_kr_is_not_an_internal_error(tmp_path):
    for amount in ("1", "21"):
        done = cli("whatif", "--year", "2014", "--set", f"EHALSA.amount_sek={amount}", "--out", str(tmp_path / amount))
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("sweep", ["PAL-50.at_least=40%..60%:7%", "PAL-50.amount_sek=1e3..2e3:1e3",
                                   "PAL-50.amount_sek=1_000..2_000:1_000", "PAL-50.at_least=40%..60%:1",
                                   "PAL-50.amount_sek=٤٠..٥٠:١"])
def test_sweep_bounds_are_plain_and_land_on_the_end(sweep):
    with pytest.raises(PayoutError):
        sweep_values(sweep)


def test_scenario_files_refuse_what_they_cannot_mean(tmp_path):
    cases = {"twice.yaml": "1: {PAL-50.at_least: 45%}\n'1': {PAL-50.at_least: 55%}\n",
             "twice.csv": "scenario,path,value\na,PAL-50.at_least,45%\na,PAL-50.at_least,55%\n",
             "extra.csv": "scenario,path,value,note\na,PAL-50.at_least,45%,x\n"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(PayoutError):
            scenarios_file(tmp_path / name)
    (tmp_path / "quoted.yaml").write_text("a: {PAL-50.amount_sek: \"40000000\"}\n", encoding="utf-8")
    done = cli("whatif", "--year", "2011", "--scenarios", str(tmp_path / "quoted.yaml"), "--out", str(tmp_path / "o"))
    assert done.returncode == 1 and "whole kronor" in done.stderr
