"""Issue 9: pay what the sources say was paid, show every assumption, and write letters that state
only what the sources state (DOMAIN decisions 1, 2, 4, 5, 10, 12, 13)."""

from __future__ import annotations

import csv
import json
import re
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import RULES, cli, read_csv
from skl_payout import fmt
from skl_payout.rules import load_rules


def summary(out: Path) -> dict[str, dict]:
    return {row["pot"]: row for row in read_csv(out / "summary.csv")}


def paid(rows: dict[str, dict], prefix: str) -> int:
    return sum(int(r["paid_sek"]) for pot, r in rows.items() if pot == prefix or pot.startswith(prefix + "/"))


# --- money ---------------------------------------------------------------------------------------


def test_2010_pays_100_million_of_performance_money_and_the_66_million(tmp_path):
    out = tmp_path / "out"
    result = cli("run", "--year", "2010", "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = summary(out)
    assert sum(paid(rows, pot) for pot in ("PAL-40", "PAL-70", "SA")) == 100_000_000
    assert paid(rows, "DEV-66") == 66_000_000
    # the landsting sub-pot of the 70 % tier had no qualifiers and went to the kommuner (decision 5)
    assert rows["PAL-70/landsting"]["qualified"] == "0" and rows["PAL-70/landsting"]["paid_sek"] == "0"
    assert int(rows["PAL-70/kommun"]["paid_sek"]) == 10_000_000
    for row in rows.values():
        assert int(row["paid_sek"]) + int(row["withheld_sek"]) + int(row["unpaid_sek"]) == int(row["budget_sek"])


def test_2010_table_pays_dalarna_3_million_and_validate_names_the_printed_figure():
    rules = load_rules(RULES / "2010.yaml")
    table = rules.pot("DEV-66").distribute.table
    assert table["20"] == 3_000_000 and sum(table.values()) == 66_000_000
    result = cli("validate", "--year", "2010")
    assert result.returncode == 0, result.stdout
    assert re.search(r"source discrepancy: the source prints 2 500 000 kr for 20", result.stdout)


def test_a_county_whose_plan_is_not_approved_has_its_amount_withheld(tmp_path, sample_run):
    """2011 sample data: one county's action plan is not approved (sample_data/BOUNDARIES.txt)."""
    out = tmp_path / "out"
    sample_run(2011, out)
    with open(out / "summary.csv", encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == ["pot", "budget_sek", "paid_sek", "withheld_sek", "unpaid_sek", "eligible",
                                        "qualified"]
    dev = summary(out)["DEV-66"]
    table = load_rules(RULES / "2011.yaml").pot("DEV-66").distribute.table
    plans = read_csv(Path(__file__).parent.parent / "sample_data" / "2011" / "action_plans.csv")
    held = sum(table[p["county_code"]] for p in plans if p["approved"] == "nej")
    assert held > 0
    assert (int(dev["paid_sek"]), int(dev["withheld_sek"]), int(dev["unpaid_sek"])) == (66_000_000 - held, held, 0)
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert manifest["total_withheld_sek"] == held
    letters = tmp_path / "letters"
    assert cli("letters", "--format", "md", "--out", str(out)).returncode == 0  # the year comes from run.json
    text = next((out / "letters").glob("lan-06-*.md")).read_text(encoding="utf-8")
    assert "innehålls" in text and "handlingsplan har inkommit och godkänts av SKL" in text
    assert "får därför ingen utbetalning" not in text


def test_coverage_above_100_percent_is_accepted_qualifies_and_is_warned_about(sample_copy, tmp_path):
    data = sample_copy(2011)
    path = data / "palliativregistret.csv"
    rows = list(csv.reader(open(path, encoding="utf-8")))
    over = {}
    for row in rows[1:6]:  # five kommuner with more registered deaths than deaths, one of them 300 %
        row[1] = str(int(row[2]) * (3 if not over else 1) + 1)
        over[row[0]] = row[1]
    path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    result = cli("validate", "--year", "2011", "--data", str(data))
    assert result.returncode == 0, result.stdout
    for code in over:
        assert re.search(rf"{code}: registered_deaths = {over[code]} is greater than deaths", result.stdout)
    out = tmp_path / "out"
    run = cli("run", "--year", "2011", "--data", str(data), "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert all(f"{code}: registered_deaths" in run.stderr for code in over)
    qualified = {r["code"] for r in read_csv(out / "payouts.csv") if r["pot"] == "PAL-70/kommun" and r["qualified"] == "true"}
    assert set(over) <= qualified
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    warned = {w["message"].split(":")[0] for w in manifest["warnings"] if "registered_deaths" in w["message"]}
    assert set(over) <= warned


def test_more_units_started_than_relevant_is_still_an_error(sample_copy):
    data = sample_copy(2011)
    path = data / "senior_alert.csv"
    rows = list(csv.reader(open(path, encoding="utf-8")))
    rows[1][2] = str(int(rows[1][1]) + 1)
    path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    result = cli("validate", "--year", "2011", "--data", str(data))
    assert result.returncode == 1 and "units_started" in result.stdout


def test_on_empty_unpaid_needs_a_source(tmp_path):
    text = (RULES / "2010.yaml").read_text(encoding="utf-8")
    anchor = "  - id: PAL-70\n"
    assert anchor in text
    path = tmp_path / "2010.yaml"
    path.write_text(text.replace(anchor, anchor + "    on_empty: unpaid\n", 1), encoding="utf-8")
    result = cli("validate", "--rules", str(path), "--data", "sample_data/2010")
    assert result.returncode == 1 and "on_empty_source" in result.stdout


# --- published outcomes that could fail ----------------------------------------------------------


def edited(tmp_path: Path, year: int, old: str, new: str) -> Path:
    text = (RULES / f"{year}.yaml").read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / f"{year}.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_validate_checks_the_published_money_against_the_rules():
    result = cli("validate", "--year", "2010")
    assert result.returncode == 0
    assert "published outcome reproduced by the rules" in result.stdout
    assert "100 000 000 kr" in result.stdout and "66 000 000 kr" in result.stdout
    assert "not checked:" in result.stdout  # figures it cannot check are named, with the reason


def test_the_published_money_check_fails_when_an_empty_sub_pot_is_returned(tmp_path):
    anchor = "  - id: PAL-70\n"
    path = edited(tmp_path, 2010, anchor, anchor + "    on_empty: unpaid\n    on_empty_source: {document: "
                  + load_rules(RULES / "2010.yaml").pot("PAL-70").source.document + ", section: "
                  + json.dumps(load_rules(RULES / "2010.yaml").pot("PAL-70").source.section) + "}\n")
    result = cli("validate", "--rules", str(path), "--data", "sample_data/2010")
    assert result.returncode == 1
    assert re.search(r"these rules pay 97 000 000 kr|these rules pay 7 000 000 kr", result.stdout), result.stdout


def test_the_published_money_check_fails_when_the_table_is_used_as_printed(tmp_path):
    text = (RULES / "2010.yaml").read_text(encoding="utf-8")
    line = next(l for l in text.splitlines() if l.strip().startswith('"20": 3000000'))
    path = tmp_path / "2010.yaml"
    block = line.replace("3000000", "2500000")
    text = text.replace(line, block, 1)
    text = re.sub(r"\n\s+source_discrepancies:.*\n(\s+- .*\n)+", "\n", text, count=1)
    text = text.replace("      table_source:", "      acknowledged_gap: {amount_sek: 500000, note: som tryckt}\n"
                        "      table_source:", 1)
    path.write_text(text, encoding="utf-8")
    result = cli("validate", "--rules", str(path), "--data", "sample_data/2010")
    assert result.returncode == 1
    assert "65 500 000 kr" in result.stdout


def test_the_budget_reconciliation_can_fail(tmp_path):
    path = edited(tmp_path, 2010, "amount_sek: 70000000", "amount_sek: 71000000")
    result = cli("validate", "--rules", str(path), "--data", "sample_data/2010")
    assert result.returncode == 1 and "271 000 000" in result.stdout


# --- assumptions and conflicts as data -----------------------------------------------------------


@pytest.mark.parametrize("year", [2010, 2011, 2014])
def test_every_assumption_comment_names_an_assumption_entry(year):
    text = (RULES / f"{year}.yaml").read_text(encoding="utf-8")
    ids = {a.id for a in load_rules(RULES / f"{year}.yaml").assumptions}
    comments = re.findall(r"#.*\bASSUMPTION\b(.*)", text)
    assert comments, "the rule file marks its assumptions"
    for rest in comments:
        match = re.match(r"\s+(A-[A-Z0-9-]+)", rest)
        assert match and match.group(1) in ids, f"# ASSUMPTION{rest} names no assumption entry"


def test_validate_json_lists_every_assumption_and_conflict_with_its_pots():
    result = cli("validate", "--json")
    assert result.returncode == 0, result.stdout
    reports = {r["year"]: r for r in json.loads(result.stdout)["reports"]}
    for year, report in reports.items():
        rules = load_rules(RULES / f"{year}.yaml")
        assert [a["id"] for a in report["assumptions"]] == [a.id for a in rules.assumptions]
        assert [c["id"] for c in report["conflicts"]] == [c.id for c in rules.conflicts]
        assert all({"decision", "evidence", "pots"} <= set(a) for a in report["assumptions"])
    listed = {c["id"] for r in reports.values() for c in r["conflicts"]}
    assert {"C2", "C3", "C12", "C15", "C16", "C18", "C20", "C22", "C25"} <= listed
    assert {"A-DALARNA-3-MILJONER", "A-DELNING-70-30"} <= {a["id"] for a in reports[2010]["assumptions"]}
    assert {"A-PSYK-EN-POTT", "A-GOTLAND-TVA-ROLLER"} <= {a["id"] for a in reports[2014]["assumptions"]}


def test_validate_counts_assumptions_and_lists_them_with_verbose():
    short = cli("validate", "--year", "2011")
    rules = load_rules(RULES / "2011.yaml")
    assert f"{len(rules.assumptions)} assumptions" in short.stdout
    assert rules.assumptions[0].decision[:40] not in short.stdout
    verbose = cli("validate", "--year", "2011", "--verbose")
    assert all(a.id in verbose.stdout for a in rules.assumptions)
    assert all(c.id in verbose.stdout for c in rules.conflicts)


def test_validate_notes_gotland_and_the_regiondelar():
    v2014 = cli("validate", "--year", "2014")
    assert re.search(r"kommun 0980 Gotland is the county's only kommun", v2014.stdout)
    v2010 = cli("validate", "--year", "2010")
    report = json.loads(cli("validate", "--year", "2010", "--json").stdout)["reports"][0]
    assert any(p["where"].endswith("pot PAL-40/landsting") and "the grant shared this sub-pot among regiondel"
               in p["message"] for p in report["problems"])


def test_report_and_run_json_show_the_assumptions(tmp_path, sample_run):
    out = tmp_path / "out"
    sample_run(2014, out)
    html = (out / "report.html").read_text(encoding="utf-8")
    rules = load_rules(RULES / "2014.yaml")
    assert "Antaganden och källkonflikter" in html
    assert all(a.id in html for a in rules.assumptions) and all(f"<td>{c.id}</td>" in html for c in rules.conflicts)
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert [a["id"] for a in manifest["assumptions"]] == [a.id for a in rules.assumptions]


def test_explain_names_the_assumptions_behind_a_pot(tmp_path):
    result = cli("explain", "0114", "--year", "2011")
    assert result.returncode == 0, result.stderr
    assert "assumption A-DELNING-70-30" in result.stdout


# --- letters -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def letters(tmp_path_factory) -> dict[int, dict[str, str]]:
    texts = {}
    for year in (2010, 2011, 2014):
        out = tmp_path_factory.mktemp(f"letters{year}")
        assert cli("run", "--year", str(year), "--out", str(out)).returncode == 0
        result = cli("letters", "--year", str(year), "--format", "md", "--out", str(out))
        assert result.returncode == 0, result.stderr
        texts[year] = {p.stem: p.read_text(encoding="utf-8") for p in (out / "letters").glob("*.md")}
    return texts


INTERNAL = [r"ASSUMPTION", r"ANTAGANDE", r"SOURCE_ANALYSIS", r"\d{3}_[0-9a-f]{16}", r"\.txt\b", r"\.yaml\b",
            r"\b[0-9a-f]{16,}\b", r"Källorna anger", r"dokumenten anger", r"\bA-[A-Z]", r"\bC\d+\b", r"skl-payout"]


def test_no_letter_contains_an_internal_marker(letters):
    for year, by_stem in letters.items():
        for stem, text in by_stem.items():
            for pattern in INTERNAL:
                assert not re.search(pattern, text), f"{year} {stem}: {pattern!r} in a letter"


def test_letters_cite_sources_by_title(letters):
    text = letters[2011][next(s for s in letters[2011] if s.startswith("kommun-0114"))]
    assert "Källa: SKL" in text or "Källa: Regeringsbeslut" in text


def test_2010_letters_put_no_repayment_duty_on_recipients(letters):
    for stem, text in letters[2010].items():
        assert "återbetal" not in text.lower(), stem
    kommun = letters[2010][next(s for s in letters[2010] if s.startswith("kommun-"))]
    assert "förfogar fritt" in kommun


def test_2011_letters_state_both_payout_dates_and_name_socialstyrelsen_for_county_money(letters):
    kommun = letters[2011][next(s for s in letters[2011] if s.startswith("kommun-"))]
    assert "första kvartalet 2012" in kommun and "i slutet av året" in kommun
    assert "återbetal" not in kommun.lower()
    lan = letters[2011][next(s for s in letters[2011] if s.startswith("lan-"))]
    assert "Socialstyrelsen" in lan and "Kammarkollegiet" not in lan


def test_2014_county_money_is_not_called_performance_money(letters):
    for stem, text in letters[2014].items():
        if stem.startswith("lan-"):
            assert "restation" not in text, stem
            assert "Mätperiod" not in text, stem
            assert "25 procent" in text and "50 procent" in text and "100 procent" in text, stem
    kommun = letters[2014][next(s for s in letters[2014] if s.startswith("kommun-"))]
    assert "Prestationsbaserat statsbidrag" in kommun and "Mätperiod" in kommun


# --- percentages ---------------------------------------------------------------------------------


def shown_value(text: str) -> Fraction:
    return Fraction(text.replace("\u00a0", " ").removesuffix(" %").replace(" ", "").replace(",", ".")) / 100


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 100_000), st.integers(1, 100_000), st.lists(st.integers(1, 1000), min_size=1, max_size=3))
def test_a_share_is_rounded_the_normal_way_but_never_across_a_threshold(num, den, permille):
    value, thresholds = Fraction(num, den), [Fraction(p, 1000) for p in permille]
    text = fmt.measure_percent(value, thresholds)
    shown = shown_value(text)
    for threshold in thresholds:
        assert (shown >= threshold) == (value >= threshold), (value, threshold, text)
    one_place = Fraction(int(value * 1000 + Fraction(1, 2)), 1000)
    if all((one_place >= t) == (value >= t) for t in thresholds):
        assert shown == one_place, (value, text)  # the usual rounding when it tells the truth
    assert abs(shown - value) <= Fraction(1, 2000)


def test_one_letter_shows_one_value_for_a_measure_compared_with_two_thresholds(sample_copy, tmp_path):
    data = sample_copy(2011)
    path = data / "palliativregistret.csv"
    rows = list(csv.reader(open(path, encoding="utf-8")))
    by_code = {r[0]: r for r in rows[1:]}
    by_code["0114"][1:3] = ["4999", "10000"]  # 49,99 %: just below 50 %, far below 70 %
    by_code["0115"][1:3] = ["17499", "25000"]  # 69,996 %: above 50 %, just below 70 %
    path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert cli("run", "--year", "2011", "--data", str(data), "--out", str(out)).returncode == 0
    assert cli("letters", "--year", "2011", "--out", str(out), "--format", "md").returncode == 0
    for code, shown, of in (("0114", "49,99", "4 999 av 10 000"), ("0115", "69,996", "17 499 av 25 000")):
        text = next((out / "letters").glob(f"kommun-{code}-*.md")).read_text(encoding="utf-8").replace("\u00a0", " ")
        values = re.findall(rf"Ert värde: ([\d,]+) % \({of}\)", text)
        assert values == [shown, shown], (code, values)  # the 50 % and the 70 % pot show the same value


def test_rounding_examples():
    assert fmt.measure_percent(Fraction(3, 7), Fraction(1, 2)) == "42,9\u00a0%"
    assert fmt.measure_percent(Fraction(4999, 10000), Fraction(1, 2)) == "49,99\u00a0%"
    assert fmt.measure_percent(Fraction(1, 2), Fraction(1, 2)) == "50,0\u00a0%"


def test_every_source_conflict_is_handled_or_shown_in_some_rule_file():
    """Each contradiction SOURCE_ANALYSIS §8.2 lists is an entry of at least one year's rule file."""
    analysis = (Path(__file__).parent.parent / "docs" / "SOURCE_ANALYSIS.md").read_text(encoding="utf-8")
    table = analysis[analysis.index("### 8.2"):analysis.index("### 8.3")]
    listed = set(re.findall(r"^\| (C\d+) \|", table, re.M))
    assert len(listed) >= 30
    shown = {c.id for year in (2010, 2011, 2014) for c in load_rules(RULES / f"{year}.yaml").conflicts}
    assert listed <= shown, f"conflicts neither handled nor shown: {sorted(listed - shown, key=lambda c: int(c[1:]))}"


def test_many_rows_above_100_percent_are_counted_not_flooded(sample_copy):
    data = sample_copy(2011)
    path = data / "palliativregistret.csv"
    rows = list(csv.reader(open(path, encoding="utf-8")))
    for row in rows[1:]:
        row[1] = str(int(row[2]) + 1)
    path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    result = cli("validate", "--year", "2011", "--data", str(data), "--json")
    assert result.returncode == 0, result.stdout
    problems = json.loads(result.stdout)["reports"][0]["problems"]
    warned = [p for p in problems if "registered_deaths =" in p["message"]]
    assert len(warned) == len(rows) - 1 and not [p for p in problems if p["severity"] == "error"]
    text = cli("validate", "--year", "2011", "--data", str(data))  # the console says it once, with the count
    said = [line for line in text.stdout.splitlines() if "registered_deaths =" in line]
    assert len(said) == 1 and f"the same problem in {len(rows) - 1} rows (2, 3, 4, 5, 6, 7, …)" in said[0]
    assert text.stdout.rstrip().splitlines()[-1].startswith("2011: valid")


def test_diff_shows_withheld_money_released(sample_copy, tmp_path, sample_run):
    data = sample_copy(2011)
    plans = data / "action_plans.csv"
    plans.write_text(plans.read_text(encoding="utf-8").replace("nej", "ja"), encoding="utf-8")
    a, b = tmp_path / "a", tmp_path / "b"
    sample_run(2011, a)
    assert cli("run", "--year", "2011", "--data", str(data), "--out", str(b)).returncode == 0
    report = json.loads(cli("diff", str(a), str(b), "--json").stdout)
    assert [(c["code"], c["change_sek"]) for c in report["changes"]] == [("06", 2_500_000)]
    assert [(c["code"], c["change_sek"]) for c in report["withheld"]] == [("06", -2_500_000)]
    manifest = json.loads((a / "run.json").read_text(encoding="utf-8"))
    assert [(w["code"], w["withheld_sek"]) for w in manifest["withheld"]] == [("06", 2_500_000)]


@settings(max_examples=300, deadline=None)
@given(st.integers(-10**13, 10**13))
def test_whole_numbers_are_grouped_as_babel_groups_them_for_swedish(value):
    from babel.numbers import format_decimal

    assert fmt.number(value) == format_decimal(value, format="#,##0", locale="sv_SE")
    assert fmt.kr(value, nbsp=False) == format_decimal(value, format="#,##0", locale="sv_SE").replace("\u00a0", " ") + " kr"


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**9), st.integers(1, 10**6), st.integers(0, 6))
def test_shares_are_written_as_babel_writes_them_for_swedish(num, den, places):
    from decimal import Decimal

    from babel.numbers import format_decimal

    value = fmt.floor_decimal(Fraction(num, den), places)
    pattern = "#,##0" + ("." + "0" * places if places else "")
    assert fmt.decimal_text(value, places) == format_decimal(value, format=pattern, locale="sv_SE")
    assert fmt.decimal_kr(value) == format_decimal(value, format=pattern, locale="sv_SE") + "\u00a0kr"
    assert isinstance(value, Decimal)
    # thousands, decimals with leading zeros, and plain spaces, as babel's Swedish pattern writes them
    assert fmt.measure_percent(Fraction(123456), Fraction(1, 2)) == "12\u00a0345\u00a0600,0\u00a0%"
    assert fmt.measure_percent(Fraction(123456), Fraction(1, 2), nbsp=False) == "12 345 600,0 %"
    assert fmt.measure_percent(Fraction(1, 2000), Fraction(1, 1000)) == "0,05\u00a0%"
    assert fmt.measure_percent(Fraction(10001, 1000000), Fraction(1, 100), nbsp=False) == "1,0 %"
