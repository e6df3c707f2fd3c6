"""Writing a run: CSVs for machines, a manifest for auditors, all or nothing."""

from __future__ import annotations

import csv
import functools
import io
import os
import platform
from datetime import datetime, timezone
from decimal import Decimal
from fractions import Fraction
from importlib import metadata
from pathlib import Path

from . import __version__, fmt, phrases
from .data import sha256
from .pipeline import Result
from .trace import TRACE_FILE, to_json
from .excel import FORMULA_STARTS
from .safefs import RUN_MANIFEST, hashes, manifest_text
from .validate import assumption_list, run_notes

PAYOUT_COLUMNS = ["pot", "recipient_type", "code", "name", "county_code", "qualified", "reason", "measure",
                  "threshold", "key_value", "amount_sek"]
TOTAL_COLUMNS = ["recipient_type", "code", "name", "county_code", "amount_sek"]
SUMMARY_COLUMNS = ["pot", "budget_sek", "paid_sek", "withheld_sek", "unpaid_sek", "eligible", "qualified"]
LIBRARIES = ["typer", "rich", "pandas", "pyyaml", "jinja2", "pydantic", "babel", "openpyxl", "xlsxwriter", "typst"]


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
            ratio = row.ratio
            rows.append([
                sp.id, row.recipient.type, row.recipient.code, row.recipient.name, row.recipient.county_code,
                "true" if row.qualified else "false", phrases.reason(row),
                fmt.ratio_text(ratio.measure) if ratio and ratio.measure is not None else "",
                fmt.ratio_exact(ratio.threshold) if ratio else "",
                "" if row.key_value is None else row.key_value, row.amount,
            ])
    return rows


def total_rows(result: Result) -> list[list]:
    return [[r.type, r.code, r.name, r.county_code, amount] for r, amount in result.totals()]


def summary_rows(result: Result) -> list[list]:
    return [[sp.id, sp.budget, sp.paid, sp.withheld, sp.unpaid, sp.eligible, sp.qualified] for sp in result.subpots]


def _excel_text(value) -> str:
    """A cell for Swedish Excel: a code keeps its leading zero (="0114"), text that Excel would run as a
    formula gets a leading apostrophe, a decimal point becomes a comma."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return str(value).replace(".", ",")
    if isinstance(value, Code):
        return f'="{value}"'
    return "'" + value if value.startswith(FORMULA_STARTS) else value


class Code(str):
    """A code that is text (0114), never a number."""


def _percent(value: Fraction | None) -> Decimal | str:
    return "" if value is None else fmt.floor_decimal(value * 100, 4).normalize() + 0


def write_swedish_csvs(result: Result, folder: Path) -> list[str]:
    """The three CSVs as Swedish Excel opens them with a double-click: semicolons, UTF-8 with BOM, CRLF,
    Swedish headers, decimal commas, yes/no as ja/nej. For people; the plain CSVs stay the contract."""
    held = result.withheld_of()
    payouts = [[sp.id, phrases.recipient_type(r.recipient.type), Code(r.recipient.code), r.recipient.name,
                Code(r.recipient.county_code), fmt.yes_no(r.qualified), phrases.reason(r),
                _percent(r.ratio.measure if r.ratio else None), _percent(r.ratio.threshold if r.ratio else None),
                "" if r.key_value is None else r.key_value, r.amount, r.withheld]
               for sp in result.subpots for r in sp.rows]
    totals = [[phrases.recipient_type(r.type), Code(r.code), r.name, Code(r.county_code), amount, held.get(r, 0)]
              for r, amount in result.totals()]
    summary = [[sp.id, sp.pot.title, sp.budget, sp.paid, sp.withheld, sp.unpaid, sp.eligible, sp.qualified]
               for sp in result.subpots]
    tables = {
        "utbetalningar.csv": (["Pott", "Typ", "Kod", "Namn", "Länskod", "Kvalificerad", "Skäl", "Andel (%)",
                               "Gräns (%)", "Nyckel", "Belopp (kr)", "Innehållet (kr)"], payouts),
        "totalt.csv": (["Typ", "Kod", "Namn", "Länskod", "Belopp (kr)", "Innehållet (kr)"], totals),
        "potter.csv": (["Pott", "Beskrivning", "Budget (kr)", "Utbetalt (kr)", "Innehållet (kr)", "Ej utbetalt (kr)",
                        "Berättigade", "Kvalificerade"], summary),
    }
    for name, (columns, rows) in tables.items():
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows([[_excel_text(v) for v in row] for row in rows])
        (folder / name).write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8"))
    return list(tables)


def library_versions() -> dict[str, str]:
    return dict(_library_versions())


@functools.lru_cache(maxsize=1)
def _library_versions() -> tuple:
    """Looked up once per process: the installed libraries do not change under a running program."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return tuple(versions.items())


