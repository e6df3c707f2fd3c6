"""Loading a year's data folder: Swedish CSV/Excel exports read as text, then checked and typed.

Every value is read as text first (codes keep their leading zeros) and converted by the column
type the rule file declares; every problem names the file, the row and the column.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import PayoutError, Problem, error, warning
from .memo import Recent
from .rules import Rules, Table
from .trace import Recipient
from .payees import FILE as PAYEES_FILE, load as load_payees

TRUE_WORDS = {"true", "yes", "ja", "1", "sant", "j", "y"}
FALSE_WORDS = {"false", "no", "nej", "0", "falskt", "n"}
AUTHORITY_COLUMNS = ["code", "name", "type", "county_code"]
COUNTY_COLUMNS = ["county_code", "name"]
AUTHORITY_TYPES = ("kommun", "landsting", "regiondel")


@dataclass
class TableData:
    name: str
    spec: Table
    path: Path
    values: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    lines: dict[tuple[str, str], int] = field(default_factory=dict)  # file line of each row; derived rows have none


@dataclass
class Dataset:
    folder: Path
    recipients: list[Recipient]
    counties: dict[str, str]
    tables: dict[str, TableData]
    files: list[Path]
    digests: dict[Path, str] = field(default_factory=dict)  # SHA-256 of the bytes actually read
    warnings: list[Problem] = field(default_factory=list)  # values accepted as real data, said aloud
    payees: dict | None = None  # (type, code) -> payees.Payee, when the folder has payees.csv
    synthetic: bool = False  # the folder holds SYNTHETIC.txt: letters and report carry an EXEMPEL mark

    def of_type(self, rtype: str) -> list[Recipient]:
        return [r for r in self.recipients if r.type == rtype]

    def row_key(self, table: str, recipient: Recipient) -> tuple[str, str]:
        if self.tables[table].spec.id == "county_code":
            return ("lan", recipient.county_code)
        return recipient.key

    def value(self, ref: str, recipient: Recipient) -> Any:
        table, column = ref.split(".")
        row = self.tables[table].values.get(self.row_key(table, recipient))
        return None if row is None else row.get(column)

    def where(self, ref: str, recipient: Recipient) -> str:
        """File and line a value was read from, or how it was derived."""
        table, column = ref.split(".")
        data = self.tables[table]
        line = data.lines.get(self.row_key(table, recipient))
        if line is None:
            return f"{data.path.name}: summa av länets kommuner, column {column}"
        return f"{data.path.name} row {line}, column {column}"


# --- reading files -------------------------------------------------------------------------------

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # characters letters and Excel cannot show
MAX_FILE_BYTES = 10 * 1024 * 1024  # a national table is well under 1 MB; a bigger file is the wrong file
MAX_XLSX_UNPACKED = 5 * 1024 * 1024  # a national table's workbook unpacks to well under 1 MB
MAX_ROWS = 20_000  # 290 kommuner, 21 landsting, 31 regiondelar: a few hundred rows
MAX_PROBLEMS_PER_FILE = 400  # above a national file's rows: a repeated problem is counted in full
_UTF8_LATIN = re.compile(rb"\xc3[\x80-\xbf]|\xc2[\xa0-\xbf]|\xe2\x80[\x90-\xbf]|\xe2\x82\xac")


def _line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def decode(raw: bytes, name: str) -> str:
    """Swedish exports come as UTF-8 (often with BOM), Windows-1252 or, from Excel's "Unicode text", UTF-16.

    A file that is neither wholly one nor wholly the other is refused: decoding a UTF-8 file with one
    Windows-1252 row as Windows-1252 would garble every Swedish name without a word.
    """
    for boms, codec in (((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"), "utf-32"), ((b"\xff\xfe", b"\xfe\xff"), "utf-16")):
        if raw.startswith(boms):  # Excel's "Unicode text"; UTF-32 first, as its BOM starts like UTF-16's
            try:
                return raw.decode(codec)
            except UnicodeDecodeError as exc:
                raise PayoutError(error(name, f"starts as {codec.upper()} but byte {exc.start} is not {codec.upper()}",
                                        "export the sheet again as CSV UTF-8")) from None
    if not raw.strip():
        raise PayoutError(error(name, "the file is empty", "export it again with a header row"))
    if b"\x00" in raw[:4096]:
        raise PayoutError(error(name, "is not a text file (it contains binary data)",
                                "export the sheet as CSV (semicolon or comma separated) or save it as .xlsx"))
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
        bom = True
    else:
        bom = False
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = _line_of(raw, exc.start)
        if bom or _UTF8_LATIN.search(raw):
            raise PayoutError(error(
                f"{name} line {line}", "mixes encodings: the file is UTF-8, but this line is not "
                f"(byte 0x{raw[exc.start]:02X}, probably Windows-1252)",
                "re-save the whole file in one encoding (CSV UTF-8), or correct this line")) from None
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise PayoutError(error(f"{name} line {_line_of(raw, exc.start)}",
                                f"is neither UTF-8 nor Windows-1252 text (byte 0x{raw[exc.start]:02X})",
                                "export the sheet again as CSV UTF-8")) from None


def sniff_separator(header: str) -> str:
    counts = {sep: header.count(sep) for sep in (";", ",", "\t")}
    return max(counts, key=lambda s: (counts[s], s == ";"))


def resolve(folder: Path, file: str) -> Path:
    """The file the rules name, or its .xlsx twin; confined to the data folder; never both."""
    folder = folder.resolve()
    try:
        path = (folder / file).resolve()
    except RuntimeError:  # Python's word for a loop of symbolic links
        raise PayoutError(error(str(folder / file), "is a symbolic link that leads back to itself (a loop)",
                                "replace the link with the file itself")) from None
    if folder not in path.parents:
        raise PayoutError(error(file, f"path leaves the data folder {folder}"))
    if path.suffix.lower() == ".csv":
        twin = path.with_suffix(".xlsx")
        if path.exists() and twin.exists():
            raise PayoutError(error(str(path), f"both {path.name} and {twin.name} are in the data folder",
                                    "keep only the one that holds the data to use; the tool will not guess"))
        if not path.exists() and twin.exists():
            return twin
    return path


def _read_bytes(path: Path, limit: int) -> bytes:
    if path.is_dir():
        raise PayoutError(error(str(path), "is a folder, not a file", "the data folder must hold the file itself"))
    if not path.exists():
        raise PayoutError(error(str(path), "file not found", "every file the rule file names must be in the data folder"))
    size = path.stat().st_size
    if size > limit:
        raise PayoutError(error(str(path), f"is {size:,} bytes; a national table is well under {limit:,}".replace(",", " "),
                                "is this the right file?"))
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PayoutError(error(str(path), f"cannot be read: {exc.strerror}", "check the file's permissions")) from None


def read_rows(path: Path, digests: dict[Path, str] | None = None) -> tuple[tuple[str, ...], tuple[tuple[int, dict[str, str]], ...]]:
    """Header and (line number, row) pairs, every cell as stripped text; records the SHA-256 of what was read.

    The same bytes under the same name were read before (a folder where one file changed, validate
    then run): the rows read then are given again, shared, so no caller may change them."""
    raw = _read_bytes(path, MAX_FILE_BYTES if path.suffix.lower() != ".xlsx" else 2 * MAX_FILE_BYTES)
    digest = hashlib.sha256(raw).hexdigest()
    if digests is not None:
        digests[path] = digest
    key = (str(path), digest)  # the name as given: the messages name it
    found = _ROWS.get(key)
    if found is not None:
        return found
    if path.suffix.lower() == ".xlsx":
        header, rows = _read_xlsx(path, raw)
    else:
        header, rows = _read_csv(path, decode(raw, str(path)))
    header, checked = _check_header(path, header, rows)
    return _ROWS.put(key, (tuple(header), tuple(checked)))


_ROWS: Recent[tuple[tuple[str, ...], tuple[tuple[int, dict[str, str]], ...]]] = Recent(16)


def _read_csv(path: Path, text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    import csv

    lines = text.splitlines()
    header_line = next((ln for ln in lines if ln.strip()), "")
    hint = re.fullmatch(r"sep=(.)", header_line.strip())
    if hint:  # Excel's separator line: "sep=;" before the header
        sep = hint.group(1)
        text = text.replace(header_line, "", 1)  # an empty first line: row numbers stay the file's lines
    else:
        sep = sniff_separator(header_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, skipinitialspace=True, strict=True)

    def numbered():
        start = 1
        for cells in reader:
            yield start, cells  # a row's first line, also when a quoted cell spans several
            start = reader.line_num + 1

    try:
        header, rows = _split_header(path, numbered())
    except csv.Error as exc:
        raise PayoutError(error(f"{path} line {reader.line_num}", f"cannot be read as {sep!r}-separated text: {exc}",
                                "a quote (\") inside a value must be doubled, or the value quoted")) from None
    return header or [], rows


def _split_header(path: Path, numbered) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """The first non-empty row as the header, then the non-empty rows; at most MAX_ROWS of them."""
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    for line, cells in numbered:
        if not any(c.strip() for c in cells):
            continue
        if header is None:
            header = cells
            continue
        rows.append((line, cells))
        if len(rows) > MAX_ROWS:
            raise PayoutError(error(str(path), f"has more than {MAX_ROWS} rows; a national table has a few hundred",
                                    "is this the right file?"))
    return header, rows


def _read_xlsx(path: Path, raw: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise PayoutError(error(str(path), "cannot be opened as an Excel workbook (.xlsx is a zip file; this is not)",
                                "save it from Excel as .xlsx, or export CSV")) from None
    if unpacked > MAX_XLSX_UNPACKED:
        raise PayoutError(error(str(path), f"unpacks to {unpacked:,} bytes; a national table is far smaller".replace(",", " "),
                                "is this the right file?"))
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:
        raise PayoutError(error(str(path), f"cannot be opened as an Excel workbook: {exc}")) from None
    sheet = book.worksheets[0]
    if sheet.sheet_state != "visible":
        raise PayoutError(error(f"{path} sheet {sheet.title!r}", "the first sheet, the one read, is hidden",
                                "put the table in a visible first sheet, alone"))
    others = [ws.title for ws in book.worksheets[1:] if _has_values(ws)]
    if others:
        raise PayoutError(error(str(path), f"has data in more than one sheet ({sheet.title!r} and "
                                f"{', '.join(repr(t) for t in others)}); the tool will not guess which one to read",
                                "keep only the table, in one sheet, or export it as CSV"))
    sheet.reset_dimensions()  # read the cells that are there, not the range the file claims

    def numbered():
        last = 0
        for position, cells in enumerate(sheet.iter_rows(), start=1):
            number = next((c.row for c in cells if getattr(c, "row", None)), None) or position
            if number <= last:
                raise PayoutError(error(f"{path} row {number}", "appears twice in the workbook (or out of order)",
                                        "the file is damaged: open it in Excel and save it again"))
            last = number
            yield number, [_cell_text(c.value) for c in cells]

    header, rows = _split_header(path, numbered())
    if header is None:
        raise PayoutError(error(str(path), "the first sheet is empty", "put a header row in row 1"))
    return header, rows


def _has_values(ws) -> bool:
    ws.reset_dimensions()
    return any(v is not None and str(v).strip() for row in ws.iter_rows(values_only=True) for v in row)


def _check_header(path: Path, header: list[str], rows: list[tuple[int, list[str]]]):
    """Columns by name, refusing what would make a sheet read differently by different readers."""
    names = [h.replace("\ufeff", "").strip().lower() for h in header]
    for i, name in enumerate(names, 1):
        if _disguised(name):
            raise PayoutError(error(f"{path.name} row 1, column {i}", f"the header {name.encode('unicode_escape').decode()!r} "
                                    "holds invisible or mixed-script characters, so it can look like another column",
                                    "type the column name again in plain letters"))
    seen: dict[str, int] = {}
    for i, name in enumerate(names, 1):
        if name and name in seen:
            raise PayoutError(error(f"{path.name} row 1, columns {seen[name]} and {i}",
                                    f"two columns are named {name!r}",
                                    "keep one; the tool will not guess which one holds the data"))
        seen.setdefault(name, i)
    out: list[tuple[int, dict[str, str]]] = []
    problems: list[Problem] = []
    named = all(names)
    for line, cells in rows:
        cells = [c.strip() for c in cells]
        if named and len(cells) == len(names) and not _CONTROL.search("".join(cells)):
            out.append((line, dict(zip(names, cells))))  # the common row, checked in one step
            continue
        if len(cells) > len(names) and any(cells[len(names):]):
            problems.append(error(f"{path.name} row {line}",
                                  f"has {len(cells)} cells, the header has {len(names)} columns",
                                  "a separator inside a value (a decimal comma in a comma-separated file?) shifts "
                                  "the columns; quote the value or use semicolons"))
            continue
        if len(cells) < len(names):
            problems.append(error(f"{path.name} row {line}",
                                  f"has {len(cells)} cells, the header has {len(names)} columns",
                                  "every row needs a cell for every column"))
            continue
        row = {}
        for i, (name, value) in enumerate(zip(names, cells), 1):
            found = _CONTROL.search(value)
            control = found.group() if found else None
            if control is not None:
                problems.append(error(f"{path.name} row {line}, column {name or i}",
                                      f"contains a control character (U+{ord(control):04X}) in {value!r}",
                                      "remove it: letters and Excel cannot show it"))
                continue
            if not name:
                if value:
                    problems.append(error(f"{path.name} row {line}, column {i}",
                                          f"holds {value!r} but the column has no name in the header",
                                          "name the column or remove the value"))
                continue
            row[name] = value
        out.append((line, row))
    if problems:
        raise PayoutError(capped(problems, path.name))
    return [n for n in names if n], out


def _disguised(name: str) -> bool:
    """Zero-width or combining characters, or Latin mixed with Cyrillic or Greek: a header that looks like another."""
    import unicodedata

    if any(unicodedata.category(c) in ("Cf", "Mn", "Me", "Cc") for c in name):
        return True
    scripts = {unicodedata.name(c, "").split(" ")[0] for c in name if c.isalpha()}
    return "LATIN" in scripts and bool(scripts & {"CYRILLIC", "GREEK"})


def _percent(part: int, whole: int) -> str:
    """For a warning's reader only (never decides anything): 121 of 110 -> '110,0 %', floored, exactly."""
    from fractions import Fraction

    from .fmt import percent

    return percent(Fraction(part, whole), 1, nbsp=False) if whole else "no denominator"


