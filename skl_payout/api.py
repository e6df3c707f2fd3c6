"""The library calls the CLI is a thin layer over: each command is one call here."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from . import resources
from .errors import PayoutError, error

if TYPE_CHECKING:
    from .pipeline import Result


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


def compute(inp: Inputs, overrides: list | None = None):
    """A run's result. With `overrides` (whatif.Override), the rules are the rule file with those values
    changed and validated by its schema; the budget then may depart from the agreement's (said aloud)."""
    from .data import load_dataset
    from .pipeline import compute as _compute
    from .rules import load_rules

    rules = load_rules(inp.rules_path)
    if inp.year is not None and rules.year != inp.year:
        raise PayoutError(error(str(inp.rules_path), f"the rule file is for {rules.year}, not {inp.year}"))
    if overrides:
        from .whatif import raw_rules, scenario_rules

        sha = rules.sha256
        rules = scenario_rules(raw_rules(inp.rules_path), overrides, inp.rules_path.name)
        rules._sha256 = sha
    from .validate import rule_warnings

    errors = [p for p in rule_warnings(rules, inp.rules_path.name) if p.severity == "error"]
    if errors:  # the same gate as validate: no output while an error stands
        raise PayoutError(errors)
    return _compute(rules, load_dataset(inp.data_dir, rules))


@dataclass
class RunWritten:
    files: list[str]
    letters_removed: int = 0  # letters of a previous run with other results: removed, never left stale
    letters_kept: int = 0
    base: object = None  # a what-if scenario: the run of the rule file as it stands, compared against


def run(inp: Inputs, out: Path, with_documents: bool = True, swedish_csv: bool = False, overrides: list | None = None,
        meanwhile: Callable[[Result], object] | None = None):
    """Compute and write out/<year>/ atomically: CSVs, report, Excel list, and run.json last.

    `swedish_csv` adds the CSVs for Swedish Excel (utbetalningar.csv, totalt.csv, potter.csv).
    `meanwhile(result)`: the caller's own work on the result (the CLI renders its summary), done
    while the workbook is still being written; before anything is put in place, so a failure
    still leaves the earlier output as it was."""
    from .outputs import write_manifest, write_run, write_swedish_csvs, write_trace
    from .parallel import beside
    from .safefs import LETTERS, recorded_letters, recorded_run, staged

    if overrides:
        _refuse_a_real_run(Path(out))
    _refuse_an_attested_run(Path(out))
    result = compute(inp, overrides)
    options = {"year": inp.year, "rules": str(inp.rules_path.resolve()), "data": str(inp.data_dir.resolve())}
    if swedish_csv:
        options["swedish_csv"] = True
    if overrides:  # a what-if scenario: the rule file with these values changed
        options["overrides"] = [str(o) for o in overrides]
    info = RunWritten([])
    with staged(out, recorded_run, "an earlier run", protect=[inp.rules_path, *result.data.files]) as stage:
        def tables_and_report() -> list[str]:
            written = write_run(result, stage, with_trace=not with_documents)  # else beside the workbook
            if swedish_csv:
                written += write_swedish_csvs(result, stage)
            if overrides:  # a what-if: what changed against the rule file as it stands
                from .whatif import write_comparison

                info.base = compute(inp)
                written += write_comparison(info.base, result, stage)
            if with_documents:
                from .report import write_report

                written.append(write_report(result, stage, inp.rules_path).name)
            if meanwhile is not None:
                meanwhile(result)
            return written

        def trace_and_workbook() -> tuple[str, str]:
            from .excel import write_excel

            return write_trace(result, stage), write_excel(result, stage).name

        if with_documents:  # the trace and the workbook in a second process where that is faster (see parallel.py)
            (trace, xlsx), written = beside(trace_and_workbook, tables_and_report, "trace.json and payouts.xlsx")
            written.insert(written.index("summary.csv") + 1, trace)  # after the CSVs, where write_run lists it
            written.append(xlsx)
        else:
            written = tables_and_report()
        also_read = tuple(info.base.data.files) if info.base is not None else ()
        written.append(write_manifest(result, stage, inp.rules_path, options, written, also_read))
        old_letters = Path(out) / LETTERS
        if old_letters.is_dir():
            count = len([n for n in recorded_letters(old_letters) if n != "letters.json"])
            if _same_run(Path(out), stage):  # the same inputs and results: the letters still say what is paid
                shutil.copytree(old_letters, stage / LETTERS)
                info.letters_kept = count
            else:
                info.letters_removed = count
    info.files = written
    return result, info


