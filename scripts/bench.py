"""Timings people care about, printed (a measurement, not a test): `make bench`.

Targets: a full run of a year in well under 5 s; all letters of a year as PDF in under 60 s.
Machines are shared and noisy, so each timing is also printed as a ratio to a floor measured in the
same run: pandas reading the year's input files (what any tool must at least do).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from skl_payout import api

TARGETS = {"run": 5.0, "letters pdf": 60.0}


BASE = {"seconds": None}


def timed_quiet(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def timed(label: str, fn, target: float | None = None) -> float:
    seconds = timed_quiet(fn)
    verdict = "" if target is None else ("  (target < %.0f s: %s)" % (target, "met" if seconds < target else "MISSED"))
    ratio = f"  ratio {seconds / BASE['seconds']:6.1f}" if BASE["seconds"] else ""
    print(f"{label:<34} {seconds:8.2f} s{ratio}{verdict}")
    return seconds


def floor(data: Path) -> None:
    import pandas as pd

    for path in sorted(data.glob("*.csv")):
        pd.read_csv(path, dtype=str, sep=None, engine="python")


def main() -> None:
    floor(api.inputs(2011).data_dir)  # warm the file cache; the ratios that matter are whole processes, below
    with tempfile.TemporaryDirectory() as tmp:
        for year in (2010, 2011, 2014):
            inp = api.inputs(year)
            out = Path(tmp) / str(year)
            timed(f"run {year} (CSV, report, xlsx)", lambda: api.run(inp, out), TARGETS["run"])
        inp = api.inputs(2011)
        out = Path(tmp) / "2011"
        result = api.compute(inp)
        count = len(result.totals())
        timed("compute 2011 only", lambda: api.compute(inp))
        timed(f"letters 2011 pdf ({count} + combined)", lambda: api.letters(inp, out, "pdf", None, None),
              TARGETS["letters pdf"])
        timed(f"letters 2011 html ({count})", lambda: api.letters(inp, out, "html", None, None))
        cli_ratio(Path(tmp) / "cli", count)
        whatif_speed(inp)
        process_ratios(Path(tmp) / "processes")
    test_suite()


def cli_ratio(out: Path, count: int) -> None:
    """What a user waits for: `skl-payout run` and then `skl-payout letters` (all PDFs and the combined
    file), each as its own process; target: the letters within 2x of the run (issue 11)."""
    import subprocess
    import sys

    def command(*args):
        return lambda: subprocess.run([sys.executable, "-m", "skl_payout", *args], check=True,
                                      capture_output=True)

    run = min(timed_quiet(command("run", "--year", "2011", "--out", str(out))) for _ in range(2))
    letters = min(timed_quiet(command("letters", "--out", str(out))) for _ in range(2))
    typst = min(timed_quiet(typst_alone(out)) for _ in range(2))
    verdict = "met" if letters <= 2 * run else "MISSED"
    print(f"{'CLI run 2011':<34} {run:8.2f} s")
    print(f"{f'CLI letters 2011 pdf ({count} + combined)':<34} {letters:8.2f} s  "
          f"letters/run {letters / run:4.1f}  (target <= 2.0: {verdict})")
    print(f"{'  Typst alone, the letters floor':<34} {typst:8.2f} s  = {typst / run:4.1f} runs  "
          f"letters/Typst {letters / typst:4.1f}  (a process that only compiles the two Typst files)")


def typst_alone(out: Path):
    """The floor under the letters: a process that imports typst and compiles the two Typst documents
    the letters command renders, nothing else."""
    import subprocess
    import sys

    from skl_payout import letters

    sources, compile_marked = [], letters._compile_marked
    letters._compile_marked = lambda main: (sources.append(main.read_text(encoding="utf-8")), compile_marked(main))[1]
    try:
        api.letters(None, out, "pdf", None, None)
    finally:
        letters._compile_marked = compile_marked
    folder = Path(tempfile.mkdtemp(prefix="bench-typst-"))
    for number, text in enumerate(sources):
        (folder / f"letters-{number}.typ").write_text(text, encoding="utf-8")
    code = ("import sys, typst\n"
            "for main in sys.argv[1:]:\n"
            "    typst.Compiler(input=main, root=sys.argv[1].rsplit('/', 1)[0], ignore_system_fonts=True)"
            ".compile(format='pdf', pdf_tags=False)")
    mains = [str(folder / f"letters-{n}.typ") for n in range(len(sources))]
    return lambda: subprocess.run([sys.executable, "-c", code, *mains], check=True, capture_output=True)


def whatif_speed(inp) -> None:
    """Issue 12: 1,000 scenarios of the national 2011 run (PAL-50's threshold from 40 % to 60 % in
    steps of 0.02 %) in at most 0.33 s after loading; against the per-scenario time of a full compute."""
    from skl_payout.compiled import Compiled
    from skl_payout.whatif import Planner, grid, raw_rules

    scenarios = grid(["PAL-50.at_least=40%..60%:0.02%"])
    base = api.compute(inp)
    compiled, raw = Compiled(base), raw_rules(inp.rules_path)

    def sweep():  # every scenario's values and pots validated afresh, then computed
        planner = Planner(raw, compiled)
        for scenario in scenarios:
            compiled.evaluate(planner.changes(scenario))

    sweep()  # warm, as after loading
    seconds = min(timed_quiet(sweep) for _ in range(3))
    full = min(timed_quiet(lambda: api.compute(inp)) for _ in range(2))
    per = seconds / len(scenarios)
    verdict = "met" if seconds <= 0.33 * len(scenarios) / 1000 else "MISSED"
    print(f"{f'whatif sweep ({len(scenarios)} scenarios)':<34} {seconds:8.2f} s  "
          f"{len(scenarios) / seconds:8.0f} scenarios/s  (target 1000 in <= 0.33 s: {verdict})")
    print(f"{'  per scenario: compiled / full run':<34} {per * 1000:8.3f} ms / {full * 1000:.0f} ms  "
          f"= 1/{full / per:.0f}")


def median_processes(commands: list[list[str]], runs: int = 7) -> list[float]:
    """The median time of each command, the commands taken in turn (a, b, a, b, ...), so that a floor
    and what is set against it see the same moments of a shared machine's load."""
    import statistics
    import subprocess

    times: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for args, seen in zip(commands, times):
            start = time.perf_counter()
            subprocess.run(args, check=True, capture_output=True)
            seen.append(time.perf_counter() - start)
    return [statistics.median(seen) for seen in times]


