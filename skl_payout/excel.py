"""payouts.xlsx: the list a finance department books from. Codes are text, amounts are numbers.

The workbook is made byte-reproducible: fixed document times and fixed zip entry times.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from . import phrases
from .pipeline import Result

KRONOR = '#,##0 "kr"'
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _sheet_title(text: str, used: set[str]) -> str:
    title = re.sub(r"[\[\]:*?/\\]", " ", text)[:31]
    base, n = title, 2
    while title in used:
        title = f"{base[:28]} {n}"
        n += 1
    used.add(title)
    return title


def _write_rows(ws, header: list[str], rows: list[list], text_columns: set[int], money_columns: set[int]) -> None:
    from openpyxl.styles import Font

    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(row)
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS):
                cell.data_type = "s"  # text, never a live formula: a name such as "=HYPERLINK(...)" stays a name
                cell.quotePrefix = True  # and Excel keeps it text when the cell is edited
    for columns, number_format in ((text_columns, "@"), (money_columns, KRONOR)):
        for col in columns:
            for (cell,) in ws.iter_rows(min_row=2, min_col=col, max_col=col):
                cell.number_format = number_format
    for i, name in enumerate(header, 1):
        width = max(len(str(cell)) for cell in [name, *(r[i - 1] for r in rows)])
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = min(max(width + 2, 8), 60)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions


def write_excel(result: Result, folder: Path) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    used: set[str] = set()
    ws = wb.active
    ws.title = _sheet_title("Totalt", used)
    held: dict = {}
    for sp in result.subpots:
        for row in sp.rows:
            held[row.recipient] = held.get(row.recipient, 0) + row.withheld
    totals = [[r.type, r.code, r.name, r.county_code, amount, held.get(r, 0)] for r, amount in result.totals()]
    totals.append(["", "", "Summa", "", sum(t[4] for t in totals), sum(t[5] for t in totals)])
    _write_rows(ws, ["Typ", "Kod", "Namn", "Länskod", "Belopp (kr)", "Innehållet (kr)"], totals, {2, 4}, {5, 6})

    ws = wb.create_sheet(_sheet_title("Potter", used))
    summary = [[sp.id, sp.pot.title, sp.budget, sp.paid, sp.withheld, sp.unpaid, sp.qualified, sp.eligible]
               for sp in result.subpots]
    _write_rows(ws, ["Pott", "Beskrivning", "Budget (kr)", "Utbetalt (kr)", "Innehållet (kr)", "Ej utbetalt (kr)",
                     "Kvalificerade", "Berättigade"], summary, set(), {3, 4, 5, 6})

    for sp in result.subpots:
        ws = wb.create_sheet(_sheet_title(sp.id, used))
        rows = [[r.recipient.type, r.recipient.code, r.recipient.name, r.recipient.county_code,
                 "ja" if r.qualified else "nej", phrases.reason(r),
                 "" if r.key_value is None else r.key_value, r.amount, r.withheld] for r in sp.rows]
        rows.append(["", "", "Summa", "", "", "", "", sp.paid, sp.withheld])
        _write_rows(ws, ["Typ", "Kod", "Namn", "Länskod", "Kvalificerad", "Skäl", "Nyckel", "Belopp (kr)",
                         "Innehållet (kr)"], rows, {2, 4}, {8, 9})

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    stamp = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime(*FIXED_TIME)
    wb.properties.creator = "skl-payout"
    wb.properties.created = wb.properties.modified = stamp.replace(tzinfo=None)
    buffer = io.BytesIO()
    wb.save(buffer)
    path = folder / "payouts.xlsx"
    path.write_bytes(_reproducible_zip(buffer.getvalue(), stamp))
    return path


def _reproducible_zip(data: bytes, stamp: datetime) -> bytes:
    """Rewrite the workbook's zip with fixed entry times and a fixed modified time in core.xml."""
    out = io.BytesIO()
    when = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(<)", rb"\g<1>" + when.encode() + rb"\g<2>", content)
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, content)
    return out.getvalue()