def _refuse_an_attested_run(out: Path) -> None:
    """An attested or paid run is a record of a decision and of money sent: never replaced."""
    from .payments import ATTEST_FILE, PAYMENTS_DIR

    if (out / ATTEST_FILE).exists() or (out / PAYMENTS_DIR).exists():
        raise PayoutError(error(str(out), "holds an attested or paid run: it is never replaced",
                                "write the corrected run to a new folder, attest it, and pay the differences with "
                                "`skl-payout payments NEW --paid " + str(out) + "`"))


def _refuse_a_real_run(out: Path) -> None:
    """A what-if scenario never replaces a run (its letters and results are a decision's)."""
    from .safefs import read_manifest

    manifest = read_manifest(out / "run.json")
    if manifest is not None and not (manifest.get("options") or {}).get("overrides"):
        raise PayoutError(error(str(out), "holds a payout run, not a what-if scenario: whatif never replaces a run",
                                "choose another --out (the default is out/<year>-whatif)"))


def _same_run(old: Path, new: Path) -> bool:
    """Whether two run folders come from the same rules and inputs and pay the same (letters depend on all)."""
    from .safefs import read_manifest

    a, b = read_manifest(old / "run.json"), read_manifest(new / "run.json")
    if a is None or b is None:
        return False
    same_inputs = a.get("rules", {}).get("sha256") == b["rules"]["sha256"] and \
        sorted((i.get("file"), i.get("sha256")) for i in a.get("inputs", [])) == \
        sorted((i["file"], i["sha256"]) for i in b["inputs"])
    return same_inputs and (old / "payouts.csv").is_file() and \
        (old / "payouts.csv").read_bytes() == (new / "payouts.csv").read_bytes()


def recorded_inputs(year: int | None, rules: Path | None, data: Path | None, out: Path | None) -> tuple[Inputs, Path]:
    """Inputs for commands that follow a run: what OUT/run.json records, unless given explicitly."""
    import json

    from .safefs import read_manifest, tidy_run

    if year is None and rules is None and out is not None:  # the run in OUT says which year it is
        recorded_year = (read_manifest(Path(out) / "run.json") or {}).get("year")
        if isinstance(recorded_year, int) and not isinstance(recorded_year, bool):
            year = recorded_year
    base = inputs(year, rules, data)
    out = out if out is not None else Path("out") / str(base.year)
    tidy_run(out)
    manifest = out / "run.json"
    if rules is None and data is None and manifest.exists():
        try:
            options = json.loads(manifest.read_text(encoding="utf-8")).get("options", {})
            recorded = Inputs(base.year, Path(options["rules"]), Path(options["data"]))
        except (OSError, UnicodeDecodeError, ValueError, AttributeError, KeyError, TypeError):
            raise PayoutError(error(str(manifest), "cannot be read as a skl-payout manifest (options.rules, "
                                    "options.data)", "run `skl-payout run` again, or give --rules and --data")) from None
        if options.get("year") == base.year:
            base = recorded
    return base, out


