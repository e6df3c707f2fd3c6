"""Command line: a few lines per command over one library call (heavy libraries are imported only when used)."""

from __future__ import annotations

import errno
import functools
import gc
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Optional

import typer

# rich is imported when something is printed, never to print --help: help must come at once

app = typer.Typer(
    help="Exact payout runs of Swedish performance-based state grants (prestationsbaserat statsbidrag).",
    no_args_is_help=True,
    add_completion=True,  # --install-completion for bash, zsh, fish, PowerShell
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: formatting it with rich costs more than the rest of the answer
)


def _reader_gone() -> None:
    """`skl-payout ... | head`: the reader has gone. Drop further output; the command still ends with its
    own exit code (a failed check stays a failure under `set -o pipefail`)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


class _LazyConsole:
    """A rich Console made on first use (importing rich is most of the cost of a quick command)."""

    def __init__(self, stderr: bool = False):
        self._stderr, self._console = stderr, None

    @property
    def real(self):
        if self._console is None:
            from rich.console import Console

            class _Console(Console):
                def on_broken_pipe(self) -> None:  # rich would exit 1 here
                    self.quiet = True
                    _reader_gone()

            self._console = _Console(stderr=self._stderr)
        return self._console

    def __getattr__(self, name: str):
        return getattr(self.real, name)


def _dumps(payload, **options) -> str:
    import json  # not for `--help`, which imports nothing heavy

    return json.dumps(payload, **options)


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def Table(*args, **kwargs):  # noqa: N802 - rich's Table, imported when a table is printed
    from rich.table import Table as RichTable

    return RichTable(*args, **kwargs)


def emit(text: str) -> None:
    """Machine-readable output on stdout, ending with a newline."""
    try:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        _reader_gone()


console = _LazyConsole()
err_console = _LazyConsole(stderr=True)
_state = {"debug": False}

YearOpt = typer.Option(None, "--year", "-y", help="Agreement year, e.g. 2011 (selects rules/<year>.yaml).")
RulesOpt = typer.Option(None, "--rules", help="Rule file to use instead of the shipped one.")
DataOpt = typer.Option(None, "--data", help="Data folder (default: the sample data shipped for the year).")
OutOpt = typer.Option(None, "--out", help="Output folder (default: out/<year>).")
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables.")


class progress_bar:
    """A rich progress bar on stderr for a step that can take seconds; nothing when stderr is no terminal."""

    def __init__(self, label: str):
        self.label = label
        self.bar = self.task = None

    def __enter__(self):
        if err_console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                console=err_console.real, transient=True)
            self.bar.start()
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.bar is not None:
            if self.task is None:
                self.task = self.bar.add_task(self.label, total=total)
            self.bar.update(self.task, completed=done)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False


def _version(value: bool) -> None:
    if value:
        from . import __version__

        console.print(f"skl-payout {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show a traceback on errors."),
         version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """Load register and population data, qualify each authority, distribute each pot, write letters."""
    _state["debug"] = debug


def guarded(fn):
    """Bad input becomes a clear message and exit code 1, never a traceback (unless --debug)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from .errors import PayoutError
        from .safefs import forget_put_in_place, put_in_place

        forget_put_in_place()
        try:
            return fn(*args, **kwargs)
        except PayoutError as exc:
            if _state["debug"]:
                raise
            print_problems(exc.problems)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            done = put_in_place()
            if done:  # interrupted after the swap: the new output is there, whole; say so, never the opposite
                say(err_console, f"{', '.join(map(str, done))} holds the new output, complete: only what came after "
                    "(tidying, printing) was not done.", first="Interrupted after the new output was put in place: ",
                    style="red")
            else:
                err_console.print("[red]Interrupted; earlier output left as it was.[/red]")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except BrokenPipeError:  # `| head` while printing: the work is done; end quietly
            _reader_gone()
            raise typer.Exit(0) from None
        except OSError as exc:  # the world said no: a full disk, a read-only folder, a missing permission
            if _state["debug"]:
                raise
            print_problems([world_problem(exc)])
            raise typer.Exit(1) from None
        except MemoryError:
            err_console.print("[red]error[/red] out of memory: an input is far larger than a payout run needs")
            raise typer.Exit(1) from None
        except Exception as exc:  # an internal error: say so plainly
            if _state["debug"]:
                raise
            err_console.print(f"[red]internal error:[/red] {type(exc).__name__}: {exc}")
            err_console.print("Run again with --debug for a traceback, and report it.")
            _state["internal_error"] = True
            raise typer.Exit(2) from None

    return wrapper