def capped(problems: list[Problem], label: str, limit: int = MAX_PROBLEMS_PER_FILE) -> list[Problem]:
    """The first `limit` problems and one line counting the rest: a wrong file must not flood the screen.

    Warnings are counted apart from errors: a file of accepted values is never turned into an error.
    """
    if len(problems) <= limit:
        return problems
    rest = len(problems) - limit
    if all(p.severity != "error" for p in problems):
        return problems[:limit] + [warning(label, f"... and {rest} more rows like these, each accepted and used as "
                                                  "it stands")]
    return problems[:limit] + [error(label, f"... and {rest} more problems in this file")]


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():  # beyond 2**53 the bounds refuse it
        return str(int(value))
    return str(value).strip()


_GROUP = "[ \u00a0\u202f\u2009']"  # thousands separators: space, no-break spaces, thin space, apostrophe
_WHOLE = re.compile(rf"(\d{{1,3}}(?:{_GROUP}\d{{3}})+|\d+)(?:([,.])(\d+))?", re.ASCII)
_MINUS = re.compile(r"[-\u2212\u2013]\s*\d", re.ASCII)


def parse_whole(text: str) -> int:
    """'1 234', '1234', '1234,00' -> 1234. Anything that could mean two numbers, or a fraction, fails.

    '531,000' is 531 with a Swedish decimal comma and 531000 with an English thousands separator:
    refused (reason 'ambiguous'), never guessed.
    """
    s = text.strip()
    if s.isdigit() and s.isascii():  # the common cell: plain digits
        return int(s)
    if not s:
        raise ValueError("empty")
    if _MINUS.match(s):
        raise ValueError("negative")
    match = _WHOLE.fullmatch(s)
    if match is None:
        if re.fullmatch(r"\d{1,3}(?:([,.])\d{3})(?:\1\d{3})*(?:[,.]\d+)?", s, re.ASCII):
            raise ValueError("thousands")
        if re.fullmatch(rf"[\d{_GROUP[1:-1]}]+(?:[,.]\d+)?", s, re.ASCII) and re.search(r"\d", s, re.ASCII):
            raise ValueError("grouping")
        raise ValueError("not a number")
    whole, decimals = match.group(1), match.group(3)
    value = int(re.sub(r"\D", "", whole, flags=re.ASCII))
    if decimals is None:
        return value
    if len(decimals) == 3 and value * 1000 + int(decimals) != value:  # '0,000' is 0 either way
        raise ValueError(f"ambiguous:{value}:{value * 1000 + int(decimals)}")
    if set(decimals) != {"0"}:
        raise ValueError("fractional")
    return value


def parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(word)


def convert(kind: str, text: str) -> Any:
    if kind in ("count", "amount"):
        return parse_whole(text)
    if kind == "bool":
        return parse_bool(text)
    return text


def _describe_bad(kind: str, text: str, reason: str) -> tuple[str, str | None]:
    if kind == "bool":
        return (f"{text!r} is not a yes/no value", "use ja/nej, yes/no, true/false or 1/0")
    what = "a whole number of kronor" if kind == "amount" else "a whole non-negative count"
    if reason.startswith("ambiguous:"):
        _, small, large = reason.split(":")
        return (f"{text!r} is ambiguous: {small} with a decimal comma, or {large} with a thousands separator",
                f"write {small} or {large} without separators, or with spaces: {fmt_thousands(int(large))}")
    if reason == "thousands":
        digits = re.sub(r"[,.]\d{1,2}$|\D", "", text)
        return (f"{text!r} uses ',' or '.' to group thousands, which a decimal comma makes ambiguous; expected {what}",
                f"write it without separators or with spaces: {fmt_thousands(int(digits))}" if digits else None)
    if reason == "grouping":
        return (f"{text!r}: the spaces do not group thousands (groups of three digits); expected {what}",
                "check the number: 1 234 567, or 1234567")
    if reason == "negative":
        return (f"{text!r} is negative; expected {what}", None)
    if reason == "fractional":
        return (f"{text!r} has decimals; expected {what}", None)
    if reason == "empty":
        return (f"the cell is empty; expected {what}", None)
    return (f"{text!r} is not a number; expected {what}", "spaces as thousands separators are fine: 1 234 567")