def letters(inp: Inputs | None, out: Path, fmt_name: str, templates: Path | None, only: list[str] | None, on=None,
            settings_file: Path | None = None, year: int | None = None, progress=None, paid: Path | None = None):
    """Write letters to OUT/letters/: from the recorded run's trace when `inp` is None, else from a fresh
    computation checked against OUT/totals.csv if present.

    The folder is replaced as a whole, atomically. Letters in other formats are kept, and with
    `only` so are the other recipients' letters in this format; nothing the tool did not write is
    ever replaced.
    """
    from .letters import FORMATS, write_letters
    from . import __version__
    from .safefs import (LETTERS, LETTERS_MANIFEST, hashes, manifest_text, read_manifest, recorded_letters, staged,
                         tidy_run)

    from .settings import load as load_settings

    if fmt_name not in FORMATS:
        raise PayoutError(error("--format", f"unknown format {fmt_name!r}", "use pdf, html or md"))
    scenario = ((read_manifest(Path(out) / "run.json") or {}).get("options") or {}).get("overrides")
    if scenario:
        raise PayoutError(error(str(out), "holds a what-if scenario (" + ", ".join(scenario) + "), not a decision: "
                                "no letters are written for it", "write letters from a run of the rule file itself"))
    settings, settings_path = load_settings(settings_file)
    previous = None
    if paid is not None:  # a correction after payment: each letter states what was paid before
        from .payments import LEDGER_FILE, PAYMENTS_DIR, paid_so_far

        if on is None:
            raise PayoutError(error("--date", "a correction is a new decision: give its date",
                                    "--date YYYY-MM-DD, the date of the corrected decision"))

        previous = paid_so_far(Path(paid))
        if previous is None:
            raise PayoutError(error(str(Path(paid) / PAYMENTS_DIR / LEDGER_FILE), "records no payment",
                                    "--paid names the earlier run folder whose payment file was issued"))
    if inp is None:
        result, rules_path = recorded(out, year)
        protect = [rules_path, Path(templates or resources.shipped("templates"))]
        payees, sample, payee_file = _recorded_payees(out)
    else:
        result, rules_path = compute(inp), inp.rules_path
        tidy_run(out)
        check_recorded(result, out, "writing letters")
        protect = [rules_path, *result.data.files, Path(templates or resources.shipped("templates"))]
        payees, sample, payee_file = result.data.payees, result.data.synthetic, str(inp.data_dir / "payees.csv")
    _require_payees(payees, result, payee_file)
    templates = templates or resources.shipped("templates")
    target = out / LETTERS

    with staged(target, recorded_letters, "the letters", protect=protect, lock=Path(out).resolve().parent) as stage:
        if target.is_dir():
            for name in recorded_letters(target):
                if name != LETTERS_MANIFEST and not _rewritten(name, fmt_name, only):
                    shutil.copy2(target / name, stage / name)
        written = write_letters(result, rules_path, stage, fmt_name, Path(templates), only, on, settings,
                                settings_path, payees, sample, progress, previous)
        files = sorted(p.name for p in stage.iterdir() if p.name != LETTERS_MANIFEST)
        manifest = {"tool": "skl-payout", "tool_version": __version__,
                    "files": {name: {"sha256": digest} for name, digest in hashes(stage, files).items()}}
        (stage / LETTERS_MANIFEST).write_text(manifest_text(manifest), encoding="utf-8")
    return result, [target / p.name for p in written]


def _recorded_payees(out: Path) -> tuple[dict | None, bool, str]:
    """The payees and the sample-data mark of the run recorded in OUT."""
    from .payees import of_run
    from .safefs import read_manifest

    manifest = read_manifest(Path(out) / "run.json") or {}
    return of_run(manifest, Path(out) / "run.json"), manifest.get("sample_data") is True, \
        str(Path(manifest.get("options", {}).get("data", ".")) / "payees.csv")


def _require_payees(payees: dict | None, result, payee_file: str) -> None:
    """A letter goes to a legal organisation with an organisation number and an account: no payee, no letter."""
    from .payees import missing, missing_problem

    everyone = [r for r, _ in result.totals()]
    if payees is None:
        raise PayoutError(error(payee_file, "not found, or not read by the run: letters are addressed to each "
                                "recipient's payee (legal name, organisation number, account)",
                                "put payees.csv in the data folder (columns type, code, payee, organisation_number, "
                                "account_type, account; the sample data's payees.csv is an example) and run again"))
    absent = missing(payees, everyone)
    if absent:
        raise PayoutError(missing_problem(payee_file, absent, "in this run"))


def _rewritten(name: str, fmt_name: str, only: list[str] | None) -> bool:
    """Whether this run of `letters` drops the recorded letter `name` (with `only`, nothing is dropped:
    the chosen letters are written over their old files, the others stay)."""
    return name.endswith("." + fmt_name) and not only


def has_trace(out: Path) -> bool:
    """Whether OUT holds a run that recorded a trace (then it must be read back, and must be there)."""
    from .safefs import recorded_run
    from .trace import TRACE_FILE

    return TRACE_FILE in recorded_run(Path(out))


