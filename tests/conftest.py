"""Shared helpers: run the real CLI, and write small data folders in the DOMAIN.md format."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

# pytest keeps the test modules' rewritten form in tests/__pycache__ also where PYTHONDONTWRITEBYTECODE
# is set: a worker then starts in half the time. Only this process: the programs the tests start keep it.
sys.dont_write_bytecode = False

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
SAMPLE = ROOT / "sample_data"
COUNTIES_2011 = [  # the 21 counties of the shipped data, code and name
    (row["county_code"], row["name"])
    for row in csv.DictReader(open(SAMPLE / "2011" / "counties.csv", encoding="utf-8"))
]


def _build_the_click_command_once() -> None:
    """typer's CliRunner turns the app into a click command on every call (about 15 ms); the app does
    not change during a session, so each test process builds it once."""
    import typer.testing

    build, built = typer.testing._get_command, {}
    typer.testing._get_command = lambda app: built[app] if app in built else built.setdefault(app, build(app))


_build_the_click_command_once()


def _collect_cycles_as_the_program_does() -> None:
    """The cyclic garbage collector as `skl-payout` sets it for a whole process (cli.GC_THRESHOLDS):
    with Python's defaults it took a seventh of the suite, scanning the test process's large heap
    after every few hundred thousand short-lived objects of each run."""
    import gc

    from skl_payout.cli import GC_THRESHOLDS

    gc.set_threshold(*GC_THRESHOLDS)


_collect_cycles_as_the_program_does()


def read_yaml(path: Path):
    """A YAML file as data, parsed by libyaml where it is built (the pure-Python parser took seconds of
    the suite on the rule files and the corpus)."""
    import yaml

    return yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def pytest_configure(config):
    """The tests' folders in memory (/dev/shm) where the machine has room there. The suite creates
    and removes some 16,000 files; on a disk file system that cost about a tenth of its time here.
    An explicit --basetemp or PYTEST_DEBUG_TEMPROOT is left alone; a worker inherits the choice."""
    if os.environ.get("PYTEST_XDIST_WORKER") or config.option.basetemp or "PYTEST_DEBUG_TEMPROOT" in os.environ:
        return
    memory = Path("/dev/shm")
    try:
        room = os.statvfs(memory)
    except OSError:  # not Linux, or no such file system
        return
    if room.f_bavail * room.f_frsize >= 2 * 1024 ** 3 and os.access(memory, os.W_OK | os.X_OK):
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(memory)  # pytest's own numbered, self-cleaning folders there


# The modules that take longest, first: `make test` gives each xdist worker a whole module at a time
# (--dist loadfile, in this order: --no-loadscope-reorder), so the long ones start at once and the
# short ones fill in at the end instead of one worker finishing a long module alone. A hint for
# scheduling only: a module missing here, or a stale order, only makes the suite a little slower.
SLOWEST_FIRST = ["test_corpus.py", "test_faults.py", "test_trust.py", "test_payees.py", "test_documents.py",
                 "test_cli.py", "test_faithful.py", "test_payments.py", "test_whatif.py", "test_trace.py"]


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


@pytest.fixture(autouse=True)
def _own_payment_register(tmp_path, monkeypatch):
    """Each test its own register of paid runs (the real one is in the user's home)."""
    monkeypatch.setenv("SKL_PAYOUT_REGISTER", str(tmp_path / "payments-register.json"))


def cli_process(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """The installed tool as a user runs it: a new process, real exit code and output (the end-to-end
    tests, one or more per command, and whatever is about the process itself)."""
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "skl_payout", *args], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, encoding="utf-8")


def cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """The CLI run in this process (typer's CliRunner), with what `main()` adds: exit code 1 for a usage
    error, and any uncaught exception shown as the traceback a process would print. Several times
    faster than a new process; SKL_PAYOUT_TEST_PROCESS=1 runs every call as a real process instead."""
    if os.environ.get("SKL_PAYOUT_TEST_PROCESS"):
        return cli_process(*args, cwd=cwd, env=env)
    import traceback

    from typer.testing import CliRunner

    from skl_payout import cli as module

    before = os.getcwd()
    os.chdir(cwd or ROOT)
    try:
        result = CliRunner().invoke(module.app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1", **(env or {})},
                                    prog_name="skl-payout")
    finally:
        os.chdir(before)
    internal = module._state.pop("internal_error", False)
    module._state["debug"] = False
    code = result.exit_code
    if code == 2 and not internal:
        code = 1  # as main(): a mistyped option is bad input
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback (most recent call last):\n" + "".join(traceback.format_exception(result.exception))
        code = code or 1
    return subprocess.CompletedProcess(["skl-payout", *args], code, result.stdout, stderr)


def write_csv(path: Path, columns: list[str], rows: list[list], sep: str = ",", encoding: str = "utf-8",
              newline: str = "\n") -> Path:
    text = newline.join(sep.join(str(c) for c in row) for row in [columns, *rows]) + newline
    path.write_bytes(text.encode(encoding))
    return path