def fmt_thousands(value: int) -> str:
    return f"{value:,}".replace(",", " ")


# --- authorities and counties --------------------------------------------------------------------


def _require_columns(path: Path, header: tuple[str, ...], needed: list[str], problems: list[Problem]) -> bool:
    missing = [c for c in needed if c not in header]
    if missing:
        problems.append(error(
            f"{path.name} row 1", f"missing column(s) {', '.join(missing)}; the header has {', '.join(header)}",
            f"expected columns: {', '.join(needed)}",
        ))
    return not missing


def _code_hint(code: str, known: set[str]) -> str | None:
    if code.isdigit():
        for width in (4, 2):
            if code.zfill(width) in known and code.zfill(width) != code:
                return f"did Excel drop a leading zero? {code.zfill(width)!r} is a known code; store codes as text"
    return None


def load_authorities(folder: Path, problems: list[Problem], digests: dict[Path, str] | None = None
                     ) -> tuple[list[Recipient], dict[str, str], list[Path]]:
    cpath, apath = resolve(folder, "counties.csv"), resolve(folder, "authorities.csv")
    counties: dict[str, str] = {}
    header, rows = read_rows(cpath, digests)
    if _require_columns(cpath, header, COUNTY_COLUMNS, problems):
        for line, row in rows:
            code = row["county_code"]
            if not re.fullmatch(r"[0-9]{2}", code):
                problems.append(error(f"{cpath.name} row {line}, column county_code",
                                      f"{code!r} is not a two-digit county code", _code_hint(code, {f"{i:02d}" for i in range(1, 26)})))
            elif code in counties:
                problems.append(error(f"{cpath.name} row {line}, column county_code", f"county {code} appears twice"))
            elif not row["name"]:
                problems.append(error(f"{cpath.name} row {line}, column name", f"county {code} has no name",
                                      "letters are addressed by name"))
            else:
                counties[code] = row["name"]
    recipients: list[Recipient] = []
    seen: dict[str, int] = {}
    header, rows = read_rows(apath, digests)
    if _require_columns(apath, header, AUTHORITY_COLUMNS, problems):
        for line, row in rows:
            where = f"{apath.name} row {line}"
            code, rtype, county = row["code"], row["type"].lower(), row["county_code"]
            if rtype not in AUTHORITY_TYPES:
                problems.append(error(f"{where}, column type", f"unknown type {row['type']!r}",
                                      "use kommun, landsting or regiondel"))
                continue
            if county not in counties:
                problems.append(error(f"{where}, column county_code", f"{county!r} is not a county in counties.csv",
                                      _code_hint(county, set(counties))))
                continue
            if rtype == "kommun" and not (re.fullmatch(r"[0-9]{4}", code) and code.startswith(county)):
                hint = f"did Excel drop a leading zero? expected {code.zfill(4)!r}" if code.isdigit() and len(code) < 4 else None
                problems.append(error(f"{where}, column code",
                                      f"{code!r} is not a four-digit kommun code in county {county}", hint))
                continue
            if rtype == "regiondel" and not re.fullmatch(r"[0-9]{2}[0-9A-Za-z-]{1,10}", code):
                problems.append(error(f"{where}, column code", f"{code!r} is not a regiondel code",
                                      "two county digits, then up to ten digits, letters or '-' (e.g. 01-2)"))
                continue
            if rtype == "landsting" and code != county:
                problems.append(error(f"{where}, column code", f"a landsting's code must be its county code {county!r}, got {code!r}"))
                continue
            if code in seen:
                problems.append(error(f"{where}, column code", f"code {code} appears twice (first on row {seen[code]})"))
                continue
            if not row["name"]:
                problems.append(error(f"{where}, column name", f"{rtype} {code} has no name", "letters are addressed by name"))
                continue
            seen[code] = line
            parent = row.get("parent_code") or None
            recipients.append(Recipient(rtype, code, row["name"], county, parent))
    landsting = {r.code for r in recipients if r.type == "landsting"}
    for r in recipients:
        if r.type == "regiondel" and r.parent_code is not None and r.parent_code not in landsting:
            problems.append(error(f"{apath.name} row {seen[r.code]}, column parent_code",
                                  f"regiondel {r.code}: parent {r.parent_code!r} is not a landsting in the file"))
    recipients += [Recipient("lan", code, name, code) for code, name in counties.items()]
    return sorted(recipients, key=lambda r: (r.type, r.code)), counties, [cpath, apath]


