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

from .errors import PayoutError, Problem, error
from .rules import Rules, Table

TRUE_WORDS = {"true", "yes", "ja", "1", "sant", "j", "y"}
FALSE_WORDS = {"false", "no", "nej", "0", "falskt", "n"}
AUTHORITY_COLUMNS = ["code", "name", "type", "county_code"]
COUNTY_COLUMNS = ["county_code", "name"]
AUTHORITY_TYPES = ("kommun", "landsting", "regiondel")
_SPACES = re.compile(r"[\s\u00a0\u202f']")


@dataclass(frozen=True, order=True)
class Recipient:
    type: str
    code: str
    name: str
    county_code: str
    parent_code: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.type, self.code)


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


def decode(raw: bytes, name: str) -> str:
    """Swedish exports come as UTF-8 (often with BOM) or Windows-1252."""
    if not raw.strip():
        raise PayoutError(error(name, "the file is empty", "export it again with a header row"))
    if b"\x00" in raw[:4096]:
        raise PayoutError(error(name, "is not a text file (it contains binary data)",
                                "export the sheet as CSV (semicolon or comma separated) or save it as .xlsx"))
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def sniff_separator(header: str) -> str:
    counts = {sep: header.count(sep) for sep in (";", ",", "\t")}
    return max(counts, key=lambda s: (counts[s], s == ";"))


def resolve(folder: Path, file: str) -> Path:
    """The file the rules name, or its .xlsx twin; confined to the data folder."""
    folder = folder.resolve()
    path = (folder / file).resolve()
    if folder not in path.parents:
        raise PayoutError(error(file, f"path leaves the data folder {folder}"))
    if not path.exists():
        twin = path.with_suffix(".xlsx")
        if path.suffix.lower() == ".csv" and twin.exists():
            return twin
    return path