_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space, or write elsewhere",
    errno.EDQUOT: "the disk quota is used up: free some space, or write elsewhere",
    errno.EACCES: "permission denied: ask for access to it, or use another path",
    errno.EPERM: "not permitted: ask for access to it, or use another path",
    errno.EROFS: "the file system is read-only: write elsewhere",
    errno.EISDIR: "is a folder where a file was expected",
    errno.ENOTDIR: "a part of the path is a file where a folder was expected",
    errno.ENAMETOOLONG: "the file name is too long: choose a shorter path",
    errno.ENOENT: "not found",
    errno.EEXIST: "already exists",
    errno.EIO: "input/output error: the disk or network share failed; try again, or use another disk",
}


def world_problem(exc: OSError):
    """An error from the file system, as a message that names the path and what to do."""
    from .errors import error

    path = exc.filename or "skl-payout"
    if exc.filename2:
        path = f"{exc.filename} -> {exc.filename2}"
    advice = _ADVICE.get(exc.errno)
    if exc.errno == errno.EEXIST and exc.filename and Path(exc.filename).is_file():
        advice = "is a file where a folder is needed: choose another path"
    return error(str(path), advice or (exc.strerror or str(exc)), None if advice else "check the path and try again")


_FIGURE_SPACE = __import__("re").compile(r"(?<=\d) (?=\d{3}(?!\d))|(?<=\d) (?=(?:kr|%)(?!\w))")


def say(con, text: str, indent: str = "", first: str = "", style: str | None = None) -> None:
    """Print plain text. On a terminal it is wrapped at the terminal's width, never inside a figure
    ("1 463 000 kr" stays on one line); piped, each message stays on one line, for grep."""
    import textwrap

    if con.is_terminal:
        text = _FIGURE_SPACE.sub("\u00a0", text)  # textwrap breaks at ASCII spaces only
        text = textwrap.fill(text, width=max(con.width, 40), initial_indent=" " * len(first),
                             subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
        text = text[len(first):]
    from rich.text import Text

    con.print(Text.assemble((first, style or ""), text), highlight=False, soft_wrap=True)


SEVERITY_ORDER = {"error": 0, "warning": 1, "note": 2}
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "note": "cyan"}
_ROW = __import__("re").compile(r" row (\d+)")
_VALUE = __import__("re").compile(r"'[^']*'|\d[\d ,.]*")


def grouped(problems) -> list[list]:
    """Errors first, then warnings, then notes; a problem repeated over many rows of one file and
    column (the same message but for its values) is one group, said once with the rows it holds."""
    groups: dict[tuple, list] = {}
    for p in sorted(problems, key=lambda p: SEVERITY_ORDER.get(p.severity, 3)):
        key = (p.severity, _ROW.sub("", p.where), _VALUE.sub("#", p.message), _VALUE.sub("#", p.hint or ""))
        if _ROW.search(p.where) is None:
            key += (id(p),)
        groups.setdefault(key, []).append(p)
    out = []
    for members in groups.values():  # a few are each said: only many rows of one problem are summarised
        out += [members] if len(members) >= SUMMARISED_FROM else [[p] for p in members]
    return out


SUMMARISED_FROM = 10  # fewer than this are each said in full


def print_problems(problems, con=None) -> None:
    """Each problem as `severity where: message`, then its hint; one repeated in many rows said once."""
    con = con or err_console
    for members in grouped(problems):
        p, message = members[0], members[0].message
        if len(members) > 1:
            rows = [_ROW.search(q.where).group(1) for q in members]
            shown = ", ".join(rows[:6]) + (", …" if len(rows) > 6 else "")
            message = f"{message}; the same problem in {len(rows)} rows ({shown})"
        say(con, f"{p.where}: {message}", indent="    ", first=f"{p.severity} ", style=SEVERITY_STYLE.get(p.severity))
        if p.hint:
            say(con, f"hint: {p.hint}" + (" (for the first of them)" if len(members) > 1 and _VALUE.search(p.hint) else ""),
                indent="      ", first="    ")


