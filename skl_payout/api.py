"""The library calls the CLI is a thin layer over: each command is one call here."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from . import resources
from .errors import PayoutError, error


@dataclass(frozen=True)
class Inputs:
    year: int | None
    rules_path: Path
    data_dir: Path


def inputs(year: int | None, rules: Path | None = None, data: Path | None = None) -> Inputs:
    """Resolve --year/--rules/--data to files, defaulting to what ships with the tool."""
    if rules is None:
        if year is None:
            raise PayoutError(error("arguments", "give --year or --rules"))
        rules = resources.rules_file(year)
        if not rules.exists():
            years = ", ".join(map(str, resources.shipped_years()))
            raise PayoutError(error(str(rules), f"no shipped rule file for {year}", f"shipped years: {years}"))
    if year is None:
        year = _year_of(Path(rules))
    if data is None:
        if year is None:
            from .rules import load_rules

            load_rules(Path(rules))  # raises the rule file's own errors: they say why no year
            raise PayoutError(error(str(rules), "cannot tell the year from the rule file; give --year or --data"))
        data = resources.sample_data(year)
    return Inputs(year, Path(rules), Path(data))


def _year_of(rules: Path) -> int | None:
    """The year a rule file states; None if it cannot be read (validate then reports why)."""
    from .rules import load_rules

    try:
        return load_rules(rules).year
    except PayoutError:
        return None


def compute(inp: Inputs):
    from .data import load_dataset
    from .pipeline import compute as _compute
    from .rules import load_rules

    rules = load_rules(inp.rules_path)
    if inp.year is not None and rules.year != inp.year:
        raise PayoutError(error(str(inp.rules_path), f"the rule file is for {rules.year}, not {inp.year}"))
    return _compute(rules, load_dataset(inp.data_dir, rules))


def run(inp: Inputs, out: Path, with_documents: bool = True):
    """Compute and write out/<year>/ atomically: CSVs, manifest, and the report and Excel list."""
    from .outputs import staged, write_run

    result = compute(inp)
    options = {"year": inp.year, "rules": str(inp.rules_path.resolve()), "data": str(inp.data_dir.resolve())}
    with staged(out, protect=[inp.rules_path, *result.data.files]) as stage:
        written = write_run(result, stage, inp.rules_path, options)
        if with_documents:
            from .excel import write_excel
            from .report import write_report

            written.append(write_report(result, stage, inp.rules_path).name)
            written.append(write_excel(result, stage).name)
    return result, written


def recorded_inputs(year: int | None, rules: Path | None, data: Path | None, out: Path | None) -> tuple[Inputs, Path]:
    """Inputs for commands that follow a run: what OUT/run.json records, unless given explicitly."""
    import json

    base = inputs(year, rules, data)
    out = out if out is not None else Path("out") / str(base.year)
    manifest = out / "run.json"
    if rules is None and data is None and manifest.exists():
        options = json.loads(manifest.read_text(encoding="utf-8")).get("options", {})
        if options.get("year") == base.year:
            base = Inputs(base.year, Path(options["rules"]), Path(options["data"]))
    return base, out


def letters(inp: Inputs, out: Path, fmt_name: str, templates: Path | None, only: list[str] | None, on=None):
    """Write letters to OUT/letters/, checked against OUT/totals.csv if present.

    The folder is replaced as a whole, atomically; with `only`, the other letters in it are kept.
    """
    from .letters import write_letters
    from .outputs import is_letters_folder, staged, total_rows

    result = compute(inp)
    totals = out / "totals.csv"
    if totals.exists():
        import csv

        with open(totals, encoding="utf-8", newline="") as fh:
            recorded = [[r["recipient_type"], r["code"], r["name"], r["county_code"], int(r["amount_sek"])]
                        for r in csv.DictReader(fh)]
        if recorded != total_rows(result):
            raise PayoutError(error(str(totals), "differs from what the rules and data give now",
                                    "run `skl-payout run` again before writing letters"))
    templates = templates or resources.shipped("templates")
    protect = [inp.rules_path, *result.data.files, Path(templates)]
    with staged(out / "letters", owned=is_letters_folder, protect=protect) as stage:
        if only and (out / "letters").is_dir():  # regenerating some letters keeps the others
            for old in (out / "letters").iterdir():
                if old.is_file():
                    shutil.copy2(old, stage / old.name)
        written = write_letters(result, inp.rules_path, stage, fmt_name, Path(templates), only, on)
    return result, [out / "letters" / p.name for p in written]
