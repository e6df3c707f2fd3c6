"""payouts.xlsx: the list a finance department books from. Codes are text, amounts are numbers.

The workbook is made byte-reproducible: fixed document times and fixed zip entry times.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import phrases
from .pipeline import Result

KRONOR = '#,##0 "kr"'
COUNT = "#,##0"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    """One column of a sheet: its Swedish header and how its values show and print."""

    header: str
    number_format: str = "General"  # "@" for codes kept as text, KRONOR for money, COUNT for counts
    wrap: bool = False
    width: int | None = None  # fixed width in characters, else fitted to the content (at most 40)


def _sheet_title(text: str, used: set[str]) -> str:
    title = re.sub(r"[\[\]:*?/\\]", " ", text)[:31]
    base, n = title, 2
    while title in used:
        title = f"{base[:28]} {n}"
        n += 1
    used.add(title)
    return title


def _write_sheet(wb, title: str, heading: str, columns: list[Column], rows: list[list], total: list) -> None:
    """A sheet that sorts and prints well: a filter over the header and data only (the sum row sits
    below a blank row, outside it, so sorting never moves it), A4 landscape fitted to one page wide
    with the header row repeated on every page, and a number format on every number column."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.properties import PageSetupProperties

    ws = wb.create_sheet(title)
    last = get_column_letter(len(columns))
    for i, column in enumerate(columns, 1):
        fitted = max(len(str(v)) for v in [column.header, *(r[i - 1] for r in rows), total[i - 1]]) + 2
        ws.column_dimensions[get_column_letter(i)].width = column.width or min(max(fitted, 8), 40)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{last}{len(rows) + 1}"
    ws.print_title_rows = "1:1"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = "9"  # A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as needed
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_options.gridLines = True
    ws.oddHeader.left.text = heading.replace("&", "&&")
    ws.oddHeader.right.text = "&A"
    ws.oddFooter.center.text = "Sida &P av &N"
    bold, wrapped = Font(bold=True), Alignment(wrap_text=True, vertical="top")

    def cell(value, column: Column, font=None):
        c = WriteOnlyCell(ws, value=value)
        if isinstance(value, str) and value.startswith(FORMULA_STARTS):
            c.data_type = "s"  # text, never a live formula: a name such as "=HYPERLINK(...)" stays a name
            c.quotePrefix = True  # and Excel keeps it text when the cell is edited
        if column.number_format != "General" and value != "":
            c.number_format = column.number_format
        if column.wrap:
            c.alignment = wrapped
        if font:
            c.font = font
        return c

    ws.append([cell(c.header, Column(c.header), bold) for c in columns])
    for row in rows:
        ws.append([cell(v, c) for v, c in zip(row, columns)])
    ws.append([])
    ws.append([cell(v, c, bold) for v, c in zip(total, columns)])


def write_excel(result: Result, folder: Path) -> Path:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    used: set[str] = set()
    heading = f"{result.rules.agreement.title} – utbetalningar {result.rules.year}"
    held: dict = {}
    for sp in result.subpots:
        for row in sp.rows:
            held[row.recipient] = held.get(row.recipient, 0) + row.withheld
    typ, kod, namn, lan = (Column("Typ"), Column("Kod", "@"), Column("Namn"), Column("Länskod", "@"))
    totals = [[phrases.recipient_type(r.type), r.code, r.name, r.county_code, amount, held.get(r, 0)]
              for r, amount in result.totals()]
    _write_sheet(wb, _sheet_title("Totalt", used), heading,
                 [typ, kod, namn, lan, Column("Belopp (kr)", KRONOR), Column("Innehållet (kr)", KRONOR)], totals,
                 ["", "", "Summa", "", sum(t[4] for t in totals), sum(t[5] for t in totals)])

    summary = [[sp.id, sp.pot.title, sp.budget, sp.paid, sp.withheld, sp.unpaid, sp.qualified, sp.eligible]
               for sp in result.subpots]
    _write_sheet(wb, _sheet_title("Potter", used), heading,
                 [Column("Pott"), Column("Beskrivning", wrap=True, width=40),
                  *(Column(h, KRONOR) for h in ("Budget (kr)", "Utbetalt (kr)", "Innehållet (kr)", "Ej utbetalt (kr)")),
                  Column("Kvalificerade", COUNT), Column("Berättigade", COUNT)], summary,
                 ["Summa", "", *(sum(s[i] for s in summary) for i in range(2, 6)), "", ""])

    for sp in result.subpots:
        rows = [[phrases.recipient_type(r.recipient.type), r.recipient.code, r.recipient.name,
                 r.recipient.county_code, "ja" if r.qualified else "nej", phrases.reason(r),
                 "" if r.key_value is None else r.key_value, r.amount, r.withheld] for r in sp.rows]
        _write_sheet(wb, _sheet_title(sp.id, used), f"{heading} – {sp.id} {sp.pot.title}",
                     [typ, kod, namn, lan, Column("Kvalificerad"), Column("Skäl", wrap=True, width=60),
                      Column("Nyckel", COUNT), Column("Belopp (kr)", KRONOR), Column("Innehållet (kr)", KRONOR)],
                     rows, ["", "", "Summa", "", "", "", "", sp.paid, sp.withheld])

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