# --- rule-declared tables ------------------------------------------------------------------------


def load_table(folder: Path, name: str, spec: Table, recipients: list[Recipient], problems: list[Problem],
               digests: dict[Path, str] | None = None) -> TableData:
    path = resolve(folder, spec.file)
    data = TableData(name, spec, path)
    header, rows = read_rows(path, digests)
    if not _require_columns(path, header, [spec.id, *spec.columns], problems):
        return data
    by_code = {r.code: r for r in recipients if r.type != "lan"}
    counties = {r.code for r in recipients if r.type == "lan"}
    file_name = path.name
    for line, row in rows:
        code = row[spec.id]
        where = f"{file_name} row {line}"
        if spec.id == "county_code":
            if code not in counties:
                problems.append(error(f"{where}, column {spec.id}", f"unknown county code {code!r}", _code_hint(code, counties)))
                continue
            key = ("lan", code)
        else:
            recipient = by_code.get(code)
            if recipient is None:
                problems.append(error(f"{where}, column {spec.id}", f"unknown authority code {code!r}",
                                      _code_hint(code, set(by_code)) or "every code must be in authorities.csv"))
                continue
            if recipient.type not in spec.covers and recipient.type not in spec.derive:
                problems.append(error(f"{where}, column {spec.id}",
                                      f"{code} is a {recipient.type}; this file covers {', '.join(spec.covers)}"))
                continue
            key = recipient.key
        if key in data.values:
            problems.append(error(f"{where}, column {spec.id}", f"{code} appears twice (first on row {data.lines[key]})",
                                  "keep one row per code"))
            continue
        values: dict[str, Any] = {}
        row_ok = True
        for column, col in spec.columns.items():
            try:
                values[column] = convert(col.type, row[column])
            except ValueError as exc:
                message, hint = _describe_bad(col.type, row[column], str(exc))
                if not row[column] and path.suffix.lower() == ".xlsx":
                    hint = "a formula that was never calculated reads as empty: open the file in Excel and save it"
                problems.append(error(f"{where}, column {column}", message, hint))
                row_ok = False
                continue
            bad = out_of_bounds(name, column, col, values[column])
            if bad:
                problems.append(error(f"{where}, column {column}", *bad))
                row_ok = False
        if not row_ok:
            continue
        for a, b in spec.not_greater_than:
            if values[a] > values[b]:
                problems.append(error(f"{where}, column {a}", f"{a} = {values[a]} is greater than {b} = {values[b]}",
                                      f"{a} cannot exceed {b}"))
        for a, b in spec.warn_greater_than:
            if values[a] > values[b]:
                problems.append(warning(f"{where}, column {a}",
                                        f"{code}: {a} = {values[a]} is greater than {b} = {values[b]} "
                                        f"({_percent(values[a], values[b])}); accepted as real data and used as it stands",
                                        f"data.{name}.warn_greater_than in the rule file says why this can be real"))
        data.values[key], data.lines[key] = values, line
    _derive(data, recipients, problems)
    _require_coverage(data, recipients, problems)
    return data


