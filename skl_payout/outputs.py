"""Writing a run: CSVs for machines, a manifest for auditors, all or nothing."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import shutil
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable, Iterator

from . import __version__, fmt
from .data import sha256
from .errors import PayoutError, error
from .pipeline import Result
from .validate import rule_warnings

PAYOUT_COLUMNS = ["pot", "recipient_type", "code", "name", "county_code", "qualified", "reason", "measure",
                  "threshold", "key_value", "amount_sek"]
TOTAL_COLUMNS = ["recipient_type", "code", "name", "county_code", "amount_sek"]
SUMMARY_COLUMNS = ["pot", "budget_sek", "paid_sek", "unpaid_sek", "eligible", "qualified"]
LIBRARIES = ["typer", "rich", "pandas", "pyyaml", "jinja2", "pydantic", "babel", "openpyxl", "typst"]


def csv_text(columns: list[str], rows: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def payout_rows(result: Result) -> list[list]:
    rows = []
    for sp in result.subpots:
        for row in sp.rows:
            ratio = row.qualification.ratio
            rows.append([
                sp.id, row.recipient.type, row.recipient.code, row.recipient.name, row.recipient.county_code,
                "true" if row.qualified else "false", row.qualification.reason(),
                fmt.ratio_text(ratio.measure) if ratio and ratio.measure is not None else "",
                fmt.ratio_exact(ratio.threshold) if ratio else "",
                "" if row.key_value is None else row.key_value, row.amount,
            ])
    return rows


def total_rows(result: Result) -> list[list]:
    return [[r.type, r.code, r.name, r.county_code, amount] for r, amount in result.totals()]


def summary_rows(result: Result) -> list[list]:
    return [[sp.id, sp.budget, sp.paid, sp.unpaid, sp.eligible, sp.qualified] for sp in result.subpots]


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def manifest(result: Result, rules_path: Path, options: dict) -> dict:
    """What was read, with which rules and tool: enough to re-run and to defend the result."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime.now(timezone.utc)
    return {
        "tool": "skl-payout",
        "tool_version": __version__,
        "python": platform.python_version(),
        "libraries": library_versions(),
        "year": result.rules.year,
        "agreement": result.rules.agreement.reference,
        "created_at": when.replace(microsecond=0).isoformat(),
        "options": options,
        "rules": {"path": str(Path(rules_path).resolve()), "sha256": sha256(rules_path)},
        "inputs": [{"file": p.name, "path": str(p), "sha256": sha256(p)} for p in result.data.files],
        "pots": [
            {"pot": sp.id, "budget_sek": sp.budget, "paid_sek": sp.paid, "unpaid_sek": sp.unpaid,
             "eligible": sp.eligible, "qualified": sp.qualified, "transfers": sp.transfers}
            for sp in result.subpots
        ],
        "warnings": [p.as_dict() for p in rule_warnings(result.rules, rules_path.name)],
        "total_budget_sek": sum(p.amount_sek for p in result.rules.pots),
        "total_paid_sek": result.paid,
    }


def write_run(result: Result, folder: Path, rules_path: Path, options: dict) -> list[str]:
    """The run's files, written into `folder` (a staging folder: see `staged`)."""
    files = {
        "payouts.csv": csv_text(PAYOUT_COLUMNS, payout_rows(result)),
        "totals.csv": csv_text(TOTAL_COLUMNS, total_rows(result)),
        "summary.csv": csv_text(SUMMARY_COLUMNS, summary_rows(result)),
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8", newline="")
    (folder / "run.json").write_text(
        json.dumps(manifest(result, rules_path, options), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return [*files, "run.json"]


def is_run_output(folder: Path) -> bool:
    return (folder / "run.json").is_file()


def is_letters_folder(folder: Path) -> bool:
    return all(p.is_file() and p.suffix in (".pdf", ".html", ".md") for p in folder.iterdir())


@contextmanager
def staged(target: Path, owned: Callable[[Path], bool] = is_run_output,
           protect: Iterable[Path] = ()) -> Iterator[Path]:
    """Build in a temporary sibling folder; replace `target` only if the block succeeds.

    On any error or interrupt (Ctrl-C included) the previous output is left exactly as it was.
    An existing folder is replaced only if it is empty or `owned` recognises it as ours, and never
    if it is or holds one of the `protect`ed inputs: a wrong --out must not delete anyone's files.
    """
    target = Path(target).resolve()
    for path in protect:
        path = Path(path).resolve()
        if path == target or target in path.parents:
            raise PayoutError(error(str(target), f"the output folder would replace the input {path}",
                                    "choose an output folder outside the data and rules"))
    if target.exists():
        if not target.is_dir():
            raise PayoutError(error(str(target), "exists and is not a folder", "choose a folder for the output"))
        if any(target.iterdir()) and not owned(target):
            raise PayoutError(error(str(target), "exists and was not written by skl-payout; refusing to replace it",
                                    "choose a new or empty folder, or remove this one yourself"))
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    stage.chmod(0o777 & ~umask)  # mkdtemp makes it private; the output folder should not be
    try:
        yield stage
        backup = None
        if target.exists():
            backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            backup.rmdir()
            target.rename(backup)
        stage.rename(target)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