def default_out(out: Optional[Path], year: int) -> Path:
    return out if out is not None else Path("out") / str(year)


@app.command()
@guarded
def run(year: Optional[int] = YearOpt, rules: Optional[Path] = RulesOpt, data: Optional[Path] = DataOpt,
        out: Optional[Path] = OutOpt, as_json: bool = JsonOpt,
        swedish_csv: bool = typer.Option(False, "--swedish-csv", help="Also write utbetalningar.csv, totalt.csv "
                                         "and potter.csv for Swedish Excel: semicolons, UTF-8 with BOM, CRLF, "
                                         "Swedish headers, decimal commas; codes keep their leading zeros.")) -> None:
    """Compute a year's payouts and write payouts.csv, totals.csv, summary.csv, run.json, report.html and payouts.xlsx."""
    from . import api

    inp = api.inputs(year, rules, data)
    target = default_out(out, inp.year)
    shown: list[str] = []

    def render(result) -> None:  # the summary rendered while the workbook is written, printed once all is written
        try:
            with console.capture() as table, err_console.capture() as notes:
                show_run(result, inp.rules_path.name)
            shown.extend([table.get(), notes.get()])
        except OSError:  # the terminal cannot be written (a full disk): the run goes on, the summary comes after
            shown.clear()

    result, written = api.run(inp, target, swedish_csv=swedish_csv, meanwhile=None if as_json else render)
    if as_json:
        emit((target / "run.json").read_text(encoding="utf-8"))
    else:
        if shown:
            _put(console, shown[0])
            _put(err_console, shown[1])
        else:
            show_run(result, inp.rules_path.name)
        console.print(f"Wrote {', '.join(written.files)} to {target}")
    if written.letters_removed:
        err_console.print(f"[yellow]note[/yellow] the previous run's {written.letters_removed} letter file(s) in "
                          f"{escape(str(target / 'letters'))} were removed: the rules, the data or the results changed, so "
                          "they may no longer say what is paid. Write them again with `skl-payout letters`.", highlight=False)
    elif written.letters_kept:
        console.print(f"Kept the {written.letters_kept} letter file(s) in {target / 'letters'}: the same rules and "
                      "data give the same results.")


def _put(con, text: str) -> None:
    """Text a console rendered earlier, written now; if the reader has gone, as rich itself does."""
    try:
        con.file.write(text)
        con.file.flush()
    except BrokenPipeError:
        con.quiet = True
        if con.file is sys.stdout:
            _reader_gone()


def show_run(result, rules_name: str) -> None:
    """A table per (sub-)pot and the grand total, then what the rule file says aloud."""
    from rich import box

    from . import fmt, phrases
    from .validate import run_notes

    # no vertical rules: six columns of money still fit an 80-column terminal without cutting a figure
    table = Table(title=f"Payout run {result.rules.year} (kr): {result.rules.agreement.reference}",
                  box=box.SIMPLE_HEAVY, pad_edge=False)
    for col in ("Pot", "Budget", "Paid", "Withheld", "Unpaid", "Qualified"):
        table.add_column(col, justify="left" if col == "Pot" else "right", no_wrap=True, min_width=len(col))
    for sp in result.subpots:
        table.add_row(sp.id, fmt.number(sp.budget), fmt.number(sp.paid), fmt.number(sp.withheld),
                      fmt.number(sp.unpaid), f"{sp.qualified} / {sp.eligible}")
    budget = sum(sp.budget for sp in result.subpots)
    table.add_section()
    table.add_row("Total", fmt.number(budget), fmt.number(result.paid), fmt.number(result.withheld),
                  fmt.number(budget - result.paid - result.withheld), "", style="bold")
    console.print(table)
    titles = {sp.pot.id: sp.pot.title for sp in result.subpots}
    width = max(len(pot) for pot in titles)
    for pot, title in titles.items():  # the pots by their titles in the agreement
        say(console, title, indent=" " * (width + 3), first=f" {pot:<{width}}  ", style="bold")
    console.print()
    for sp in result.subpots:  # decision 5: a sub-pot nobody qualifies for goes to the pot's other type
        for source, amount in sp.received:
            say(console, f"+{fmt.kr(amount, nbsp=False)} from {source}, where nobody qualified", indent="    ",
                first=f"{sp.id}: ", style="cyan")
    print_problems(run_notes(result, rules_name))