def out_of_bounds(table: str, column: str, col, value: Any) -> tuple[str, str] | None:
    """A value outside the plausibility bounds the rule file declares for its column."""
    if col.type not in ("count", "amount"):
        return None
    declared = f"data.{table}.columns.{column}"
    if col.max is not None and value > col.max:
        return (f"{fmt_thousands(value)} is implausible: more than {fmt_thousands(col.max)}, the most the rule file "
                f"allows ({declared}.max)", "check the cell; if the value is real, raise the bound in the rule file")
    if col.min is not None and value < col.min:
        return (f"{fmt_thousands(value)} is implausible: less than {fmt_thousands(col.min)}, the least the rule file "
                f"allows ({declared}.min)", "check the cell; if the value is real, lower the bound in the rule file")
    return None


def _derive(data: TableData, recipients: list[Recipient], problems: list[Problem]) -> None:
    """Landsting and län rows as the sum of the county's kommuner; a differing given row is an error."""
    numeric = [c for c, col in data.spec.columns.items() if col.type in ("count", "amount")]
    kommuner: dict[str, list[Recipient]] = {}
    for r in recipients:
        if r.type == "kommun":
            kommuner.setdefault(r.county_code, []).append(r)
    for rtype in data.spec.derive:
        for target in (r for r in recipients if r.type == rtype):
            members = kommuner.get(target.county_code, [])
            if not all(m.key in data.values for m in members):
                continue  # missing kommuner are reported by _require_coverage
            sums = {c: sum(data.values[m.key][c] for m in members) for c in numeric}
            given = data.values.get(target.key)
            if given is None:
                for column in numeric:
                    bad = out_of_bounds(data.name, column, data.spec.columns[column], sums[column])
                    if bad:
                        problems.append(error(f"{data.path.name}: {target.type} {target.code} (sum of the county's "
                                              f"kommuner), column {column}", *bad))
                data.values[target.key] = sums
                continue
            for column in numeric:
                if given[column] != sums[column]:
                    problems.append(error(
                        f"{data.path.name} row {data.lines[target.key]}, column {column}",
                        f"{target.type} {target.code} {target.name}: {given[column]} differs from the sum of the county's "
                        f"kommuner, {sums[column]}",
                        "correct the row or leave it out to have it derived",
                    ))


