"""`skl-payout validate`: reads everything, writes nothing, names every discrepancy."""

import json

from conftest import RULES, SAMPLE, cli


def test_validate_all_shipped_years(tmp_path):
    done = cli("validate", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert [r["year"] for r in report["reports"]] == [2010, 2011, 2014]
    assert all(r["ok"] for r in report["reports"])
    assert list(tmp_path.iterdir()) == []  # wrote nothing


def test_validate_2010_names_the_printed_table_figure_it_does_not_use():
    report = json.loads(cli("validate", "--year", "2010", "--json").stdout)["reports"][0]
    found = [p for p in report["problems"] if "source discrepancy" in p["message"]]
    assert len(found) == 1 and found[0]["severity"] == "warning"
    assert "prints 2 500 000 kr for 20" in found[0]["message"] and "pays 3 000 000 kr" in found[0]["message"]


def test_validate_2011_names_the_double_counted_million():
    report = json.loads(cli("validate", "--year", "2011", "--json").stdout)["reports"][0]
    messages = [p["message"] for p in report["problems"]]
    assert any("267 000 000 kr" in m and "266 000 000 kr" in m and "counted twice" in m for m in messages)
    assert not [p for p in report["problems"] if p["severity"] == "error"]


def test_validate_2014_says_what_is_not_modelled():
    report = json.loads(cli("validate", "--year", "2014", "--json").stdout)["reports"][0]
    assert any("not modelled" in p["message"] and "1 001 000 000 kr" in p["message"] for p in report["problems"])


def test_run_pays_the_whole_2010_table(tmp_path):
    done = cli("run", "--year", "2010", "--out", str(tmp_path / "o"))
    assert done.returncode == 0
    summary = (tmp_path / "o" / "summary.csv").read_text(encoding="utf-8")
    assert "DEV-66,66000000,66000000,0,0,21,21" in summary


def test_validate_2010_reproduces_the_published_qualifier_counts():
    report = json.loads(cli("validate", "--year", "2010", "--json").stdout)["reports"][0]
    reproduced = [c for c in report["checks"] if c.startswith("published outcome reproduced: ")]
    assert len(reproduced) == 6 and any("210 qualified for PAL-40/kommun" in c for c in reproduced)


def test_a_differing_published_count_is_a_warning(tmp_path):
    rules = tmp_path / "2010.yaml"
    text = (RULES / "2010.yaml").read_text(encoding="utf-8")
    rules.write_text(text.replace("    qualified: 210\n", "    qualified: 211\n"), encoding="utf-8")
    done = cli("validate", "--rules", str(rules), "--data", str(SAMPLE / "2010"), "--json")
    assert done.returncode == 0
    problems = json.loads(done.stdout)["reports"][0]["problems"]
    assert any(p["severity"] == "warning" and "this data gives 210 qualified, the source reports 211" in p["message"]
               for p in problems)


def test_validate_lists_errors_first_summarises_repeats_and_ends_with_its_verdict(tmp_path):
    """Excel dropped the leading zeros of a whole column: one line says so, with the count."""
    import re
    import shutil

    from conftest import SAMPLE, cli

    data = tmp_path / "data"
    shutil.copytree(SAMPLE / "2011", data)
    path = data / "authorities.csv"
    text, lost = re.subn(r"(?m)^0(\d{3}),", r"\1,", path.read_text(encoding="utf-8"))
    path.write_text(text, encoding="utf-8")
    done = cli("validate", "--year", "2011", "--data", str(data))
    assert done.returncode == 1
    lines = done.stdout.strip().splitlines()
    severities = [line.split()[0] for line in lines if line.split() and line.split()[0] in ("error", "warning", "note")]
    assert severities == sorted(severities, key=["error", "warning", "note"].index) and severities[0] == "error"
    zeros = [line for line in lines if "is not a four-digit kommun code" in line]
    assert len(zeros) == 1 and f"the same problem in {lost} rows" in zeros[0]
    assert lines[-1].startswith("2011: NOT valid")