@app.command()
@guarded
def validate(year: Optional[int] = YearOpt, rules: Optional[Path] = RulesOpt, data: Optional[Path] = DataOpt,
             as_json: bool = JsonOpt,
             verbose: bool = typer.Option(False, "--verbose", "-v",
                                          help="List every assumption and source conflict of the rule file.")) -> None:
    """Check rules, data, fixed tables and the budget without writing anything (exit 1 on any error).

    With no arguments, every shipped year is checked against its sample data.
    """
    from . import api, resources
    from .errors import PayoutError
    from .validate import Report, validate as check

    years = resources.shipped_years() if year is None and rules is None else [year]
    reports = []
    for y in years:
        try:
            t = api.inputs(y, rules, data)
        except PayoutError as exc:  # e.g. a rule file too broken to tell its year: report it like any other
            reports.append(Report(y, Path(rules) if rules else Path("?"), data or Path("?"), exc.problems))
            continue
        reports.append(check(t.rules_path, t.data_dir, t.year))
    if as_json:
        emit(_dumps({"ok": all(r.ok for r in reports), "reports": [r.as_dict() for r in reports]},
                         indent=2, ensure_ascii=False))
    else:
        for report in reports:
            show_report(report, verbose)
        if len(reports) > 1:
            failed = [str(r.year or r.rules_path) for r in reports if not r.ok]
            console.print("\n" + (f"[red]NOT valid: {', '.join(failed)}[/red] (of {len(reports)} checked)" if failed
                                  else f"[green]All {len(reports)} valid[/green]: "
                                       f"{', '.join(str(r.year) for r in reports)}"), highlight=False)
    if not all(r.ok for r in reports):
        raise typer.Exit(1)


def show_report(report, verbose: bool = False) -> None:
    """What was checked, the problems (errors first), and the verdict as the last line."""
    console.print(f"\n[bold]{report.year or report.rules_path}[/bold]: rules {escape(str(report.rules_path))}, "
                  f"data {escape(str(report.data_dir))}", highlight=False)
    print_problems(report.problems, console)
    for check in report.checks:
        say(console, check, indent="    ", first="  ✓ ", style="green")
    if report.assumptions or report.conflicts:
        say(console, f"{len(report.assumptions)} assumptions and {len(report.conflicts)} source conflicts in the "
                     "rule file" + ("" if verbose else " (--verbose lists them, --json gives them as data)"),
            indent="    ", first="  ")
    if verbose:
        for a in report.assumptions:
            pots = ", ".join(a["pots"]) or "no pot"
            say(console, f"{a['id']} ({pots}): {a['decision']}", indent="    ", first="  ")
            say(console, f"why: {a['evidence']}", indent="      ", first="    ")
        for c in report.conflicts:
            pots = ", ".join(c["pots"]) or "no modelled pot"
            say(console, f"{c['id']} ({pots}): {c['conflict']}", indent="    ", first="  ")
            say(console, f"reading: {c['reading']}", indent="      ", first="    ")
    notes = sum(1 for p in report.problems if p.severity == "note")
    counts = f"{_count(len(report.errors), 'error')}, {_count(len(report.warnings), 'warning')}, {_count(notes, 'note')}"
    verdict = "[green]valid[/green]" if report.ok else "[red]NOT valid: no run until the errors are fixed[/red]"
    console.print(f"[bold]{report.year or report.rules_path}[/bold]: {verdict} ({counts})", highlight=False)


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


