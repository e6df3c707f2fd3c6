"""Trustworthy runs: explain, diff, verify, Swedish exports, atomic output, fuzzing."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import RULES, SAMPLE, boundary, cli, read_csv, snapshot
from skl_payout import api
from skl_payout.data import load_dataset, read_rows
from skl_payout.errors import PayoutError
from skl_payout.rules import load_rules


@pytest.fixture(scope="module")
def run_2011(tmp_path_factory, sample_run) -> Path:
    out = tmp_path_factory.mktemp("trust") / "2011"
    sample_run(2011, out)
    return out


# --- explain -------------------------------------------------------------------------------------

def test_explain_states_what_totals_pays_every_authority(run_2011):
    result = api.compute(api.inputs(2011))
    from skl_payout.explain import explain

    totals = read_csv(run_2011 / "totals.csv")
    for row in totals:
        (item,) = explain(result, row["code"], row["recipient_type"])
        assert item["total_sek"] == int(row["amount_sek"])
        assert sum(p["amount_sek"] for p in item["pots"]) == item["total_sek"]


@pytest.mark.parametrize("code,rtype", [("0180", "kommun"), ("01", "landsting"), ("06", "lan")])
def test_explain_cli_json(code, rtype, run_2011):
    done = cli("explain", code, "--year", "2011", "--type", rtype, "--json", "--out", str(run_2011))
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    expected = next(int(r["amount_sek"]) for r in read_csv(run_2011 / "totals.csv")
                    if r["code"] == code and r["recipient_type"] == rtype)
    assert payload["total_sek"] == expected
    assert all("amount_sek" in p and p["source"] for p in payload["pots"])


def test_explain_text_shows_data_rows_and_arithmetic(run_2011):
    done = cli("explain", "0180", "--year", "2011", "--out", str(run_2011))
    assert done.returncode == 0
    assert "palliativregistret.csv row" in done.stdout and "floor" in done.stdout and "remainder krona" in done.stdout
    assert "TOTAL kommun 0180 Stockholm" in done.stdout


def test_explain_unknown_code_hints_at_leading_zero():
    done = cli("explain", "114", "--year", "2011")
    assert done.returncode == 1 and "'0114'" in done.stderr and "Traceback" not in done.stderr


# --- corrections: diff ---------------------------------------------------------------------------

def test_diff_names_changed_recipients_and_inputs(run_2011, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE / "2011", data)
    path = data / "palliativregistret.csv"
    near = boundary(2011, 50, "below")  # one registration short of 50 %
    row = f"{near['code']},{near['registered_deaths']},{near['deaths']}"
    fixed = f"{near['code']},{int(near['registered_deaths']) + 1},{near['deaths']}"
    path.write_text(path.read_text(encoding="utf-8").replace(row, fixed), encoding="utf-8")
    corrected = tmp_path / "corrected"
    assert cli("run", "--year", "2011", "--data", str(data), "--out", str(corrected)).returncode == 0
    report = tmp_path / "diff.csv"
    done = cli("diff", str(run_2011), str(corrected), "--csv", str(report), "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert [i["file"] for i in payload["inputs"]] == ["palliativregistret.csv"]
    changed = {c["code"]: c for c in payload["changes"]}
    assert changed[near["code"]]["change_sek"] > 0  # it now reaches exactly 50 %
    assert payload["net_sek"] == 0  # the pot is fixed: others pay for it, to the krona
    rows = read_csv(report)
    assert {r["code"] for r in rows} == set(changed)
    text = cli("diff", str(run_2011), str(corrected), "--csv", str(tmp_path / "d2.csv"))
    assert "palliativregistret.csv" in text.stdout and near["name"] in text.stdout


def test_a_correction_leaves_no_letter_with_an_old_amount(tmp_path):
    """The README's walkthrough: one corrected row moves many amounts; the letters follow all of them."""
    from skl_payout.fmt import kr
    from skl_payout.letters import slug

    data = tmp_path / "data"
    shutil.copytree(SAMPLE / "2011", data)
    out = tmp_path / "out"
    assert cli("run", "--year", "2011", "--data", str(data), "--out", str(out)).returncode == 0
    assert cli("letters", "--out", str(out), "--format", "md").returncode == 0
    before = {(r["recipient_type"], r["code"]): int(r["amount_sek"]) for r in read_csv(out / "totals.csv")}
    path = data / "palliativregistret.csv"
    near = boundary(2011, 50, "below")
    row = f"{near['code']},{near['registered_deaths']},{near['deaths']}"
    fixed = f"{near['code']},{int(near['registered_deaths']) + 1},{near['deaths']}"
    path.write_text(path.read_text(encoding="utf-8").replace(row, fixed), encoding="utf-8")

    # corrected into the same folder: the letters of the old results go with them
    assert cli("run", "--year", "2011", "--data", str(data), "--out", str(out)).returncode == 0
    assert not list(out.glob("letters/*.md")), "letters of the old results were left beside the new ones"
    assert cli("letters", "--out", str(out), "--format", "md").returncode == 0
    totals = read_csv(out / "totals.csv")
    after = {(r["recipient_type"], r["code"]): int(r["amount_sek"]) for r in totals}
    changed = [key for key in after if after[key] != before[key]]
    assert len(changed) >= 50, f"the correction should move many amounts, moved {len(changed)}"
    letters = {p.name for p in (out / "letters").glob("*.md")}
    assert len(letters) == len(totals)
    for r in totals:
        text = (out / "letters" / f"{r['recipient_type']}-{r['code']}-{slug(r['name'])}.md").read_text(encoding="utf-8")
        assert f": {kr(int(r['amount_sek']))}**" in text, f"{r['code']}: the letter does not state the new amount"
        old = before[r["recipient_type"], r["code"]]
        if old != int(r["amount_sek"]):
            assert f": {kr(old)}**" not in text, f"{r['code']}: the letter still states the old amount"