def _require_coverage(data: TableData, recipients: list[Recipient], problems: list[Problem]) -> None:
    if data.spec.id == "county_code":
        expected = [r for r in recipients if r.type == "lan"]
    else:
        expected = [r for r in recipients if r.type in data.spec.covers and r.type != "lan"]
    missing = [r for r in expected if r.key not in data.values]
    for r in missing[:20]:
        problems.append(error(data.path.name, f"no row for {r.type} {r.code} {r.name}",
                              f"every {r.type} must have a row in {data.path.name}"))
    if len(missing) > 20:
        problems.append(error(data.path.name, f"... and {len(missing) - 20} more missing rows"))


def load_dataset(folder: Path, rules: Rules) -> Dataset:
    """Read and check every file the rules name; raise one error listing every problem.

    A data set read before, by the same rules, from a folder whose every file still has the same bytes
    (SHA-256) is not read again (a command that computes twice, or many commands in one process)."""
    key = _dataset_key(Path(folder), rules)
    found = _DATASETS.get(key) if key is not None else None
    if found is not None:
        return found
    data = _load_dataset(folder, rules)
    return _DATASETS.put(key, data) if key is not None else data


_DATASETS: Recent[Dataset] = Recent(8)


def _dataset_key(folder: Path, rules: Rules) -> tuple | None:
    """The folder's every file by name and content, with the files the rules name in a subfolder, and
    the rules by content: None if it cannot be told."""
    if rules.sha256 is None or not folder.is_dir():
        return None
    try:
        inside = folder.resolve()
        named = {folder / spec.file for spec in rules.data.values()}
        named |= {p.with_suffix(".xlsx") for p in named if p.suffix.lower() == ".csv"}  # the Excel twin
        deeper = {p for p in named if p.parent != folder and inside in p.resolve().parents}  # else refused anyway
        entries = []
        for path in sorted(set(folder.iterdir()) | deeper):
            if path.is_file():
                if path.stat().st_size > MAX_FILE_BYTES:
                    return None
                entries.append((str(path.relative_to(folder)), hashlib.sha256(path.read_bytes()).hexdigest()))
    except (OSError, ValueError, RuntimeError):  # RuntimeError: a symbolic link loop
        return None
    return str(folder.resolve()), rules.sha256, tuple(str(o) for o in rules.overrides), tuple(entries)