@app.command()
@guarded
def letters(
    year: Optional[int] = YearOpt, rules: Optional[Path] = RulesOpt, data: Optional[Path] = DataOpt,
    out: Optional[Path] = OutOpt,
    format: str = typer.Option("pdf", "--format", "-f", help="pdf, html or md."),
    only: Optional[list[str]] = typer.Option(None, "--only", help="Only these recipient codes (repeatable)."),
    templates: Optional[Path] = typer.Option(None, "--templates", help="Folder with your own letter templates."),
    on: Optional[str] = typer.Option(None, "--date", help="Letter date, YYYY-MM-DD (default: the decision date "
                                     "in the settings)."),
    settings: Optional[Path] = typer.Option(None, "--settings", help="Sender settings (default: skl-payout.yaml in "
                                            "the current folder): sender, signatory, contact, diarienummer, "
                                            "decision date."),
    paid: Optional[Path] = typer.Option(None, "--paid", help="A correction after payment: the earlier, paid run "
                                        "folder; each letter states what was paid, the new amount and the difference."),
) -> None:
    """Write one Swedish letter per recipient to OUT/letters/, plus one combined PDF for printing."""
    from datetime import date

    from . import api
    from .errors import PayoutError, error

    try:
        when = date.fromisoformat(on) if on else None
    except ValueError:
        raise PayoutError(error("--date", f"{on!r} is not a date", "write it as YYYY-MM-DD")) from None
    inp, target = api.recorded_inputs(year, rules, data, out)
    if not (target / "run.json").is_file():  # letters belong to a run: they say what it paid
        raise PayoutError(error(str(target), "holds no recorded run (no run.json)",
                                f"run `skl-payout run --year {inp.year} --out {target}` first, then write its letters"))
    recorded = rules is None and data is None and api.has_trace(target)  # then: what it paid, whatever the data now
    with progress_bar("Letters") as step:
        result, written = api.letters(None if recorded else inp, target, format, templates, only, when, settings,
                                      year=year, progress=step, paid=paid)
    console.print(f"Wrote {len(written)} {format.upper()} file(s) to {target / 'letters'}")


@app.command()
@guarded
def explain(
    code: str = typer.Argument(..., help="Authority or county code, e.g. 0114 or 01, or a name, e.g. Norrköping."),
    year: Optional[int] = YearOpt, rules: Optional[Path] = RulesOpt, data: Optional[Path] = DataOpt,
    out: Optional[Path] = OutOpt,
    rtype: Optional[str] = typer.Option(None, "--type", help="kommun, landsting, regiondel or län (a code such as "
                                        "01 is both a landsting and a län)."),
    as_json: bool = JsonOpt,
) -> None:
    """Explain every krona one recipient gets: data used (file, row), rule and source, arithmetic, result."""
    from . import api
    from .explain import as_text, explain as explain_code

    inp, target = api.recorded_inputs(year, rules, data, out)
    if out is not None and not Path(out).exists():
        from .errors import PayoutError, error

        raise PayoutError(error(str(out), "no such folder", "give the --out folder of a run"))
    if rules is None and data is None and api.has_trace(target):  # the recorded run, read back from its trace
        result, _ = api.recorded(target, year)
    else:
        result = api.compute(inp)
        if out is not None or (rules is None and data is None and (target / "run.json").exists()):
            api.check_recorded(result, target, "explaining its amounts")
    items = explain_code(result, code, rtype)
    if as_json:
        payload = {"year": inp.year, "code": code, "recipients": items,
                   "total_sek": sum(i["total_sek"] for i in items)}
        if len(items) == 1:
            payload.update(items[0])
        emit(_dumps(payload, indent=2, ensure_ascii=False))
        return
    for item in items:
        for line in as_text(item):
            body = line.lstrip(" ")
            depth = len(line) - len(body)
            say(console, body, indent=" " * (depth + 4), first=" " * depth)
        console.print()


def changes_table(title: str, changes: list[dict]) -> Table:
    from . import fmt

    table = Table(title=title)
    for col in ("Type", "Code", "Name", "Before", "After", "Change"):
        table.add_column(col, justify="right" if col in ("Before", "After", "Change") else "left")
    for c in changes:
        sign = "+" if c["change_sek"] > 0 else ""
        table.add_row(c["recipient_type"], c["code"], c["name"], fmt.number(c["before_sek"]),
                      fmt.number(c["after_sek"]), sign + fmt.number(c["change_sek"]))
    return table