def write_dataset(folder: Path, kommuner: list[dict], landsting: list[dict], counties=COUNTIES_2011,
                  approved: dict[str, bool] | None = None) -> Path:
    """A 2011-format data folder. kommuner: dicts with code, name, county, pop, pop65, reg, deaths,
    units, started, regs; landsting: dicts with code, reg, deaths, units, started, regs."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "counties.csv", ["county_code", "name"], [list(c) for c in counties])
    auth = [[k["code"], k["name"], "kommun", k["county"]] for k in kommuner]
    auth += [[l["code"], f"Landsting {l['code']}", "landsting", l["code"]] for l in landsting]
    write_csv(folder / "authorities.csv", ["code", "name", "type", "county_code"], auth)
    write_csv(folder / "population.csv", ["code", "population_total", "population_65plus"],
              [[k["code"], k["pop"], k["pop65"]] for k in kommuner])
    write_csv(folder / "palliativregistret.csv", ["code", "registered_deaths", "deaths"],
              [[a["code"], a["reg"], a["deaths"]] for a in kommuner + landsting])
    write_csv(folder / "senior_alert.csv", ["code", "relevant_units", "units_started", "registrations"],
              [[a["code"], a["units"], a["started"], a["regs"]] for a in kommuner + landsting])
    approved = approved or {}
    write_csv(folder / "action_plans.csv", ["county_code", "approved"],
              [[c, "ja" if approved.get(c, True) else "nej"] for c, _ in counties])
    write_payees(folder, [(k["code"], f"{k['name']} kommun", "kommun") for k in kommuner]
                 + [(l["code"], f"Landsting {l['code']}", "landsting") for l in landsting]
                 + [(c, f"Landsting {c}", "lan") for c, _ in counties])
    return folder


def checked(digits: str) -> str:
    from stdnum import luhn

    return digits + luhn.calc_check_digit(digits)


def write_payees(folder: Path, rows: list[tuple[str, str, str]]) -> Path:
    """payees.csv with a valid (made-up) organisation number and bankgiro per recipient."""
    out = []
    for code, name, rtype in rows:
        number = checked(f"2120{int(code.replace('-', '')[:4] or 0):05d}"[:9])
        giro = checked(f"5{int(code.replace('-', '')[:4] or 0):06d}")
        out.append([rtype, code, name, f"{number[:6]}-{number[6:]}", "bankgiro", f"{giro[:4]}-{giro[4:]}"])
    return write_csv(folder / "payees.csv", ["type", "code", "payee", "organisation_number", "account_type",
                                             "account"], out)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below a folder with its SHA-256: to prove an output folder was left untouched."""
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def sample_copy(tmp_path):
    """A writable copy of a year's sample data."""
    import shutil

    def copy(year: int = 2011) -> Path:
        target = tmp_path / f"data{year}"
        shutil.copytree(SAMPLE / str(year), target)
        return target

    return copy


def boundary(year: int, threshold_percent: int, case: str) -> dict:
    """A deliberate boundary case of the sample data (sample_data/boundaries.csv): 'exact' or 'below'."""
    return next(r for r in read_csv(SAMPLE / "boundaries.csv")
                if r["year"] == str(year) and r["threshold_percent"] == str(threshold_percent) and r["case"] == case)


def letter_stem(rtype: str, code: str, name: str) -> str:
    from skl_payout.letters import slug

    return f"{rtype}-{code}-{slug(name)}"


def page_texts(path: Path) -> list[str | None]:
    """Each page's text, None for a page with no content (a blank back page). PDFium reads the
    hundreds of pages of a combined file ten times faster than pypdf."""
    import pypdfium2

    document = pypdfium2.PdfDocument(path)
    try:
        texts = []
        for page in document:
            texts.append(page.get_textpage().get_text_range().replace("\r\n", "\n")
                         if next(iter(page.get_objects()), None) is not None else None)
        return texts
    finally:
        document.close()


@pytest.fixture(scope="session")
def pdf_letters(tmp_path_factory):
    """One run of 2011 with all its PDF letters, rendered once per test session even across xdist workers
    (it takes seconds), and the text of every letter's page of the combined PDF: (run folder, page texts;
    None for a blank back page, which has no content stream)."""
    import fcntl
    import json

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the workers' common folder
    out, texts = shared / "pdf-letters" / "2011", shared / "pdf-letters" / "pages.json"
    (shared / "pdf-letters").mkdir(exist_ok=True)
    with open(shared / "pdf-letters.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker renders; the others wait, then read
        if not texts.exists():
            assert cli("run", "--year", "2011", "--out", str(out)).returncode == 0
            done = cli("letters", "--out", str(out))
            assert done.returncode == 0, done.stderr
            pages = page_texts(out / "letters" / "samtliga-brev-2011.pdf")
            texts.write_text(json.dumps(pages), encoding="utf-8")
    return out, json.loads(texts.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """`sample_run(year, folder)`: a copy of `skl-payout run --year YEAR` on the shipped sample data, in
    `folder`. The run itself is made once per session, even across xdist workers; a run folder records
    its inputs, never its own place, so a copy is that run (tests that start from a plain run need not
    compute it again)."""
    import fcntl
    import shutil

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the workers' common folder

    def copy(year: int, folder: Path) -> Path:
        pristine = shared / "sample-runs" / str(year)
        with open(shared / "sample-runs.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (pristine / "run.json").exists():
                done = cli("run", "--year", str(year), "--out", str(pristine))
                assert done.returncode == 0, done.stderr
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(pristine, folder)
        return folder

    return copy