def manifest(result: Result, rules_path: Path, options: dict, also_read: tuple = ()) -> dict:
    """What was read, with which rules and tool: enough to re-run and to defend the result."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime.now(timezone.utc)
    assumptions, conflicts = assumption_list(result.rules)
    return {
        "tool": "skl-payout",
        "tool_version": __version__,
        "python": platform.python_version(),
        "libraries": library_versions(),
        "year": result.rules.year,
        "agreement": result.rules.agreement.reference,
        "created_at": when.replace(microsecond=0).isoformat(),
        "options": options,
        "sample_data": result.data.synthetic,  # the data folder says its register figures are synthetic
        # who receives the money, as payees.csv said at the run: letters are written from this, not the file now
        "payees": None if result.data.payees is None else [
            {"recipient_type": t, "code": c, "payee": p.name, "organisation_number": p.organisation_number,
             "account_type": p.account_type, "account": p.account}
            for (t, c), p in sorted(result.data.payees.items())],
        "rules": {"path": str(Path(rules_path).resolve()), "sha256": result.rules.sha256 or sha256(rules_path)},
        "inputs": [{"file": p.name, "path": str(p), "sha256": result.data.digests.get(p) or sha256(p)}
                   for p in [*result.data.files, *(q for q in also_read if q not in result.data.files)]],
        "pots": [
            {"pot": sp.id, "budget_sek": sp.budget, "paid_sek": sp.paid, "withheld_sek": sp.withheld,
             "unpaid_sek": sp.unpaid,
             "eligible": sp.eligible, "qualified": sp.qualified, "transfers": phrases.transfers(sp)}
            for sp in result.subpots
        ],
        "warnings": [p.as_dict() for p in run_notes(result, rules_path.name)],
        "assumptions": assumptions, "conflicts": conflicts,
        "total_budget_sek": sum(p.amount_sek for p in result.rules.pots),
        "total_paid_sek": result.paid,
        "total_withheld_sek": result.withheld,
        # per recipient: money allocated but held until a condition is met (not in totals.csv, which pays)
        "withheld": [{"pot": sp.id, "recipient_type": r.recipient.type, "code": r.recipient.code,
                      "name": r.recipient.name, "withheld_sek": r.withheld, "until": sp.pot.withheld_until}
                     for sp in result.subpots for r in sp.rows if r.withheld],
    }


def write_run(result: Result, folder: Path, with_trace: bool = True) -> list[str]:
    """The run's CSVs, and its trace unless `with_trace` is False (then `write_trace` writes it),
    written into `folder` (a staging folder: see `safefs.staged`)."""
    files = {
        "payouts.csv": csv_text(PAYOUT_COLUMNS, payout_rows(result)),
        "totals.csv": csv_text(TOTAL_COLUMNS, total_rows(result)),
        "summary.csv": csv_text(SUMMARY_COLUMNS, summary_rows(result)),
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8", newline="")
    return list(files) + ([write_trace(result, folder)] if with_trace else [])


def write_trace(result: Result, folder: Path) -> str:
    (folder / TRACE_FILE).write_text(to_json(result.trace), encoding="utf-8", newline="")
    return TRACE_FILE


def write_manifest(result: Result, folder: Path, rules_path: Path, options: dict, outputs: list[str],
                   also_read: tuple = ()) -> str:
    """run.json, written last: it records the SHA-256 of every other output, so the tool knows what it wrote.
    `also_read`: files read besides the run's own data (a what-if's base run), so `verify` has them too."""
    data = manifest(result, rules_path, options, also_read)
    data["outputs"] = hashes(folder, outputs)
    (folder / RUN_MANIFEST).write_text(manifest_text(data), encoding="utf-8")
    return RUN_MANIFEST