@app.command()
@guarded
def whatif(
    year: Optional[int] = YearOpt, rules: Optional[Path] = RulesOpt, data: Optional[Path] = DataOpt,
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: out/<year>-whatif, or "
                                       "out/<year>-sweep for a sweep)."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="PATH=VALUE: change one value of the rule file, "
                                             "e.g. PAL-50.at_least=45% or SA.kommun.share=60%. Repeatable."),
    sweep: Optional[list[str]] = typer.Option(None, "--sweep", help="PATH=FROM..TO:STEP, e.g. "
                                              "PAL-50.at_least=40%..60%:1%. Repeat for a grid."),
    scenarios: Optional[Path] = typer.Option(None, "--scenarios", help="Named scenarios: YAML (name: {PATH: VALUE}) "
                                             "or CSV (scenario,path,value)."),
    as_json: bool = JsonOpt,
) -> None:
    """What if a threshold, an amount or a split were different: one scenario (--set), or a sweep."""
    from . import api, whatif as W

    inp = api.inputs(year, rules, data)
    fixed = [W.parse_override(a) for a in set_ or []]
    if not sweep and scenarios is None:
        if not fixed:
            from .errors import PayoutError, error

            raise PayoutError(error("whatif", "nothing to change", "give --set PATH=VALUE, --sweep or --scenarios"))
        target = out if out is not None else Path("out") / f"{inp.year}-whatif"
        result, written = api.run(inp, target, overrides=fixed)
        people, pots = W.comparison(written.base, result)
        if as_json:
            emit(_dumps({"overrides": [str(o) for o in fixed], "pots": [dict(zip(W.POT_COMPARISON_COLUMNS, p))
                             for p in pots], "recipients": [dict(zip(W.COMPARISON_COLUMNS, p)) for p in people
                                                            if p[5] or p[6] or p[7]]}, indent=2, ensure_ascii=False))
            return
        show_comparison(people, pots, fixed)
        from .validate import run_notes

        print_problems([p for p in run_notes(result, inp.rules_path.name) if "in this scenario" in p.message])
        console.print(f"Wrote {', '.join(written.files)} to {target}")
        return
    listed = W.scenarios_file(scenarios) if scenarios is not None else []
    swept = W.grid(sweep) if sweep else []
    plan = [W.Scenario(s.name, fixed + s.overrides) for s in (listed + swept)]
    axis = W.sweep_values(sweep[0]) if sweep and len(sweep) == 1 and not listed else None
    target = out if out is not None else Path("out") / f"{inp.year}-sweep"
    with progress_bar("Scenarios") as step:
        result, written = api.sweep(inp, plan, target, axis, step)
    if as_json:
        columns, rows, _, _ = W.sweep_tables(result)
        emit(_dumps([dict(zip(columns, r)) for r in rows], indent=2, ensure_ascii=False))
        return
    console.print(f"{len(plan)} scenarios ({result.fast} through the compiled pots, {len(plan) - result.fast} "
                  f"through the full engine). Wrote {', '.join(written)} to {target}", highlight=False)


def show_comparison(people: list[list], pots: list[list], overrides) -> None:
    from . import fmt

    table = Table(title="What if " + ", ".join(str(o) for o in overrides) + " (kr)", pad_edge=False)
    for col in ("Pot", "Qualified", "Paid before", "Paid after", "Unpaid after"):
        table.add_column(col, justify="left" if col == "Pot" else "right", no_wrap=True)
    for p in pots:
        table.add_row(p[0], f"{p[1]} -> {p[2]}", fmt.number(p[3], nbsp=False), fmt.number(p[4], nbsp=False),
                      fmt.number(p[8], nbsp=False))
    console.print(table)
    moved = [p for p in people if p[5]]
    gained = [p for p in people if p[6]]
    lost = [p for p in people if p[7]]
    say(console, f"{len(moved)} recipients' amounts change; {len(gained)} newly qualify for a pot, {len(lost)} drop "
                 "out of one (comparison.csv lists each).")
    for label, group, column in (("newly qualify", gained, 6), ("drop out", lost, 7)):
        if group:
            names = ", ".join(f"{p[2]} ({p[column]})" for p in group[:8]) + (" …" if len(group) > 8 else "")
            say(console, f"{label}: {names}", indent="    ", first="  ")


