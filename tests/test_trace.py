"""Issue 10: one trace. Every output says the same numbers as the trace; letters and explain read a
recorded run's trace without its data; every money invariant is code that fails on a corrupt trace."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import RULES, SAMPLE, cli, read_yaml
from skl_payout import fmt
from skl_payout.data import load_dataset
from skl_payout.errors import PayoutError
from skl_payout.explain import as_text, explain
from skl_payout.letters import write_letters
from skl_payout.pipeline import compute
from skl_payout.trace import check, from_dict, to_dict
from test_cases import case_rules, write_input


CASES = Path(__file__).parent / "cases"
# every distribution method and condition kind, each in a case of its own
BY_KIND = {
    "proportional, ratio": "2011_additive_tiers.yaml",
    "per_unit derived rate, ratio": "2010_40_percent_and_per_registration.yaml",
    "per_unit fixed rate": "2010_fixed_rate_per_registration.yaml",
    "fixed_table, flag, withheld": "2011_fixed_table_needs_approval.yaml",
    "flag at county level": "2014_county_gate.yaml",
    "matching funds among eligible": "2014_matching_funds.yaml",
    "exclusive tier": "2011_exclusive_tiers.yaml",
}


def plain(text: str) -> str:
    return text.replace("\u00a0", " ")


@pytest.mark.parametrize("kind", sorted(BY_KIND))
def test_explain_letters_and_the_trace_say_the_same_numbers(kind, tmp_path):
    case = read_yaml(CASES / BY_KIND[kind])
    rules = case_rules(case)
    result = compute(rules, load_dataset(write_input(tmp_path / "data", case["input"]), rules))
    trace = result.trace
    assert from_dict(json.loads(json.dumps(to_dict(trace)))) == trace  # trace.json loses nothing
    letters = tmp_path / "letters"
    letters.mkdir()
    from skl_payout.settings import load

    settings, _ = load(Path(__file__).parent.parent / "skl-payout.yaml")
    write_letters(result, RULES / f"{case['rules']}.yaml", letters, "md", Path(__file__).parent.parent / "templates",
                  settings=settings)
    for recipient, total in result.totals():
        (item,) = explain(result, recipient.code, recipient.type)
        text = "\n".join(as_text(item))
        letter = plain(next(letters.glob(f"{recipient.type}-{recipient.code}-*.md")).read_text(encoding="utf-8"))
        assert item["total_sek"] == total and plain(f"{fmt.kr(total)}**") in letter
        rows = result.rows_for(recipient)
        assert [p["pot"] for p in item["pots"]] == [r.subpot for r in rows]
        for row, p in zip(rows, item["pots"]):
            sp = result.subpot(row.subpot)
            assert p["amount_sek"] == row.amount and p["withheld_sek"] == row.withheld and p["status"] == row.status
            section = letter.split(f"## {sp.pot.title}")[1].split("\n## ")[0]
            assert f"Belopp: **{plain(fmt.kr(row.amount))}**" in section
            if row.allocation is not None:
                assert p["computation"]["allocation_sek"] == row.allocation.amount
                assert p["computation"]["exact_share_sek"] == to_dict_fraction(row.allocation.exact)
            if sp.method == "per_unit" and sp.rate_sek is not None and row.allocation is not None:
                assert f"{fmt.number(row.key_value, nbsp=False)} x {fmt.kr(sp.rate_sek, nbsp=False)} (fixed rate per unit) = " \
                    f"{fmt.kr(row.allocation.amount, nbsp=False)}" in text
                assert plain(f"{fmt.number(row.key_value)} {sp.pot.distribute.unit_label} × {fmt.kr(sp.rate_sek)} "
                             f"styck = {fmt.kr(row.allocation.amount)}") in section
            elif row.allocation is not None and sp.method != "fixed_table":
                assert f"{fmt.number(row.key_value, nbsp=False)} / {fmt.number(sp.key_sum, nbsp=False)} x " \
                    f"{fmt.kr(sp.budget, nbsp=False)}" in text
                assert plain(f"{fmt.number(row.key_value)}") in section and plain(fmt.kr(sp.budget)) in section
            for c, e in zip(row.conditions, p["checks"]):
                assert (e["kind"], e["passed"], e["outcome"]) == (c.kind, c.passed, c.code)
                if c.kind == "ratio" and c.denominator:
                    assert (e["numerator"], e["denominator"]) == (c.numerator, c.denominator)
                    assert plain(f"({fmt.number(c.numerator)} av {fmt.number(c.denominator)})") in section
                if c.kind == "matching_funds":
                    assert (e["own_sek"], e["allocation_sek"]) == (c.own_sek, c.allocation_sek)


def to_dict_fraction(value) -> str:
    return f"{value.numerator}/{value.denominator}" if value.denominator != 1 else str(value.numerator)


# --- a recorded run without its data --------------------------------------------------------------


def test_letters_and_explain_work_when_the_data_folder_is_gone(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE / "2011", data)
    out = tmp_path / "out"
    assert cli("run", "--year", "2011", "--data", str(data), "--out", str(out)).returncode == 0
    before = cli("explain", "1290", "--year", "2011", "--out", str(out), "--json")
    assert before.returncode == 0
    shutil.rmtree(data)
    after = cli("explain", "1290", "--year", "2011", "--out", str(out), "--json")
    assert after.returncode == 0, after.stderr
    assert after.stdout == before.stdout
    text = cli("explain", "1290", "--year", "2011", "--out", str(out))
    assert text.returncode == 0 and "palliativregistret.csv row" in text.stdout  # provenance from the trace
    done = cli("letters", "--year", "2011", "--out", str(out), "--format", "md", "--date", "2012-03-01")
    assert done.returncode == 0, done.stderr
    golden = Path(__file__).parent / "golden" / "letters" / "kommun-1290-kristianstad.md"
    assert (out / "letters" / "kommun-1290-kristianstad.md").read_text(encoding="utf-8") == \
        golden.read_text(encoding="utf-8")
    assert cli("verify", str(out)).returncode == 1  # verify recomputes, so it needs the data: it says so


def test_run_records_the_trace_and_verify_checks_it(tmp_path, sample_run):
    out = tmp_path / "out"
    sample_run(2014, out)
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert "trace.json" in manifest["outputs"]
    done = cli("verify", str(out))
    assert done.returncode == 0 and "identical trace.json" in done.stdout


def test_a_tampered_trace_is_refused(tmp_path, sample_run):
    out = tmp_path / "out"
    sample_run(2011, out)
    path = out / "trace.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"paid_sek":7000000', '"paid_sek":7000001', 1),
                    encoding="utf-8")
    for command in (["explain", "0114"], ["letters", "--format", "md"]):
        done = cli(*command, "--year", "2011", "--out", str(out))
        assert done.returncode == 1 and "trace.json" in done.stderr and "Traceback" not in done.stderr


# --- invariants that can fail ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_trace() -> dict:
    from skl_payout import api

    return to_dict(api.compute(api.inputs(2010)).trace)


def corrupt(trace: dict, how) -> dict:
    broken = copy.deepcopy(trace)
    how(broken)
    return broken


def _sub(trace: dict, sub_id: str) -> dict:
    return next(sp for sp in trace["subpots"] if sp["id"] == sub_id)


def _paid_row(sp: dict) -> dict:
    return next(r for r in sp["rows"] if r["paid_sek"] > 0)


CORRUPTIONS = {
    "a row paid one krona more": (lambda t: _paid_row(_sub(t, "PAL-40/kommun")).update(
        paid_sek=_paid_row(_sub(t, "PAL-40/kommun"))["paid_sek"] + 1), "its rows pay"),
    "a sub-pot says it paid more": (lambda t: _sub(t, "SA/kommun").update(paid_sek=_sub(t, "SA/kommun")["paid_sek"] + 5),
                                    "its rows pay"),
    "unpaid that does not close the budget": (lambda t: _sub(t, "DEV-66").update(unpaid_sek=1),
                                              "is not its budget"),
    "a hand-over received but never handed": (lambda t: _sub(t, "PAL-70/landsting").update(handed=[]),
                                              "received − handed on"),
    "money received from nowhere": (lambda t: (_sub(t, "PAL-70/kommun")["received"].append(
        {"from": "SA/kommun", "amount_sek": 1}), _sub(t, "PAL-70/kommun").update(
        budget_sek=_sub(t, "PAL-70/kommun")["budget_sek"] + 1, unpaid_sek=1)), "handed on between sub-pots"),
    "a withheld amount no row holds": (lambda t: _sub(t, "DEV-66").update(withheld_sek=100, unpaid_sek=-100),
                                       "withhold"),
    "a recipient paid without qualifying": (lambda t: _paid_row(_sub(t, "PAL-40/kommun"))["conditions"][0].update(
        passed=False), "without meeting its conditions"),
    "a status that contradicts the numbers": (lambda t: _paid_row(_sub(t, "SA/kommun")).update(status="withheld"),
                                              "status"),
    "sub-pots that do not add up to the pot": (lambda t: t["pots"][0].update(amount_sek=40_000_001),
                                               "the sub-pots add up to"),
    "a payout beyond the allocation": (lambda t: _paid_row(_sub(t, "SA/landsting"))["allocation"].update(
        amount_sek=1), "not its allocation"),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_each_money_invariant_fails_on_a_corrupt_trace(name, sample_trace):
    how, words = CORRUPTIONS[name]
    from_dict(copy.deepcopy(sample_trace))  # the real one holds
    with pytest.raises(PayoutError) as caught:
        from_dict(corrupt(sample_trace, how))
    assert words in str(caught.value), str(caught.value)


def test_the_invariants_hold_under_python_dash_O(tmp_path, sample_run):
    """No money check is an assert: python -O must still refuse a corrupt trace."""
    import subprocess
    import sys

    script = ("import json,sys; from skl_payout.trace import from_dict; from skl_payout.errors import PayoutError\n"
              "t=json.load(open(sys.argv[1])); t['subpots'][0]['paid_sek']+=1\n"
              "try:\n  from_dict(t); print('accepted')\nexcept PayoutError: print('refused')\n")
    out = tmp_path / "out"
    sample_run(2010, out)
    done = subprocess.run([sys.executable, "-O", "-c", script, str(out / "trace.json")], capture_output=True, text=True)
    assert done.stdout.strip() == "refused", done.stderr


def test_no_money_check_is_an_assert():
    source = "\n".join(p.read_text(encoding="utf-8") for p in (Path(__file__).parent.parent / "skl_payout").glob("*.py"))
    assert not re.search(r"^\s*assert\b", source, re.M)


def test_diff_says_why_an_amount_moved(tmp_path, sample_run):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE / "2011", data)
    path = data / "palliativregistret.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("\n1290,341,684\n", "\n1290,342,684\n"), encoding="utf-8")
    a, b = tmp_path / "a", tmp_path / "b"
    sample_run(2011, a)
    assert cli("run", "--year", "2011", "--data", str(data), "--out", str(b)).returncode == 0
    changes = {c["code"]: c for c in json.loads(cli("diff", str(a), str(b), "--json").stdout)["changes"]}
    assert "PAL-50/kommun: andel registrerade dödsfall: numerator 341 -> 342; below_threshold -> met" in \
        changes["1290"]["why"]
    other = next(c for code, c in changes.items() if code != "1290" and c["recipient_type"] == "kommun")
    assert any("key sum of those sharing it" in w for w in other["why"])  # the others lost to the newcomer


def test_a_recorded_run_is_refused_for_another_year_or_without_its_trace(tmp_path, sample_run):
    out = tmp_path / "out"
    sample_run(2011, out)
    done = cli("explain", "0114", "--year", "2010", "--out", str(out))
    assert done.returncode == 1 and "holds the run for 2011, not 2010" in done.stderr
    done = cli("letters", "--year", "2014", "--out", str(out), "--format", "md")
    assert done.returncode == 1 and "holds the run for 2011, not 2014" in done.stderr
    (out / "trace.json").unlink()
    for command in (["explain", "0114"], ["letters", "--format", "md"]):
        done = cli(*command, "--year", "2011", "--out", str(out))
        assert done.returncode == 1 and "trace.json" in done.stderr and "is missing" in done.stderr


def test_a_forged_trace_with_consistent_sums_is_refused(sample_trace):
    """Moving money between two recipients and fixing every sum still breaks the re-derived arithmetic."""
    forged = copy.deepcopy(sample_trace)
    sp = _sub(forged, "PAL-40/kommun")
    a, b = [r for r in sp["rows"] if r["paid_sek"] > 100_000][:2]
    for row, delta in ((a, 50_000), (b, -50_000)):
        row["paid_sek"] += delta
        row["allocation"]["amount_sek"] += delta
        row["allocation"]["floor_sek"] += delta
    with pytest.raises(PayoutError) as caught:
        from_dict(forged)
    assert "is not" in str(caught.value) and "floored" in str(caught.value)


def test_a_trace_of_the_wrong_kinds_is_a_clear_error(sample_trace):
    for how in (lambda t: _sub(t, "SA/kommun")["rows"][0]["conditions"][0].update(passed="false"),
                lambda t: _sub(t, "SA/kommun")["rows"][0].update(paid_sek=1.5),
                lambda t: _sub(t, "SA/kommun")["rows"][0]["conditions"][0].update(numerator="12"),
                lambda t: _sub(t, "SA/kommun").update(method="lottery")):
        with pytest.raises(PayoutError) as caught:
            from_dict(corrupt(sample_trace, how))
        assert "trace" in str(caught.value)