# --- manifest and verify -------------------------------------------------------------------------

def test_manifest_records_inputs_rules_and_versions(run_2011):
    manifest = json.loads((run_2011 / "run.json").read_text(encoding="utf-8"))
    for entry in manifest["inputs"] + [manifest["rules"]]:
        assert hashlib.sha256(Path(entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    assert manifest["tool_version"] and manifest["python"] and manifest["libraries"]["pandas"]
    assert manifest["options"]["year"] == 2011


def test_verify_confirms_and_detects_changes(run_2011, tmp_path):
    done = cli("verify", str(run_2011))
    assert done.returncode == 0 and "identical payouts.csv" in done.stdout
    tampered = tmp_path / "tampered"
    shutil.copytree(run_2011, tampered)
    (tampered / "totals.csv").write_text("recipient_type,code,name,county_code,amount_sek\n", encoding="utf-8")
    done = cli("verify", str(tampered))
    assert done.returncode == 1 and "DIFFERENT totals.csv" in done.stderr


# --- CSVs for Swedish Excel ----------------------------------------------------------------------

def test_swedish_csvs_open_in_swedish_excel_and_match_the_run(tmp_path):
    out = tmp_path / "out"
    done = cli("run", "--year", "2011", "--swedish-csv", "--out", str(out))
    assert done.returncode == 0, done.stderr
    raw = (out / "totalt.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    rows = list(csv.reader(raw[3:].decode("utf-8").splitlines(), delimiter=";"))
    assert rows[0] == ["Typ", "Kod", "Namn", "Länskod", "Belopp (kr)", "Innehållet (kr)"]
    plain = read_csv(out / "totals.csv")
    assert [(r[1], int(r[4])) for r in rows[1:]] == [(f'="{p["code"]}"', int(p["amount_sek"])) for p in plain]
    assert {r[0] for r in rows[1:]} == {"kommun", "landsting/region", "län"}
    payouts = list(csv.reader((out / "utbetalningar.csv").read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    first = dict(zip(payouts[0], payouts[1]))
    assert first["Kvalificerad"] == "ja" and first["Andel (%)"] == "64,3835" and first["Gräns (%)"] == "50"
    assert sum(int(r[10]) for r in payouts[1:]) == sum(int(p["amount_sek"]) for p in plain)
    assert (out / "totals.csv").read_bytes().startswith(b"recipient_type,code")  # the contract's CSVs are unchanged
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert {"utbetalningar.csv", "totalt.csv", "potter.csv"} <= set(manifest["outputs"])
    done = cli("verify", str(out))
    assert done.returncode == 0 and "identical potter.csv" in done.stdout


def test_swedish_csvs_never_hold_a_live_formula(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE / "2011", data)
    path = data / "authorities.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("0114,Upplands Väsby,", '0114,"=HYPERLINK(""x"")",', 1),
                    encoding="utf-8")
    out = tmp_path / "out"
    assert cli("run", "--year", "2011", "--data", str(data), "--out", str(out), "--swedish-csv").returncode == 0
    rows = list(csv.reader((out / "totalt.csv").read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    assert rows[1][2] == "'=HYPERLINK(\"x\")"


# --- Swedish exports -----------------------------------------------------------------------------

def swedish_twin(src: Path, dst: Path, encoding: str = "cp1252", thousands: bool = True) -> Path:
    """The same data as a Swedish Excel user exports it: semicolons, CRLF, cp1252, spaces in numbers."""
    dst.mkdir()
    for path in src.glob("*.csv"):
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        out = []
        for row in rows:
            cells = []
            for cell in row:
                if thousands and cell.isdigit() and len(cell) > 4 and not cell.startswith("0"):
                    cell = f"{int(cell):,}".replace(",", " ")
                cells.append(cell)
            out.append(";".join(cells))
        text = "\r\n".join(out) + "\r\n"
        data = text.encode(encoding) if encoding != "utf-8-sig" else b"\xef\xbb\xbf" + text.encode("utf-8")
        (dst / path.name).write_bytes(data)
    return dst


def xlsx_twin(src: Path, dst: Path) -> Path:
    from openpyxl import Workbook

    dst.mkdir()
    for path in src.glob("*.csv"):
        wb = Workbook()
        ws = wb.active
        with open(path, encoding="utf-8", newline="") as fh:
            for i, row in enumerate(csv.reader(fh)):
                # numbers as numbers, codes as text: as a careful user keeps them
                ws.append([int(c) if i and c.isdigit() and not c.startswith("0") else c for c in row])
        wb.save(dst / (path.stem + ".xlsx"))
    return dst


@pytest.mark.parametrize("variant", ["cp1252", "utf-8-sig", "xlsx"])
def test_swedish_exports_give_the_same_payouts(variant, tmp_path, run_2011):
    if variant == "xlsx":
        data = xlsx_twin(SAMPLE / "2011", tmp_path / "data")
    else:
        data = swedish_twin(SAMPLE / "2011", tmp_path / "data", variant)
    if variant == "cp1252":
        assert "Väsby".encode("cp1252") in (data / "authorities.csv").read_bytes()
        assert b";" in (data / "population.csv").read_bytes() and b"\r\n" in (data / "population.csv").read_bytes()
    out = tmp_path / "out"
    done = cli("run", "--year", "2011", "--data", str(data), "--out", str(out))
    assert done.returncode == 0, done.stderr
    for name in ("payouts.csv", "totals.csv", "summary.csv"):
        assert (out / name).read_bytes() == (run_2011 / name).read_bytes(), name


def test_decimal_comma_with_zero_decimals_is_a_whole_number(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes("code;n\r\n0114;1 234,00\r\n".encode("cp1252"))
    header, rows = read_rows(path)
    from skl_payout.data import parse_whole

    assert header == ("code", "n") and parse_whole(rows[0][1]["n"]) == 1234


def test_a_data_file_in_a_subfolder_is_read_again_when_it_changes(tmp_path):
    """A data set is remembered by its files' content: also a file the rules name in a subfolder."""
    from skl_payout import api

    data, rules = tmp_path / "data", tmp_path / "2011.yaml"
    shutil.copytree(SAMPLE / "2011", data)
    (data / "sub").mkdir()
    (data / "population.csv").rename(data / "sub" / "population.csv")
    rules.write_text((RULES / "2011.yaml").read_text(encoding="utf-8").replace("file: population.csv",
                                                                               "file: sub/population.csv"), encoding="utf-8")
    inp = api.Inputs(2011, rules, data)
    before = api.compute(inp).data.tables["population"].values[("kommun", "0114")]["population_total"]
    path = data / "sub" / "population.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(f"0114,{before},", f"0114,{before + 1},", 1), encoding="utf-8")
    assert api.compute(inp).data.tables["population"].values[("kommun", "0114")]["population_total"] == before + 1


def test_a_file_read_again_is_read_as_it_is_now_and_named_where_it_is(tmp_path):
    """read_rows gives the rows of bytes it has read before again: never for other bytes, and a
    message names the file where it is now."""
    path = tmp_path / "x.csv"
    path.write_text("code,n\n0114,1\n", encoding="utf-8")
    assert read_rows(path)[1][0][1]["n"] == "1"
    path.write_text("code,n\n0114,2\n", encoding="utf-8")  # the same size, other bytes
    assert read_rows(path)[1][0][1]["n"] == "2"
    twin = tmp_path / "twin" / "x.csv"
    twin.parent.mkdir()
    twin.write_bytes(path.read_bytes())
    digests = {}
    assert read_rows(twin, digests) == read_rows(path) and twin in digests
    for folder in ("a", "b"):
        bad = tmp_path / folder / "y.csv"
        bad.parent.mkdir()
        bad.write_text("code,n\n0114,1,9\n", encoding="utf-8")
        with pytest.raises(PayoutError) as info:
            read_rows(bad)
        assert "y.csv row 2" in info.value.problems[0].where


# --- nothing lost --------------------------------------------------------------------------------

def test_an_interrupted_run_leaves_the_previous_output_intact(run_2011, tmp_path, monkeypatch):
    out = tmp_path / "2011"
    shutil.copytree(run_2011, out)
    before = snapshot(out)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("skl_payout.excel.write_excel", interrupted)
    with pytest.raises(KeyboardInterrupt):
        api.run(api.inputs(2011), out)
    assert snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["2011"]


def test_debug_shows_a_traceback_and_plain_mode_does_not(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE / "2011", data)
    (data / "population.csv").write_text("", encoding="utf-8")
    plain = cli("run", "--year", "2011", "--data", str(data), "--out", str(tmp_path / "o"))
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    debug = cli("--debug", "run", "--year", "2011", "--data", str(data), "--out", str(tmp_path / "o"))
    assert debug.returncode != 0 and "Traceback" in debug.stderr


# --- fuzzing: random bytes and random YAML give clear errors, never a crash ----------------------

RULES_2011 = load_rules(RULES / "2011.yaml")


@pytest.fixture(scope="module")
def sample_copy(tmp_path_factory) -> Path:
    """One copy of the 2011 sample data per module; a fuzz example rewrites one file of it."""
    folder = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(SAMPLE / "2011", folder, dirs_exist_ok=True)
    return folder


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400))
def test_random_bytes_in_a_data_file(sample_copy, blob):
    folder = sample_copy
    (folder / "palliativregistret.csv").write_bytes(blob)
    with pytest.raises(PayoutError) as info:
        load_dataset(folder, RULES_2011)
    assert all(p.where and p.message for p in info.value.problems)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.text(alphabet="0123456789;,\"' -.abcåäö\t", max_size=8), min_size=1, max_size=4),
                max_size=6))
def test_random_csv_text_in_a_data_file(sample_copy, rows):
    folder = sample_copy
    text = "code,registered_deaths,deaths\n" + "\n".join(",".join(r) for r in rows)
    (folder / "palliativregistret.csv").write_text(text, encoding="utf-8")
    with pytest.raises(PayoutError):
        load_dataset(folder, RULES_2011)


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(max_size=12) | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(yaml_values)
def test_random_yaml_documents_as_rules(tmp_path_factory, document):
    path = tmp_path_factory.mktemp("fuzzyaml") / "rules.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PayoutError) as info:
        load_rules(path)
    assert all(str(path) in p.where for p in info.value.problems)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_random_bytes_as_rules(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("fuzzrules") / "rules.yaml"
    path.write_bytes(blob)
    with pytest.raises(PayoutError):
        load_rules(path)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(
    (RULES / "2011.yaml").read_text(encoding="utf-8").splitlines())), st.text(max_size=20))
def test_mutated_rule_file_lines(tmp_path_factory, line, replacement):
    """Replace one real line with noise: either a clean load or a clear error, never a crash."""
    text = (RULES / "2011.yaml").read_text(encoding="utf-8").replace(line, replacement, 1)
    path = tmp_path_factory.mktemp("mutate") / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_rules(path)
    except PayoutError as exc:
        assert exc.problems


# --- a wrong --out never deletes anyone's files ---------------------------------------------------

def test_a_folder_not_written_by_skl_payout_is_not_replaced(tmp_path):
    mine = tmp_path / "Dokument"
    mine.mkdir()
    (mine / "anteckningar.txt").write_text("viktigt", encoding="utf-8")
    done = cli("run", "--year", "2011", "--out", str(mine))
    assert done.returncode == 1 and "was not written by skl-payout" in done.stderr
    assert [p.name for p in mine.iterdir()] == ["anteckningar.txt"]


@pytest.mark.parametrize("where", ["data", "parent"])
def test_the_output_folder_cannot_replace_the_inputs(tmp_path, where):
    data = tmp_path / "in" / "data"
    shutil.copytree(SAMPLE / "2011", data)
    (data / "run.json").write_text("{}", encoding="utf-8")  # even if it looks like an output folder
    before = snapshot(tmp_path / "in")
    out = data if where == "data" else tmp_path / "in"
    done = cli("run", "--year", "2011", "--data", str(data), "--out", str(out))
    assert done.returncode == 1 and "would replace the input" in done.stderr
    assert snapshot(tmp_path / "in") == before


def test_letters_do_not_replace_a_foreign_letters_folder(run_2011, tmp_path):
    out = tmp_path / "2011"
    shutil.copytree(run_2011, out, ignore=shutil.ignore_patterns("letters"))
    (out / "letters").mkdir()
    (out / "letters" / "budget.xlsx").write_bytes(b"x")
    done = cli("letters", "--year", "2011", "--out", str(out), "--format", "md")
    assert done.returncode == 1 and [p.name for p in (out / "letters").iterdir()] == ["budget.xlsx"]


def test_explain_finds_a_recipient_by_name_and_accepts_lan_with_its_accent(run_2011):
    by_name = cli("explain", "Norrköping", "--year", "2011", "--out", str(run_2011), "--json")
    by_code = cli("explain", "0581", "--year", "2011", "--out", str(run_2011), "--json")
    assert by_name.returncode == 0 and json.loads(by_name.stdout)["recipients"] == json.loads(by_code.stdout)["recipients"]
    county = cli("explain", "06", "--type", "län", "--year", "2011", "--out", str(run_2011), "--json")
    assert county.returncode == 0 and json.loads(county.stdout)["type"] == "lan"
    assert cli("explain", "06", "--type", "county", "--year", "2011").returncode == 1


def test_version():
    from skl_payout import __version__

    done = cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"skl-payout {__version__}"
