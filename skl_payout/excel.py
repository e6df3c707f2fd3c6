"""payouts.xlsx: the list a finance department books from. Codes are text, amounts are numbers.

The workbook is byte-reproducible: a fixed document time (SOURCE_DATE_EPOCH, else 1980-01-01) that
XlsxWriter also writes as the modified time, and, in memory, fixed zip entry times.
"""

from __future__ import annotations

import functools
import io
import os
import re
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


def _write_sheet(wb, formats: dict, title: str, heading: str, columns: list[Column], rows: list[list],
                 total: list) -> None:
    """A sheet that sorts and prints well: a filter over the header and data only (the sum row sits
    below a blank row, outside it, so sorting never moves it), A4 landscape fitted to one page wide
    with the header row repeated on every page, and a number format on every number column."""
    ws = wb.add_worksheet(title)
    for i, column in enumerate(columns):
        fitted = max(len(str(v)) for v in [column.header, *(r[i] for r in rows), total[i]]) + 2
        ws.set_column(i, i, column.width or min(max(fitted, 8), 40))
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, len(rows), len(columns) - 1)
    ws.repeat_rows(0)
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)  # one page wide, as many down as needed
    ws.hide_gridlines(0)  # printed, as on screen
    ws.set_header(f"&L{heading.replace('&', '&&')}&R&A")
    ws.set_footer("&CSida &P av &N")

    def cell(value, column: Column, bold: bool = False) -> tuple:
        quote = ("quote",) if isinstance(value, str) and value.startswith(FORMULA_STARTS) else ()
        # text, never a live formula, and Excel keeps it text when edited
        return value, formats[(column.number_format, column.wrap, bold, *quote)]

    put = ws.put_row if hasattr(ws, "put_row") else functools.partial(_put_row, ws)
    put(0, [(column.header, formats[("General", False, True)]) for column in columns])
    for r, row in enumerate(rows, 1):
        put(r, [cell(value, column) for value, column in zip(row, columns)])
    put(len(rows) + 2, [cell(value, column, bold=True) for value, column in zip(total, columns)])


def _put_row(ws, row: int, cells: list[tuple]) -> None:
    """A row of (value, format) through XlsxWriter's own calls."""
    for col, (value, cell_format) in enumerate(cells):
        _put_cell(ws, row, col, value, cell_format)


def _put_cell(ws, row: int, col: int, value, cell_format) -> None:
    if isinstance(value, str):
        ws.write_string(row, col, value, cell_format)  # text stays text: never converted to a number or formula
    elif value is None:
        ws.write_blank(row, col, None, cell_format)
    else:
        ws.write_number(row, col, value, cell_format)