@app.command()
@guarded
def diff(
    out_a: Path = typer.Argument(..., help="The earlier output folder."),
    out_b: Path = typer.Argument(..., help="The corrected output folder."),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="Also write the changes as CSV to this file "
                                            "(never over an input or a file skl-payout did not write)."),
    as_json: bool = JsonOpt,
) -> None:
    """Compare two runs: which recipients' amounts changed, by how much, and which inputs changed."""
    from . import fmt
    from .compare import diff as compare, write_diff_csv

    d = compare(out_a, out_b)
    if csv_path is not None:
        write_diff_csv(d, csv_path, (out_a, out_b))
    if as_json:
        emit(_dumps({"changes": d.changes, "withheld": d.withheld, "inputs": d.inputs, "net_sek": d.net_sek},
                        indent=2, ensure_ascii=False))
        return
    if d.inputs:
        table = Table(title="Inputs that changed")
        for col in ("File", "Status", "SHA-256 before", "SHA-256 after"):
            table.add_column(col)
        for i in d.inputs:
            table.add_row(i["file"], i["status"], (i["before"] or "")[:12], (i["after"] or "")[:12])
        console.print(table)
    else:
        console.print("No input file or rule file changed.")
    if d.changes:
        console.print(changes_table(f"Amounts that changed ({len(d.changes)} recipients)", d.changes))
        console.print(f"Net change: {fmt.kr(d.net_sek)}")
        reasons = [c for c in d.changes if c.get("why")]
        # the cause first: a recipient whose own numbers or conditions changed, before those whose share
        # moved only because the key sum or the remainders did
        shared = ("key sum of those sharing it", "remainder krona")
        reasons.sort(key=lambda c: all(any(w.split(": ", 1)[-1].startswith(s) for s in shared) for w in c["why"]))
        for c in reasons[:50]:
            console.print(f"  {escape(c['recipient_type'])} {escape(c['code'])} {escape(c['name'])}: "
                          + escape("; ".join(c["why"])), highlight=False, soft_wrap=True)
        if len(reasons) > 50:
            console.print(f"  ... and {len(reasons) - 50} more (--json lists every reason)")
    else:
        console.print("No recipient's amount changed.")
    if d.withheld:
        console.print(changes_table(f"Withheld amounts that changed ({len(d.withheld)} recipients)", d.withheld))
    if csv_path is not None:
        console.print(f"Wrote {csv_path}")


@app.command()
@guarded
def verify(out: Path = typer.Argument(..., help="An output folder written by `skl-payout run`.")) -> None:
    """Re-run from OUT/run.json and confirm byte-identical outputs (exit 1 if anything differs)."""
    from .compare import verify as reproduce

    check = reproduce(out)
    for line in check.inputs_changed:
        err_console.print(f"[red]input changed[/red] {escape(line)}")
    for name in check.identical:
        console.print(f"[green]identical[/green] {name}")
    for name in check.different:
        err_console.print(f"[red]DIFFERENT[/red] {escape(name)}")
    for name in check.missing:
        err_console.print(f"[red]MISSING[/red] {escape(name)}: recorded in run.json, no longer in {escape(str(out))}")
    for line in check.attests:
        if line.startswith("VOID"):
            err_console.print(f"[red]attest {escape(line)}[/red]")
        else:
            console.print(f"[green]attest[/green] {escape(line)}")
    if not check.ok:
        raise typer.Exit(1)
    console.print("Verified: the recorded inputs give byte-identical outputs.")


@app.command()
@guarded
def attest(out: Path = typer.Argument(..., help="The run folder to attest."),
           by: str = typer.Option(..., "--by", help="Who attests (full name)."),
           role: str = typer.Option(..., "--role", help="beslut (decision attest) or behorighet (authority attest)."),
           ) -> None:
    """Attest a run: who, in which role, when, and the SHA-256 of what was attested (two people, two roles)."""
    from .payments import ROLES, attest as record, attest_problems, read_attests

    done = record(out, by, role)
    say(console, f"{ROLES[done['role']].capitalize()} by {done['by']} at {done['at']} recorded in "
                 f"{out / 'attest.json'}")
    missing = attest_problems(Path(out), read_attests(Path(out)))
    if missing:
        say(console, "Before payment: " + "; ".join(p.message for p in missing))
    else:
        console.print("Both attests stand: `skl-payout payments` may issue the payment file.", highlight=False)


