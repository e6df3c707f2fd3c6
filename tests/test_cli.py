"""End to end: the real CLI in a new process, as a grant officer runs it."""

import csv
import json
import subprocess
import sys

from conftest import ROOT, boundary, cli, read_csv
from skl_payout.cli import app


def test_run_2011_writes_the_contract_files(tmp_path):
    out = tmp_path / "out"
    done = cli("run", "--year", "2011", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "PAL-50/kommun" in done.stdout and "Total" in done.stdout
    assert next(csv.reader(open(out / "payouts.csv", encoding="utf-8"))) == [
        "pot", "recipient_type", "code", "name", "county_code", "qualified", "reason", "measure", "threshold",
        "key_value", "amount_sek"]
    summary = read_csv(out / "summary.csv")
    assert {row["pot"] for row in summary} >= {"PAL-50/kommun", "SA/landsting", "DEV-66"}
    for row in summary:
        assert int(row["paid_sek"]) + int(row["withheld_sek"]) + int(row["unpaid_sek"]) == int(row["budget_sek"])
    totals = read_csv(out / "totals.csv")
    payouts = read_csv(out / "payouts.csv")
    assert sum(int(r["amount_sek"]) for r in totals) == sum(int(r["amount_sek"]) for r in payouts)
    assert sum(int(r["amount_sek"]) for r in totals) == sum(int(r["paid_sek"]) for r in summary)
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert manifest["year"] == 2011 and len(manifest["rules"]["sha256"]) == 64
    assert {i["file"] for i in manifest["inputs"]} >= {"palliativregistret.csv", "population.csv"}


def test_codes_keep_leading_zeros(tmp_path):
    out = tmp_path / "out"
    cli("run", "--year", "2011", "--out", str(out))
    assert read_csv(out / "totals.csv")[0]["code"] == "0114"


def test_exactly_at_the_threshold_qualifies_and_just_below_does_not(tmp_path):
    out = tmp_path / "out"
    cli("run", "--year", "2011", "--out", str(out))
    rows = {(r["pot"], r["code"]): r for r in read_csv(out / "payouts.csv")}
    for threshold in (50, 70):
        exact, below = boundary(2011, threshold, "exact"), boundary(2011, threshold, "below")
        at = rows[(f"PAL-{threshold}/kommun", exact["code"])]
        assert at["measure"] == f"0.{threshold}0000" and at["qualified"] == "true" and int(at["amount_sek"]) > 0
        short = rows[(f"PAL-{threshold}/kommun", below["code"])]
        assert short["qualified"] == "false" and short["amount_sek"] == "0" and "(saknas 1)" in short["reason"]


def test_python_dash_m_and_console_script_both_work():
    done = subprocess.run([sys.executable, "-m", "skl_payout", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "run" in done.stdout
    script = ROOT / ".venv" / "bin" / "skl-payout"
    if script.exists():
        assert subprocess.run([str(script), "--help"], capture_output=True).returncode == 0


def test_help_does_not_import_pandas():
    code = ("import sys\nfrom skl_payout.cli import app\n"
            "try:\n    app(['run', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('PANDAS' if 'pandas' in sys.modules else 'CLEAN')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip().endswith("CLEAN")


def test_every_command_has_help_and_is_documented():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        assert command.callback.__doc__, f"{name} has no help text"
        assert f"skl-payout {name}" in readme, f"README does not document `skl-payout {name}`"
        done = cli(name, "--help")
        assert done.returncode == 0 and "Usage" in done.stdout
        assert "<bool>" not in done.stdout, f"{name} --help shows a value placeholder on a flag"


def test_unknown_year_is_a_clear_error(tmp_path):
    done = cli("run", "--year", "1999", "--out", str(tmp_path / "o"))
    assert done.returncode == 1
    assert "no shipped rule file for 1999" in done.stderr
    assert "Traceback" not in done.stderr


def test_runs_from_any_folder(tmp_path):
    done = cli("run", "--year", "2011", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "2011" / "totals.csv").exists()


def test_a_mistyped_option_is_bad_input_not_an_internal_error():
    done = cli("run", "--yaer", "2011")
    assert done.returncode == 1 and "No such option: --yaer" in done.stderr


def test_every_command_end_to_end_as_a_real_process(tmp_path):
    """A user's session, each command a new process (the other tests run the CLI in-process)."""
    from conftest import cli_process

    out, scenario = tmp_path / "2011", tmp_path / "whatif"
    steps = [
        ("validate", "--year", "2011"),
        ("run", "--year", "2011", "--out", str(out)),
        ("letters", "--out", str(out), "--format", "md", "--only", "0581"),
        ("explain", "Norrköping", "--out", str(out)),
        ("diff", str(out), str(out)),
        ("verify", str(out)),
        ("whatif", "--year", "2011", "--set", "PAL-50.at_least=45%", "--out", str(scenario)),
        ("attest", str(out), "--by", "Anna Exempelsson", "--role", "beslut"),
        ("attest", str(out), "--by", "Bertil Bengtsson", "--role", "behorighet"),
        ("payments", str(out), "--execution-date", "2012-02-20"),
    ]
    for args in steps:
        done = cli_process(*args)
        assert done.returncode == 0, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert {c.name for c in app.registered_commands if c.name} | \
        {c.callback.__name__ for c in app.registered_commands} >= {s[0] for s in steps}
    assert list((out / "payments").glob("SKLP-2011-*.xml"))