@functools.cache
def _table_sheet():
    """XlsxWriter's worksheet with a shorter way through its two innermost loops for a plain table:
    storing a row of cells, and writing each cell's XML. Per cell, XlsxWriter checks arguments,
    converts, dispatches on the cell's type and builds an attribute list; that was two thirds of
    writing payouts.xlsx. The XML is exactly XlsxWriter's (a test compares the workbook's bytes with
    one written through XlsxWriter's own calls); whatever a plain table does not have (long text,
    a cell without a format, row formats, comments, constant-memory mode) goes XlsxWriter's way."""
    from xlsxwriter.utility import xl_col_to_name
    from xlsxwriter.worksheet import CellBlankTuple, CellNumberTuple, CellStringTuple, Worksheet

    class TableSheet(Worksheet):
        def put_row(self, row: int, cells: list[tuple]) -> None:
            if self.constant_memory or any(f is None for _, f in cells) or \
                    self._check_dimensions(row, 0) or self._check_dimensions(row, len(cells) - 1):
                return _put_row(self, row, cells)
            shared, stored = self.str_table._get_shared_string_index, self.table[row]
            for col, (value, cell_format) in enumerate(cells):
                if value.__class__ is str and len(value) <= self.xls_strmax // 2:  # never truncated
                    stored[col] = CellStringTuple(shared(value), cell_format)
                elif value is None:
                    stored[col] = CellBlankTuple(cell_format)
                elif value.__class__ is int:
                    stored[col] = CellNumberTuple(value, cell_format)
                else:
                    _put_cell(self, row, col, value, cell_format)

        def _write_rows(self) -> None:
            if self.row_info or self.comments or self.constant_memory or self.excel_version != 2007 \
                    or self.default_row_height != self.original_row_height:
                return super()._write_rows()
            self._calculate_spans()
            write, spans = self.fh.write, self.row_spans
            names = [xl_col_to_name(col) for col in range(self.dim_colmax + 1)]
            styles = {f: f"{f._get_xf_index()}" for row in self.table.values() for c in row.values()
                      if (f := c.format) is not None}  # a cell's format, by the Format object
            for row in range(self.dim_rowmin, self.dim_rowmax + 1):
                cells = self.table.get(row)
                if not cells:
                    continue
                number, span = row + 1, spans.get(row // 16)
                write(f'<row r="{number}" spans="{span}">' if span else f'<row r="{number}">')
                for col in sorted(cells):
                    cell = cells[col]
                    kind, cell_format = cell.__class__, cell.format
                    if cell_format is None or kind not in (CellStringTuple, CellNumberTuple, CellBlankTuple):
                        self._write_cell(row, col, cell)
                    elif kind is CellStringTuple:
                        write(f'<c r="{names[col]}{number}" s="{styles[cell_format]}" t="s"><v>{cell.string}</v></c>')
                    elif kind is CellNumberTuple:
                        write(f'<c r="{names[col]}{number}" s="{styles[cell_format]}"><v>{cell.number:.16G}</v></c>')
                    else:
                        write(f'<c r="{names[col]}{number}" s="{styles[cell_format]}"/>')
                write("</row>")

    return TableSheet


def _formats(wb) -> dict:
    """Every cell format used, made once per workbook (XlsxWriter's formats are shared objects)."""
    formats = {}
    for number_format in ("General", "@", KRONOR, COUNT):
        for wrap in (False, True):
            for bold in (False, True):
                spec = {"num_format": number_format} if number_format != "General" else {}
                if wrap:
                    spec.update(text_wrap=True, valign="top")
                if bold:
                    spec["bold"] = True
                formats[(number_format, wrap, bold)] = wb.add_format(spec)
                formats[(number_format, wrap, bold, "quote")] = wb.add_format({**spec, "quote_prefix": True})
    return formats


def write_excel(result: Result, folder: Path) -> Path:
    """payouts.xlsx with XlsxWriter: fast to write, and byte-reproducible (fixed document and zip times)."""
    path = folder / "payouts.xlsx"
    path.write_bytes(workbook_bytes(result))  # in memory, XlsxWriter dates every zip entry 1980-01-01
    return path


def workbook_bytes(result: Result, quick: bool = True) -> bytes:
    """The workbook; `quick=False` writes every cell through XlsxWriter's own calls (the same bytes)."""
    import xlsxwriter

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    stamp = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime(*FIXED_TIME)
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
                                      "strings_to_urls": False})
    if quick:
        wb.worksheet_class = _table_sheet()
    wb.set_properties({"author": "skl-payout", "created": stamp.replace(tzinfo=None)})
    formats = _formats(wb)
    used: set[str] = set()
    heading = f"{result.rules.agreement.title} – utbetalningar {result.rules.year}"
    held = result.withheld_of()
    typ, kod, namn, lan = (Column("Typ"), Column("Kod", "@"), Column("Namn"), Column("Länskod", "@"))
    totals = [[phrases.recipient_type(r.type), r.code, r.name, r.county_code, amount, held.get(r, 0)]
              for r, amount in result.totals()]
    _write_sheet(wb, formats, _sheet_title("Totalt", used), heading,
                 [typ, kod, namn, lan, Column("Belopp (kr)", KRONOR), Column("Innehållet (kr)", KRONOR)], totals,
                 ["", "", "Summa", "", sum(t[4] for t in totals), sum(t[5] for t in totals)])

    summary = [[sp.id, sp.pot.title, sp.budget, sp.paid, sp.withheld, sp.unpaid, sp.qualified, sp.eligible]
               for sp in result.subpots]
    _write_sheet(wb, formats, _sheet_title("Potter", used), heading,
                 [Column("Pott"), Column("Beskrivning", wrap=True, width=40),
                  *(Column(h, KRONOR) for h in ("Budget (kr)", "Utbetalt (kr)", "Innehållet (kr)", "Ej utbetalt (kr)")),
                  Column("Kvalificerade", COUNT), Column("Berättigade", COUNT)], summary,
                 ["Summa", "", *(sum(s[i] for s in summary) for i in range(2, 6)), "", ""])

    for sp in result.subpots:
        rows = [[phrases.recipient_type(r.recipient.type), r.recipient.code, r.recipient.name,
                 r.recipient.county_code, "ja" if r.qualified else "nej", phrases.reason(r),
                 "" if r.key_value is None else r.key_value, r.amount, r.withheld] for r in sp.rows]
        _write_sheet(wb, formats, _sheet_title(sp.id, used), f"{heading} – {sp.id} {sp.pot.title}",
                     [typ, kod, namn, lan, Column("Kvalificerad"), Column("Skäl", wrap=True, width=60),
                      Column("Nyckel", COUNT), Column("Belopp (kr)", KRONOR), Column("Innehållet (kr)", KRONOR)],
                     rows, ["", "", "Summa", "", "", "", "", sp.paid, sp.withheld])
    wb.close()
    return buffer.getvalue()