@app.command()
@guarded
def payments(
    out: Path = typer.Argument(..., help="The attested run folder."),
    execution_date: Optional[str] = typer.Option(None, "--execution-date", help="The date the bank pays (YYYY-MM-DD; "
                                                 "default: today)."),
    paid: Optional[Path] = typer.Option(None, "--paid", help="A correction: the earlier run folder whose payment file "
                                        "was issued; only the differences are paid, overpayments go to reclaims.csv."),
    reissue: bool = typer.Option(False, "--reissue", help="Issue again, when the earlier file was never sent or was "
                                 "rejected (the ledger keeps both)."),
    version: str = typer.Option("pain.001.001.09", "--version", help="pain.001.001.09 or pain.001.001.03."),
    settings: Optional[Path] = typer.Option(None, "--settings", help="Sender settings (default: ./skl-payout.yaml)."),
) -> None:
    """Write the payment file (ISO 20022 pain.001, validated against its XSD) for an attested run, once."""
    from datetime import date

    from . import fmt
    from .errors import PayoutError, error
    from .payments import PAYMENTS_DIR, issue

    when = None
    if execution_date is not None:
        import re

        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", execution_date):
                raise ValueError
            when = date.fromisoformat(execution_date)
        except ValueError:
            raise PayoutError(error("--execution-date", f"{execution_date!r} is not a date", "YYYY-MM-DD")) from None
    entry = issue(out, when, version, reissue, paid, settings)
    folder = Path(out) / PAYMENTS_DIR
    if not entry["file"]:
        console.print(f"Nothing to pay: no recipient gets more than before ({entry['message_id']} recorded in the "
                      "ledger, no payment file).", highlight=False)
    else:
        count = f"{entry['transactions']} payment" + ("" if entry["transactions"] == 1 else "s")
        console.print(f"{count}, {fmt.kr(entry['total_sek'], nbsp=False)}, execution date "
                      f"{entry['execution_date']}: {folder / entry['file']} (and .csv)", highlight=False)
    if entry["reclaim_sek"]:
        console.print(f"To reclaim: {fmt.kr(entry['reclaim_sek'], nbsp=False)}, listed in {folder / 'reclaims.csv'}",
                      highlight=False)


def _terminate(signum, frame):
    raise KeyboardInterrupt  # SIGTERM and SIGHUP end a command like Ctrl-C: staged output is discarded


GC_THRESHOLDS = (100_000, 50, 100)  # the cyclic collector's, for a whole process (see main)


def main() -> None:
    """The `skl-payout` entry point: the typer app, with SIGTERM handled and a closed pipe ending quietly.

    Two things only a whole process may do, for speed where people wait (issue 13): the cyclic
    garbage collector runs a hundred times less often (a run makes hundreds of thousands of
    short-lived objects, nearly all freed by reference counting; scanning them took a tenth of a
    run), and a finished command leaves without tearing the interpreter down (another tenth),
    once every file is closed and everything printed is flushed. Library use keeps Python's
    defaults."""
    gc.set_threshold(*GC_THRESHOLDS)
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            signal.signal(sig, _terminate)
    try:
        app(prog_name="skl-payout")
    except SystemExit as done:
        _flush_quietly()
        if done.code == 2 and not _state.get("internal_error"):
            _leave(1)  # a mistyped option or argument is bad input (exit 1); 2 is kept for the tool's own bugs
        _leave(done.code)
    except BrokenPipeError:  # `skl-payout ... | head`: the reader has gone; end quietly
        _flush_quietly()
        _leave(0)
    except OSError as exc:  # `--help` or `--version` printed to a full disk: said, not a traceback
        if sys.stderr is not None:
            sys.stderr.write(f"error skl-payout: cannot write the output: {exc.strerror or exc}\n")
        _leave(1)


def _leave(code) -> None:
    """End the process with this exit code, skipping the interpreter's teardown: every output is
    already closed and put in place, and nothing is left for exit handlers (the workbook writer is
    waited for, temporary folders are removed where they are made, no thread is running)."""
    if code is not None and not isinstance(code, int):  # sys.exit("message"): Python prints it and exits 1
        print(code, file=sys.stderr)
        code = 1
    if threading.active_count() > 1:  # never cut a thread short: the ordinary exit waits for it
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # closed when the program started (`2>&-`)
            continue
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass  # the reader has gone: the command still ends with its own exit code
        except OSError:
            code = code or 120  # what was printed is lost (a full disk): as Python itself ends then
    os._exit(code or 0)


def _flush_quietly() -> None:
    """Flush what is left for stdout; if the reader has gone, drop it rather than print a traceback at exit."""
    if sys.stdout is None:  # closed when the program started (`>&-`)
        return
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        _reader_gone()


if __name__ == "__main__":  # pragma: no cover
    main()