def _load_dataset(folder: Path, rules: Rules) -> Dataset:
    folder = Path(folder)
    if not folder.is_dir():
        raise PayoutError(error(str(folder), "is a file, not a data folder" if folder.exists() else "data folder not found",
                                "give the folder that holds authorities.csv, counties.csv and the year's files"))
    problems: list[Problem] = []
    found: list[Problem] = []
    digests: dict[Path, str] = {}
    recipients, counties, files = load_authorities(folder, found, digests)
    problems += capped(found, "authorities.csv / counties.csv")
    tables: dict[str, TableData] = {}
    notices: list[Problem] = []  # warnings on values accepted as real data; every one is kept
    for name, spec in rules.data.items():
        found: list[Problem] = []
        try:
            tables[name] = load_table(folder, name, spec, recipients, found, digests)
            files.append(tables[name].path)
        except PayoutError as exc:
            found += exc.problems
        problems += capped([p for p in found if p.severity == "error"], spec.file)
        notices += capped([p for p in found if p.severity != "error"], spec.file)
    found = []
    try:
        payees = load_payees(folder, recipients, found, digests)
    except PayoutError as exc:
        found, payees = exc.problems, None
    problems += capped(found, PAYEES_FILE)
    if payees is not None:
        files.append(payees[1])
    marker = folder / SYNTHETIC_MARK
    if marker.is_file():
        digests[marker] = sha256(marker)
        files.append(marker)
    if any(p.severity == "error" for p in problems):
        raise PayoutError(problems + notices)
    return Dataset(folder, recipients, counties, tables, files, digests, notices,
                   payees[0] if payees else None, marker.is_file())


SYNTHETIC_MARK = "SYNTHETIC.txt"  # in a data folder: the register figures are made up, say so on every page


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