def read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and (line number, row) pairs, every cell as stripped text."""
    if not path.exists():
        raise PayoutError(error(str(path), "file not found", "every file the rule file names must be in the data folder"))
    if path.suffix.lower() == ".xlsx":
        return _read_xlsx(path)
    import pandas as pd

    text = decode(path.read_bytes(), str(path))
    lines = text.splitlines()
    header_line = next((ln for ln in lines if ln.strip()), "")
    sep = sniff_separator(header_line)
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=False,
            skipinitialspace=True, engine="python",
        )
    except Exception as exc:  # pandas' parser errors carry the line in their text
        raise PayoutError(error(str(path), f"cannot be read as {sep!r}-separated text: {exc}")) from None
    header = [str(c).strip().lower() for c in frame.columns]
    rows = []
    for index, values in enumerate(frame.itertuples(index=False, name=None)):
        cells = {h: str(v).strip() for h, v in zip(header, values)}
        if any(cells.values()):
            rows.append((index + 2, cells))
    return header, rows


def _read_xlsx(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    from openpyxl import load_workbook

    try:
        sheet = load_workbook(path, read_only=True, data_only=True).worksheets[0]
    except Exception as exc:
        raise PayoutError(error(str(path), f"cannot be opened as an Excel workbook: {exc}")) from None
    rows_iter = sheet.iter_rows(values_only=True)
    header = [_cell_text(c).lower() for c in next(rows_iter, [])]
    if not any(header):
        raise PayoutError(error(str(path), "the first sheet is empty", "put a header row in row 1"))
    rows = []
    for number, values in enumerate(rows_iter, start=2):
        cells = {h: _cell_text(v) for h, v in zip(header, values)}
        if any(cells.values()):
            rows.append((number, cells))
    return header, rows


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse_whole(text: str) -> int:
    """'1 234', '1234', '1234,00' -> 1234; anything fractional, negative or non-numeric fails."""
    cleaned = _SPACES.sub("", text)
    if re.fullmatch(r"\d+", cleaned):
        return int(cleaned)
    match = re.fullmatch(r"(\d+)[,.](0+)", cleaned)
    if match:
        return int(match.group(1))
    if re.fullmatch(r"-\d+([,.]\d+)?", cleaned):
        raise ValueError("negative")
    if re.fullmatch(r"\d+[,.]\d+", cleaned):
        raise ValueError("fractional")
    raise ValueError("not a number")


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
    if reason == "negative":
        return (f"{text!r} is negative; expected {what}", None)
    if reason == "fractional":
        return (f"{text!r} has decimals; expected {what}", None)
    if not text:
        return (f"the cell is empty; expected {what}", None)
    return (f"{text!r} is not a number; expected {what}", "spaces as thousands separators are fine: 1 234 567")


# --- authorities and counties --------------------------------------------------------------------


def _require_columns(path: Path, header: list[str], needed: list[str], problems: list[Problem]) -> bool:
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


def load_authorities(folder: Path, problems: list[Problem]) -> tuple[list[Recipient], dict[str, str], list[Path]]:
    cpath, apath = resolve(folder, "counties.csv"), resolve(folder, "authorities.csv")
    counties: dict[str, str] = {}
    header, rows = read_rows(cpath)
    if _require_columns(cpath, header, COUNTY_COLUMNS, problems):
        for line, row in rows:
            code = row["county_code"]
            if not re.fullmatch(r"\d{2}", code):
                problems.append(error(f"{cpath.name} row {line}, column county_code",
                                      f"{code!r} is not a two-digit county code", _code_hint(code, {f"{i:02d}" for i in range(1, 26)})))
            elif code in counties:
                problems.append(error(f"{cpath.name} row {line}, column county_code", f"county {code} appears twice"))
            else:
                counties[code] = row["name"]
    recipients: list[Recipient] = []
    seen: dict[str, int] = {}
    header, rows = read_rows(apath)
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
            if rtype == "kommun" and not (re.fullmatch(r"\d{4}", code) and code.startswith(county)):
                hint = f"did Excel drop a leading zero? expected {code.zfill(4)!r}" if code.isdigit() and len(code) < 4 else None
                problems.append(error(f"{where}, column code",
                                      f"{code!r} is not a four-digit kommun code in county {county}", hint))
                continue
            if rtype == "landsting" and code != county:
                problems.append(error(f"{where}, column code", f"a landsting's code must be its county code {county!r}, got {code!r}"))
                continue
            if code in seen:
                problems.append(error(f"{where}, column code", f"code {code} appears twice (first on row {seen[code]})"))
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


def load_table(folder: Path, name: str, spec: Table, recipients: list[Recipient], problems: list[Problem]) -> TableData:
    path = resolve(folder, spec.file)
    data = TableData(name, spec, path)
    header, rows = read_rows(path)
    if not _require_columns(path, header, [spec.id, *spec.columns], problems):
        return data
    by_code = {r.code: r for r in recipients if r.type != "lan"}
    counties = {r.code for r in recipients if r.type == "lan"}
    for line, row in rows:
        code = row[spec.id]
        where = f"{path.name} row {line}"
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
        for column, kind in spec.columns.items():
            try:
                values[column] = convert(kind, row[column])
            except ValueError as exc:
                message, hint = _describe_bad(kind, row[column], str(exc))
                problems.append(error(f"{where}, column {column}", message, hint))
        if len(values) != len(spec.columns):
            continue
        for a, b in spec.not_greater_than:
            if values[a] > values[b]:
                problems.append(error(f"{where}, column {a}", f"{a} = {values[a]} is greater than {b} = {values[b]}",
                                      f"{a} cannot exceed {b}"))
        data.values[key], data.lines[key] = values, line
    _derive(data, recipients, problems)
    _require_coverage(data, recipients, problems)
    return data


def _derive(data: TableData, recipients: list[Recipient], problems: list[Problem]) -> None:
    """Landsting and län rows as the sum of the county's kommuner; a differing given row is an error."""
    numeric = [c for c, kind in data.spec.columns.items() if kind in ("count", "amount")]
    for rtype in data.spec.derive:
        for target in (r for r in recipients if r.type == rtype):
            members = [r for r in recipients if r.type == "kommun" and r.county_code == target.county_code]
            if not all(m.key in data.values for m in members):
                continue  # missing kommuner are reported by _require_coverage
            sums = {c: sum(data.values[m.key][c] for m in members) for c in numeric}
            given = data.values.get(target.key)
            if given is None:
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
    """Read and check every file the rules name; raise one error listing every problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PayoutError(error(str(folder), "data folder not found"))
    problems: list[Problem] = []
    recipients, counties, files = load_authorities(folder, problems)
    tables: dict[str, TableData] = {}
    for name, spec in rules.data.items():
        try:
            tables[name] = load_table(folder, name, spec, recipients, problems)
            files.append(tables[name].path)
        except PayoutError as exc:
            problems += exc.problems
    if any(p.severity == "error" for p in problems):
        raise PayoutError(problems)
    return Dataset(folder, recipients, counties, tables, files)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