def process_ratios(out: Path) -> None:
    """Issue 13, whole processes, median of 7, each taken in turn with its floor: `run` against the floor
    (Python importing pandas and reading the year's CSVs), and `--help` / `run --help` against
    `python -c "import typer"`."""
    import sys

    data = api.inputs(2011).data_dir
    floor_code = ("import pandas as pd, pathlib\n"
                  f"for p in sorted(pathlib.Path({str(data)!r}).glob('*.csv')):\n"
                  "    pd.read_csv(p, dtype=str, sep=None, engine='python')")
    floor, run = median_processes([[sys.executable, "-c", floor_code],
                                   [sys.executable, "-m", "skl_payout", "run", "--year", "2011", "--out", str(out)]])
    typer_import, help_all, help_run = median_processes([[sys.executable, "-c", "import typer"],
                                                         [sys.executable, "-m", "skl_payout", "--help"],
                                                         [sys.executable, "-m", "skl_payout", "run", "--help"]])
    helps = {"--help": help_all, "run --help": help_run}
    print(f"{'process: floor (pandas reads inputs)':<34} {floor:8.2f} s")
    print(f"{'process: skl-payout run --year 2011':<34} {run:8.2f} s  run/floor {run / floor:4.2f}  "
          f"(target <= 1.3: {'met' if run <= 1.3 * floor else 'MISSED'})")
    print(f"{'process: python -c import typer':<34} {typer_import:8.2f} s")
    for label, seconds in helps.items():
        print(f"{'process: skl-payout ' + label:<34} {seconds:8.2f} s  help/typer {seconds / typer_import:4.2f}  "
              f"(target <= 1.5: {'met' if seconds <= 1.5 * typer_import else 'MISSED'})")


def test_suite() -> None:
    """Issue 13: the whole test suite, as `make test` runs it, in at most 60 s on this machine."""
    import subprocess
    import sys

    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "auto", "--dist", "loadfile",
                           "--no-loadscope-reorder", "-p", "no:cacheprovider"], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    summary = (done.stdout.strip().splitlines() or ["?"])[-1]
    print(f"{'make test (' + summary + ')':<34} {seconds:8.1f} s  (target <= 60 s: "
          f"{'met' if seconds <= 60 and done.returncode == 0 else 'MISSED'})")


if __name__ == "__main__":
    main()
