"""Payees: the legal organisation that receives each recipient's money, its organisation number
and its account, from `payees.csv` in the data folder.

A letter is addressed to the payee by its legal name ("Norrköpings kommun", "Region Gotland"), and
county-joint money (type `lan`) to the organisation the county designated. Every organisation
number and giro number is checked by its check digit, because a mistyped digit sends public money
to someone else.
"""

from __future__ import annotations

import re
from functools import lru_cache
from dataclasses import dataclass
from pathlib import Path

from .errors import PayoutError, Problem, error, warning

FILE = "payees.csv"
COLUMNS = ["type", "code", "payee", "organisation_number", "account_type", "account"]
TYPES = ("kommun", "landsting", "regiondel", "lan")
ACCOUNT_DIGITS = {"bankgiro": (7, 8), "plusgiro": (2, 8)}  # both end in a Luhn (mod 10) check digit


@dataclass(frozen=True)
class Payee:
    name: str
    organisation_number: str  # NNNNNN-NNNN
    account_type: str  # bankgiro | plusgiro
    account: str  # as banks print it: NNN-NNNN / NNNN-NNNN (bankgiro), NNNNNNN-N (plusgiro)

    @property
    def account_text(self) -> str:
        return f"{'Bankgiro' if self.account_type == 'bankgiro' else 'Plusgiro'} {self.account}"


def _luhn_ok(digits: str) -> bool:
    from stdnum import luhn

    return luhn.is_valid(digits)


def giro_text(kind: str, digits: str) -> str:
    if kind == "bankgiro":
        return f"{digits[:-4]}-{digits[-4:]}"
    return f"{digits[:-1]}-{digits[-1]}"


_NOT_XML_TEXT = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text_ok(text: str) -> bool:
    """Text a payment file (XML 1.0) can carry: no control characters (C0 but tab and line ends, DEL,
    C1), no surrogates, no noncharacters such as U+FFFE."""
    return _NOT_XML_TEXT.search(text) is None


@lru_cache(maxsize=4096)  # pure: the same number checked once per process, not once per load
def parse_account(kind: str, text: str) -> tuple[str | None, str | None]:
    """(formatted account, None) or (None, why not)."""
    if kind not in ACCOUNT_DIGITS:
        return None, f"account_type {kind!r} is not bankgiro or plusgiro"
    digits = re.sub(r"[\s\u00a0-]", "", text)
    low, high = ACCOUNT_DIGITS[kind]
    if not digits.isdigit() or not low <= len(digits) <= high:
        return None, f"{text!r} is not a {kind} number ({low}–{high} digits)"
    if not _luhn_ok(digits):
        return None, f"{kind} {text} has a wrong check digit (a digit is mistyped or two are swapped)"
    return giro_text(kind, digits), None


@lru_cache(maxsize=4096)
def parse_organisation_number(text: str) -> tuple[str | None, str | None]:
    from stdnum.exceptions import ValidationError
    from stdnum.se import orgnr

    try:
        return orgnr.format(orgnr.validate(text)), None
    except ValidationError as exc:
        reason = "has a wrong check digit (a digit is mistyped or two are swapped)" \
            if type(exc).__name__ == "InvalidChecksum" else "is not ten digits (NNNNNN-NNNN)"
        return None, f"organisation number {text!r} {reason}"


def load(folder: Path, recipients, problems: list[Problem], digests: dict | None = None, path: Path | None = None
         ) -> tuple[dict[tuple[str, str], Payee], Path] | None:
    """The payees in the data folder, keyed by (type, code); None when the folder has none."""
    from .data import _code_hint, _require_columns, read_rows, resolve

    path = path or resolve(folder, FILE)
    if not path.exists():
        return None
    header, rows = read_rows(path, digests)
    payees: dict[tuple[str, str], Payee] = {}
    if not _require_columns(path, header, COLUMNS, problems):
        return payees, path
    known = None if recipients is None else {(r.type, r.code) for r in recipients}  # None: checked by the run
    first: dict[tuple[str, str], int] = {}
    for line, row in rows:
        where = f"{path.name} row {line}"
        rtype, code = row["type"].lower(), row["code"]
        if rtype not in TYPES:
            problems.append(error(f"{where}, column type", f"unknown type {row['type']!r}",
                                  "use kommun, landsting, regiondel or lan (county-joint money)"))
            continue
        if known is not None and (rtype, code) not in known:
            problems.append(error(f"{where}, column code", f"no {rtype} with code {code!r} in authorities.csv/counties.csv",
                                  _code_hint(code, {c for t, c in known if t == rtype})))
            continue
        if (rtype, code) in first:
            problems.append(error(f"{where}, column code", f"{rtype} {code} has a payee already (row {first[rtype, code]})",
                                  "one payee per recipient: the tool will not choose"))
            continue
        first[rtype, code] = line
        bad = False
        if not row["payee"]:
            problems.append(error(f"{where}, column payee", f"{rtype} {code} has no payee",
                                  "the legal name of the organisation that receives the money"))
            bad = True
        elif not xml_text_ok(row["payee"]):
            problems.append(error(f"{where}, column payee", f"{row['payee']!r} holds a character no letter or "
                                  "payment file can carry", "retype the name"))
            bad = True
        number, why = parse_organisation_number(row["organisation_number"])
        if why:
            problems.append(error(f"{where}, column organisation_number", why))
            bad = True
        account, why = parse_account(row["account_type"].lower(), row["account"])
        if why:
            problems.append(error(f"{where}, column {'account_type' if 'account_type' in why else 'account'}", why))
            bad = True
        if not bad:
            payees[rtype, code] = Payee(row["payee"], number, row["account_type"].lower(), account)
    return payees, path


def missing(payees: dict | None, recipients) -> list:
    return [r for r in recipients if payees is None or (r.type, r.code) not in payees]


def missing_problem(path_text: str, absent: list, doing: str) -> Problem:
    names = ", ".join(f"{r.type} {r.code} {r.name}" for r in absent[:5])
    more = f" and {len(absent) - 5} more" if len(absent) > 5 else ""
    return error(path_text, f"no payee for {len(absent)} recipient(s) {doing}: {names}{more}",
                 "add a row per recipient (type, code, payee, organisation_number, account_type, account); "
                 "the sample data's payees.csv shows the columns")


def missing_warning(path_text: str, absent: list) -> Problem:
    problem = missing_problem(path_text, absent, "paid in this run")
    return warning(problem.where, problem.message + ": letters will refuse until they have one", None)


def of_run(manifest: dict, run_json: Path) -> dict | None:
    """The payees a recorded run read (run.json keeps them, so the data folder may be gone since)."""
    rows = manifest.get("payees")
    if rows is None:
        return None
    try:
        return {(r["recipient_type"], r["code"]): Payee(r["payee"], r["organisation_number"], r["account_type"],
                                                       r["account"]) for r in rows}
    except (TypeError, KeyError):
        raise PayoutError(error(str(run_json), "its payees cannot be read", "run `skl-payout run` again")) from None