def recorded(out: Path, year: int | None = None):
    """The run recorded in OUT, read back from its trace: what was paid, without reading any data.

    trace.json must be the file the run wrote (its SHA-256 is in run.json), and the rule file the one
    it was computed with (for titles, sources and texts); every money invariant is checked again.
    """
    import hashlib
    import json

    from .compare import MAX_OUTPUT_BYTES, _manifest
    from .pipeline import attach
    from .rules import load_rules
    from .safefs import read_manifest, tidy_run
    from .trace import TRACE_FILE, from_dict

    out = Path(out)
    tidy_run(out)
    manifest = _manifest(out)
    if read_manifest(out / "run.json") is None:
        raise PayoutError(error(str(out / "run.json"), "was changed after the run wrote it",
                                "run `skl-payout run` again"))
    path = out / TRACE_FILE
    if not path.is_file():
        raise PayoutError(error(str(path), "is missing: run.json records it, and letters and explanations are "
                                "written from it, never from the data as it is now", "run `skl-payout run` again"))
    if year is not None and manifest["year"] != year:
        raise PayoutError(error(str(out), f"holds the run for {manifest['year']}, not {year}",
                                f"give --year {manifest['year']}, or the --out folder of the {year} run"))
    if path.stat().st_size > MAX_OUTPUT_BYTES:
        raise PayoutError(error(str(path), "is far larger than a run's trace", "run `skl-payout run` again"))
    raw = path.read_bytes()
    if (manifest.get("outputs") or {}).get(TRACE_FILE) != hashlib.sha256(raw).hexdigest():
        raise PayoutError(error(str(path), "is not the trace this run wrote (its SHA-256 differs from run.json)",
                                "run `skl-payout run` again"))
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayoutError(error(str(path), f"cannot be read as JSON: {exc}")) from None
    trace = from_dict(data, str(path))
    rules_path = Path(manifest["rules"]["path"])
    try:
        current = hashlib.sha256(rules_path.read_bytes()).hexdigest()
    except OSError:
        raise PayoutError(error(str(rules_path), "the rule file the run recorded in " + str(out) + " used cannot be "
                                "read", "letters and explanations need the rules that paid: run again")) from None
    if current != manifest["rules"]["sha256"] or current != trace.rules_sha256:
        raise PayoutError(error(str(rules_path), "the rule file changed since the run recorded in " + str(out),
                                "run `skl-payout run` again, so that letters and explanations use the rules that pay"))
    rules = load_rules(rules_path)
    if rules.sha256 != manifest["rules"]["sha256"] or rules.sha256 != trace.rules_sha256:
        raise PayoutError(error(str(rules_path), "the rule file changed since the run recorded in " + str(out),
                                "run `skl-payout run` again, so that letters and explanations use the rules that pay"))
    result = attach(rules, trace)
    if trace.year != manifest["year"]:
        raise PayoutError(error(str(path), f"is a trace for {trace.year}, run.json for {manifest['year']}"))
    check_recorded(result, out, "writing letters or explaining")  # totals.csv says what the trace says
    return result, rules_path


def check_recorded(result, out: Path, doing: str) -> None:
    """Refuse when OUT/totals.csv is not what the rules and data give now: say what was paid, or nothing."""
    from .compare import read_totals
    from .outputs import total_rows

    if not (Path(out) / "totals.csv").exists():
        return
    from .safefs import read_manifest

    manifest = read_manifest(Path(out) / "run.json")
    if manifest and result.data is not None and "trace.json" not in (manifest.get("outputs") or {}):
        # a run from before trace.json: the data must still be what it read, not merely give the same totals
        now = {(p.name, result.data.digests.get(p)) for p in result.data.files}
        then = {(i.get("file"), i.get("sha256")) for i in manifest.get("inputs", []) if isinstance(i, dict)}
        if now != then or (manifest.get("rules") or {}).get("sha256") != result.rules.sha256:
            raise PayoutError(error(str(Path(out) / "run.json"), "the rules or data changed since this run, which "
                                    "predates trace.json", f"run `skl-payout run` again before {doing}"))
    recorded = [[r["recipient_type"], r["code"], r["name"], r.get("county_code"), r["amount_sek"]]
                for r in read_totals(Path(out)).values()]
    if recorded != total_rows(result):
        raise PayoutError(error(str(Path(out) / "totals.csv"), "differs from what the rules and data give now",
                                f"run `skl-payout run` again before {doing}"))


def sweep(inp: Inputs, scenarios: list, out: Path, axis=None, progress=None):
    """Every scenario computed (compiled where it can be, else by the full engine) and written to OUT
    atomically: sweep.csv, sweep_recipients.csv, sweep.html and sweep.json (what was read)."""
    from . import __version__
    from .data import sha256
    from .safefs import hashes, manifest_text, staged
    from .whatif import SWEEP_MANIFEST, recorded_sweep, run_scenarios, write_sweep

    result = run_scenarios(inp, scenarios, progress)
    with staged(out, recorded_sweep, "an earlier sweep", protect=[inp.rules_path, *result.base.data.files]) as stage:
        written = write_sweep(result, stage, axis)
        manifest = {"tool": "skl-payout", "tool_version": __version__, "kind": "sweep", "year": inp.year,
                    "rules": {"path": str(inp.rules_path.resolve()), "sha256": result.base.rules.sha256},
                    "inputs": [{"file": p.name, "sha256": sha256(p)} for p in result.base.data.files],
                    "scenarios": [{"name": s.name, "overrides": [str(o) for o in s.overrides]} for s in scenarios],
                    "outputs": hashes(stage, written)}
        (stage / SWEEP_MANIFEST).write_text(manifest_text(manifest), encoding="utf-8")
    return result, written
