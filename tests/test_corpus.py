"""The hostile corpus: every case either is refused clearly and loses nothing, or pays what its input means.

Each case in tests/corpus/*.yaml changes a copy of a year's sample data, its rule file, the letter
templates or an earlier output folder, then runs a command in-process (typer's CliRunner).
- A refused case (`expect: [words]`) must exit 1 with every word in the message (and in
  `validate --json` for data and rule cases), no traceback and no "internal error", leave the
  earlier output folder byte for byte as it was, and leave no hidden staging folder behind.
- An accepted case (`accepted: true`) must exit 0 and write payouts.csv, totals.csv and summary.csv
  byte-identical to the clean twin's: the same data written plainly.

Case fields (see tests/corpus/README.md): name, year, target, one or more mutations, command,
expect | accepted, warn.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import RULES, SAMPLE, ROOT, read_yaml, snapshot

CORPUS_DIR = Path(__file__).parent / "corpus"
CASES = [case for path in sorted(CORPUS_DIR.glob("*.yaml"))
         for case in read_yaml(path)]
RESULT_FILES = ("payouts.csv", "totals.csv", "summary.csv")
STAGED = re.compile(r"^\..*\.skl-payout-(new|old)-[a-z0-9_]+$")  # the tool's hidden staging folders


def invoke(*args: str):
    from skl_payout.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})


@pytest.fixture(scope="module")
def clean_runs(tmp_path_factory) -> dict[int, Path]:
    """Per year: an output folder of the clean sample data, with some Markdown letters."""
    runs = {}
    for year in sorted({c.get("year", 2011) for c in CASES}):
        out = tmp_path_factory.mktemp(f"clean{year}") / "out"
        done = invoke("run", "--year", str(year), "--out", str(out))
        assert done.exit_code == 0, done.stderr
        # a few letters (not all): each case copies this folder, and a refused command must leave them as they are
        few = [arg for code in ("0114", "0180", "01") for arg in ("--only", code)]
        done = invoke("letters", "--year", str(year), "--out", str(out), "--format", "md", "--date", "2012-01-02", *few)
        assert done.exit_code == 0, done.stderr
        runs[year] = out
    return runs


def to_xlsx(csv_path: Path, cells: dict, keep_csv: bool) -> None:
    """The CSV as an Excel workbook (codes as text, numbers as numbers), with typed cell overrides."""
    import csv

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    with open(csv_path, encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.reader(fh)):
            ws.append([int(v) if i and v.isdigit() and not v.startswith("0") else v for v in row])
    for ref, value in (cells or {}).items():
        if isinstance(value, dict) and "sheet" in value:
            wb.create_sheet(value["sheet"])[ref] = value["value"]
        else:
            ws[ref] = value
    wb.save(csv_path.with_suffix(".xlsx"))
    if not keep_csv:
        csv_path.unlink()


def mutate(path: Path, case: dict) -> None:
    """Apply a case's changes, in this order: replace the file's kind, then text edits, then bytes."""
    if case.get("delete_file"):
        path.unlink()
        return
    if case.get("make_dir"):
        path.unlink(missing_ok=True)
        path.mkdir()
        return
    if "symlink_to" in case:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        path.unlink(missing_ok=True)
        path.symlink_to(case["symlink_to"])
        return
    if "bytes" in case:
        path.write_bytes(bytes.fromhex(case["bytes"]))
    if "content" in case:
        path.write_text(case["content"], encoding="utf-8")
    if "json_drop" in case:
        data = json.loads(path.read_text(encoding="utf-8"))
        del data[case["json_drop"]]
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    if "separator" in case:
        path.write_text(path.read_text(encoding="utf-8").replace(",", case["separator"]), encoding="utf-8")
    edits = ([case["replace"]] if "replace" in case else []) + case.get("replaces", [])
    if edits or "append" in case or "delete" in case or "suffix_lines" in case:
        text = path.read_text(encoding="utf-8")
        for old, new in edits:
            assert old in text, f"{case['name']}: {old!r} not in {path.name}"
            text = text.replace(old, new, 1)
        if "delete" in case:
            text = "".join(line for line in text.splitlines(True) if case["delete"] not in line)
        if "suffix_lines" in case:
            text = "".join(line.rstrip("\n") + case["suffix_lines"] + "\n" for line in text.splitlines(True))
        if "append" in case:
            text += case["append"] + "\n"
        path.write_text(text, encoding="utf-8")
    if "long_digits" in case:  # a number longer than Python converts by default
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("0114,40194,", "0114," + "9" * case["long_digits"] + ",", 1), encoding="utf-8")
    if "repeat_to_mb" in case:
        lines = path.read_bytes().split(b"\n", 1)[1]
        with open(path, "ab") as fh:
            while fh.tell() < case["repeat_to_mb"] * 1024 * 1024:
                fh.write(lines)
    if case.get("crlf"):
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    if "encoding" in case:
        path.write_bytes(path.read_text(encoding="utf-8").encode(case["encoding"]))
    if "append_bytes" in case:
        with open(path, "ab") as fh:
            fh.write(bytes.fromhex(case["append_bytes"]))
    if "xlsx" in case:
        to_xlsx(path, (case["xlsx"] or {}).get("cells"), (case["xlsx"] or {}).get("keep_csv", False))
    if "rename_to" in case:
        path.rename(path.with_name(case["rename_to"]))
    if "extra_file" in case:
        (path.parent / case["extra_file"]["name"]).write_text(case["extra_file"]["content"], encoding="utf-8")


def prepare(case: dict, tmp: Path, clean: Path) -> dict[str, Path]:
    year = case.get("year", 2011)
    paths = {"data": tmp / "data", "rules": tmp / f"{year}.yaml", "templates": tmp / "templates", "out": tmp / "out"}
    shutil.copytree(SAMPLE / str(year), paths["data"])
    shutil.copyfile(RULES / f"{year}.yaml", paths["rules"])
    if case.get("command") == "letters" or case["target"].startswith("template:"):  # the only readers
        shutil.copytree(ROOT / "templates", paths["templates"])
    shutil.copytree(clean, paths["out"], symlinks=True)
    target = case["target"]
    if target == "rules":
        path = paths["rules"]
    elif target.startswith("template:"):
        path = paths["templates"] / target.split(":", 1)[1]
    elif target.startswith("out:"):
        path = paths["out"] / target.split(":", 1)[1]
    else:
        path = paths["data"] / target
    mutate(path, case)
    return paths


def command(case: dict, paths: dict[str, Path]) -> list[str]:
    year = str(case.get("year", 2011))
    out = str(paths["out"])
    which = case.get("command", "run")
    if which == "run":
        return ["run", "--rules", str(paths["rules"]), "--data", str(paths["data"]), "--out", out]
    if which == "letters":
        return ["letters", "--rules", str(paths["rules"]), "--data", str(paths["data"]), "--out", out, "--format",
                case.get("format", "md"), "--templates", str(paths["templates"]), "--date", "2012-01-02"]
    if which == "diff":
        return ["diff", out, out]
    if which == "verify":
        return ["verify", out]
    raise AssertionError(f"unknown command {which}")


def expected_words(case: dict, rules: Path) -> list[str]:
    """The case's words, with `{line:NEEDLE}` replaced by the rule file's line that holds NEEDLE."""
    words = []
    for word in case["expect"]:
        if "{line:" in word:
            needle = word.split("{line:")[1].rstrip("}")
            line = next(i for i, t in enumerate(rules.read_text(encoding="utf-8").splitlines(), 1) if needle in t)
            word = word.split("{line:")[0] + str(line)
        words.append(word)
    return words


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_corpus_case(case, tmp_path, clean_runs):
    year = case.get("year", 2011)
    paths = prepare(case, tmp_path, clean_runs[year])
    before = snapshot(paths["out"])
    args = command(case, paths)
    if case.get("accepted"):
        if case.get("command", "run") == "letters":
            pytest.fail("accepted cases run `run` and compare payouts")
        done = invoke(*args)
        assert done.exit_code == 0, done.stdout + done.stderr
        for name in RESULT_FILES:
            assert (paths["out"] / name).read_bytes() == (clean_runs[year] / name).read_bytes(), \
                f"{name} differs from the clean twin's"
        for word in case.get("warn", []):
            assert word in done.stderr + done.stdout, f"{word!r} not said"
        return

    words = expected_words(case, paths["rules"])
    if case.get("command", "run") == "run" and not case["target"].startswith(("out:", "template:")):
        checked = invoke("validate", "--rules", str(paths["rules"]), "--data", str(paths["data"]), "--json")
        assert checked.exit_code == 1, checked.stdout + checked.stderr
        text = json.dumps(json.loads(checked.stdout), ensure_ascii=False)
        for word in words:
            assert word in text, f"validate: {word!r} not in {text}"
    done = invoke(*args)
    said = done.stderr + done.stdout
    assert done.exit_code == 1, f"exit {done.exit_code}: {said}"
    assert done.exception is None or isinstance(done.exception, SystemExit), repr(done.exception)
    assert "Traceback" not in said and "internal error" not in said, said
    for word in words:
        assert word in said, f"{word!r} not in {said}"
    assert snapshot(paths["out"]) == before, "the earlier output changed"
    leftovers = [p.name for p in paths["out"].parent.iterdir() if STAGED.match(p.name)]
    leftovers += [p.name for p in paths["out"].iterdir() if STAGED.match(p.name)] if paths["out"].is_dir() else []
    assert not leftovers, leftovers


def test_the_corpus_is_large_and_covers_every_class():
    targets = [c["target"] for c in CASES]
    assert len(CASES) >= 100
    assert sum(t == "rules" for t in targets) >= 20
    assert sum(t.startswith("template:") for t in targets) >= 3
    assert sum(t.startswith("out:") for t in targets) >= 8
    assert sum(bool(c.get("accepted")) for c in CASES) >= 15
    assert len({c["name"] for c in CASES}) == len(CASES), "case names must be unique"
