"""The last mile: attest a run, then issue its payment file (ISO 20022 pain.001), once.

A run folder gains `attest.json` (who attested, in which role, when, and the SHA-256 of what they
saw) and `payments/` (each issued pain.001 file, a CSV of it for people, and `ledger.json`, the record
of every file issued). A run that is attested or paid is never replaced by `run`; a correction is a
new run folder, paid with `payments NEW --paid OLD` (only the differences). No float anywhere: amounts
are integer kronor, written as kronor and öre from integers.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from datetime import date, datetime, timezone
from pathlib import Path

from .errors import PayoutError, Problem, error

ATTEST_FILE = "attest.json"
PAYMENTS_DIR = "payments"
LEDGER_FILE = "ledger.json"
ROLES = {"beslut": "beslutsattest", "behorighet": "behörighetsattest"}
ATTESTED_FILES = ("trace.json", "totals.csv", "payouts.csv", "run.json")
VERSIONS = ("pain.001.001.09", "pain.001.001.03")
BANKGIROT, PLUSGIROT = "9900", "9500"  # Swedish clearing numbers of the two giro systems


def _now() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime.now(timezone.utc)
    return when.replace(microsecond=0).isoformat()


def _sha(path: Path) -> str:
    from .data import sha256

    return sha256(path)


def _manifest(out: Path) -> dict:
    from .safefs import read_manifest

    manifest = read_manifest(out / "run.json")
    if manifest is None:
        raise PayoutError(error(str(out / "run.json"), "is missing or was changed after the run wrote it",
                                "attest and pay only a run skl-payout wrote and nobody changed"))
    return manifest


def _check_outputs(out: Path, manifest: dict) -> None:
    """Every output still has the SHA-256 run.json recorded: an edited totals.csv is never attested or paid."""
    changed = [name for name, digest in sorted((manifest.get("outputs") or {}).items())
               if not (out / name).is_file() or _sha(out / name) != digest]
    if changed:
        raise PayoutError(error(str(out), f"{', '.join(changed)} changed after the run (SHA-256 differs from "
                                "run.json)", "run `skl-payout verify`, and run again if the outputs are wrong"))


# --- attest --------------------------------------------------------------------------------------

def _trusted(path: Path, key: str, what: str, hint: str) -> list[dict]:
    """A list from a file skl-payout wrote with its own hash (attests, ledger, register); [] if there is
    none; a refusal if anyone changed it, since what it records can then no longer be trusted."""
    from .safefs import _manifest_of_ours

    if not path.exists():
        return []
    data, intact = _manifest_of_ours(path)
    if data is None or not intact or not isinstance(data.get(key), list):
        raise PayoutError(error(str(path), f"was changed after skl-payout wrote it: {what}", hint))
    return data[key]


def read_attests(out: Path) -> list[dict]:
    return _trusted(Path(out) / ATTEST_FILE, "attests", "the attests cannot be trusted",
                    "run again into a new folder and attest that")


def voided(out: Path, attest: dict) -> list[str]:
    """The attested files that changed since the attest (empty: the attest stands)."""
    return [name for name, digest in sorted(attest["sha256"].items())
            if not (Path(out) / name).is_file() or _sha(Path(out) / name) != digest]


def attest_problems(out: Path, attests: list[dict]) -> list[Problem]:
    """Why the attests do not (or no longer) allow payment: each voided attest, and what is missing."""
    problems, valid = [], []
    for a in attests:
        changed = voided(out, a)
        if changed:
            problems.append(error(str(out), f"{', '.join(changed)} changed after the {ROLES[a['role']]} by {a['by']} "
                                  f"({a['at']}): that attest is void", "run again into a new folder and attest that"))
        else:
            valid.append(a)
    roles = {a["role"] for a in valid}
    for role in ROLES:
        if role not in roles:
            problems.append(error(str(out / ATTEST_FILE), f"no valid {ROLES[role]} (--role {role})",
                                  f"skl-payout attest {out} --by NAME --role {role}"))
    if roles == set(ROLES) and len({_person(a["by"]) for a in valid}) < 2:
        problems.append(error(str(out / ATTEST_FILE), "both attests are by the same person; two people must attest"))
    return problems


def _person(name: str) -> str:
    """Who a name stands for: its letters, case-folded (\"anna  EXEMPELSSON.\" is Anna Exempelsson)."""
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKC", name).casefold() if c.isalpha())


def clean_name(by: str) -> str:
    """An attester's name as recorded: Latin letters (åäö, é, ü ...), spaces, hyphens, apostrophes and
    periods, at least two letters. Look-alike letters of other scripts, invisible characters and markup
    are refused: two attests must be by two people, and a look-alike name would pass for a second one."""
    import unicodedata

    text = " ".join(unicodedata.normalize("NFKC", by).split())
    odd = [c for c in text if not (c in " -'.’" or (c.isalpha() and unicodedata.name(c, "").startswith("LATIN")))]
    if odd or sum(c.isalpha() for c in text) < 2:
        shown = ", ".join(f"U+{ord(c):04X}" for c in dict.fromkeys(odd)) if odd else "too few letters"
        raise PayoutError(error("--by", f"{by!r} is not a person's name ({shown})",
                                "write the full name in Latin letters, e.g. --by \"Anna Exempelsson\""))
    return text


def attest(out: Path, by: str, role: str) -> dict:
    """Record an attest of the run in OUT: who, in which role, when, and the SHA-256 of what was attested."""
    from .safefs import locked, manifest_text

    out = Path(out)
    if role not in ROLES:
        raise PayoutError(error("--role", f"unknown role {role!r}", "beslut (decision) or behorighet (authority)"))
    by = clean_name(by)
    with locked(out.resolve().parent):
        manifest = _manifest(out)
        if (manifest.get("options") or {}).get("overrides"):
            raise PayoutError(error(str(out), "holds a what-if scenario, not a decision: it cannot be attested"))
        _check_outputs(out, manifest)
        attests = read_attests(out)
        for a in attests:
            if a["role"] == role and _person(a["by"]) == _person(by):
                raise PayoutError(error(str(out / ATTEST_FILE), f"{by} has already given the {ROLES[role]}"))
            if a["role"] != role and _person(a["by"]) == _person(by):
                raise PayoutError(error(str(out / ATTEST_FILE), f"{by} has given the {ROLES[a['role']]}; the "
                                        f"{ROLES[role]} must be given by someone else"))
        record = {"by": by, "role": role, "at": _now(), "user": _login(),
                  "sha256": {name: _sha(out / name) for name in ATTESTED_FILES if (out / name).is_file()}}
        attests.append(record)
        text = manifest_text({"tool": "skl-payout", "year": manifest.get("year"), "attests": attests})
        tmp = out / f".{ATTEST_FILE}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / ATTEST_FILE)
    return record


def _login() -> str | None:
    """The operating-system account that ran the command, recorded beside the name given."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


# --- the payment file ----------------------------------------------------------------------------

def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def ore(kronor: int) -> str:
    """Whole kronor as the decimal amount pain.001 wants, from the integer: 1234 -> '1234.00'."""
    if not isinstance(kronor, int) or isinstance(kronor, bool) or kronor < 0:
        raise ValueError(f"not a whole, non-negative number of kronor: {kronor!r}")
    return f"{kronor}.00"


def _account(parent, kind: str, number: str, version: str):
    from lxml import etree

    ident = etree.SubElement(etree.SubElement(parent, "Id"), "Othr")
    etree.SubElement(ident, "Id").text = _digits(number)
    scheme = etree.SubElement(ident, "SchmeNm")
    if kind == "bankgiro":
        etree.SubElement(scheme, "Prtry").text = "BGNR"
    else:
        etree.SubElement(scheme, "Cd").text = "BBAN"


def _agent(parent, kind: str):
    from lxml import etree

    member = etree.SubElement(etree.SubElement(parent, "FinInstnId"), "ClrSysMmbId")
    etree.SubElement(etree.SubElement(member, "ClrSysId"), "Cd").text = "SESBA"
    etree.SubElement(member, "MmbId").text = BANKGIROT if kind == "bankgiro" else PLUSGIROT


def _party(parent, tag: str, name: str, organisation_number: str | None, max_name: int):
    from lxml import etree

    party = etree.SubElement(parent, tag)
    etree.SubElement(party, "Nm").text = name[:max_name]
    if organisation_number:
        other = etree.SubElement(etree.SubElement(etree.SubElement(party, "Id"), "OrgId"), "Othr")
        etree.SubElement(other, "Id").text = _digits(organisation_number)
    return party


def build_pain001(version: str, message_id: str, created: str, execution: date, sender, transactions: list[dict]
                  ) -> bytes:
    """A pain.001 credit-transfer initiation in SEK: one payment information block, one transaction per
    recipient. `transactions`: end_to_end_id, amount_sek (int), name, organisation_number, account_type,
    account, remittance."""
    from lxml import etree

    ns = f"urn:iso:std:iso:20022:tech:xsd:{version}"
    max_name = 140 if version.endswith("09") else 70
    total = sum(t["amount_sek"] for t in transactions)
    root = etree.Element("Document", nsmap={None: ns})
    initiation = etree.SubElement(root, "CstmrCdtTrfInitn")
    header = etree.SubElement(initiation, "GrpHdr")
    etree.SubElement(header, "MsgId").text = message_id
    etree.SubElement(header, "CreDtTm").text = created.replace("+00:00", "")
    etree.SubElement(header, "NbOfTxs").text = str(len(transactions))
    etree.SubElement(header, "CtrlSum").text = ore(total)
    _party(header, "InitgPty", sender.name, sender.organisation_number, max_name)
    info = etree.SubElement(initiation, "PmtInf")
    etree.SubElement(info, "PmtInfId").text = message_id
    etree.SubElement(info, "PmtMtd").text = "TRF"
    etree.SubElement(info, "NbOfTxs").text = str(len(transactions))
    etree.SubElement(info, "CtrlSum").text = ore(total)
    when = etree.SubElement(info, "ReqdExctnDt")
    if version.endswith("09"):
        etree.SubElement(when, "Dt").text = execution.isoformat()
    else:
        when.text = execution.isoformat()
    _party(info, "Dbtr", sender.name, sender.organisation_number, max_name)
    _account(etree.SubElement(info, "DbtrAcct"), sender.account_type, sender.account, version)
    _agent(etree.SubElement(info, "DbtrAgt"), sender.account_type)
    for t in transactions:
        tx = etree.SubElement(info, "CdtTrfTxInf")
        etree.SubElement(etree.SubElement(tx, "PmtId"), "EndToEndId").text = t["end_to_end_id"]
        amount = etree.SubElement(etree.SubElement(tx, "Amt"), "InstdAmt", Ccy="SEK")
        amount.text = ore(t["amount_sek"])
        _agent(etree.SubElement(tx, "CdtrAgt"), t["account_type"])
        _party(tx, "Cdtr", t["name"], t["organisation_number"], max_name)
        _account(etree.SubElement(tx, "CdtrAcct"), t["account_type"], t["account"], version)
        etree.SubElement(etree.SubElement(tx, "RmtInf"), "Ustrd").text = t["remittance"][:140]
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def schema_problems(xml: bytes, version: str) -> list[str]:
    """The file against the official ISO 20022 XSD (as shipped by the pinned sepaxml package)."""
    from importlib import resources

    from lxml import etree

    with resources.as_file(resources.files("sepaxml") / "schemas" / f"{version}.xsd") as path:
        schema = etree.XMLSchema(etree.parse(str(path)))
    document = etree.fromstring(xml)
    if schema.validate(document):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


# --- the ledger ----------------------------------------------------------------------------------

def read_ledger(out: Path) -> list[dict]:
    return _trusted(Path(out) / PAYMENTS_DIR / LEDGER_FILE, "issued", "what was paid cannot be told",
                    "restore it from a backup; never pay again without knowing what was paid")


def paid_so_far(out: Path) -> dict[str, int] | None:
    """What the ledger of OUT says each recipient has been paid for this run ('type:code' -> kronor), net of
    the reclaims it asked for; None when nothing was issued."""
    issued = read_ledger(out)
    if not issued:
        return None
    return dict(issued[-1]["settled"])


def _key(recipient_type: str, code: str) -> str:
    return f"{recipient_type}:{code}"


def _ledger_problems(out: Path, issued: list[dict]) -> list[Problem]:
    """Payment files in OUT/payments that the ledger does not record: what was paid can no longer be told."""
    folder = Path(out) / PAYMENTS_DIR
    known = {e["file"] for e in issued if e.get("file")}
    strays = sorted(p.name for p in folder.glob("*.xml")) if folder.is_dir() else []
    return [error(str(folder / name), "is a payment file the ledger does not record (was ledger.json removed or "
                  "replaced?): what was paid can no longer be told", "restore the ledger; never pay again without it")
            for name in strays if name not in known]


def _paid_siblings(out: Path, year: int) -> dict[Path, list[dict]]:
    """The other run folders beside OUT, of the same year, that issued payment files."""
    from .safefs import read_manifest

    here = Path(out).resolve()
    found = {}
    for folder in sorted(here.parent.iterdir()) if here.parent.is_dir() else []:
        if folder == here or not (folder / PAYMENTS_DIR / LEDGER_FILE).is_file():
            continue
        if (read_manifest(folder / "run.json") or {}).get("year") != year:
            continue
        try:
            found[folder] = read_ledger(folder)
        except PayoutError:
            found[folder] = [{"message_id": "(a ledger that was changed)", "paid_from": None}]
    return found


def register_path() -> Path:
    """The machine's register of paid runs (every folder, not only those side by side):
    $SKL_PAYOUT_REGISTER, else ~/.local/share/skl-payout/payments-register.json (XDG_DATA_HOME honoured)."""
    if os.environ.get("SKL_PAYOUT_REGISTER"):
        return Path(os.environ["SKL_PAYOUT_REGISTER"])
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "skl-payout" / "payments-register.json"


def read_register() -> list[dict]:
    return _trusted(register_path(), "paid", "what was paid cannot be told", "restore it from a backup")


def _registered(year: int, agreement: str | None, here: Path) -> list[dict]:
    """Other folders of the register that paid the same agreement."""
    return [e for e in read_register() if e.get("year") == year and e.get("agreement") == agreement
            and Path(e.get("folder", "")) != here]


def _register(entry: dict) -> None:
    from .safefs import manifest_text

    path = register_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = manifest_text({"tool": "skl-payout", "paid": [*read_register(), entry]})
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _check_execution(execution: date | None, year: int) -> date:
    today = date.fromisoformat(_now()[:10])
    execution = execution or today
    if not date(year, 1, 1) <= execution <= date(today.year + 1, today.month, min(today.day, 28)):
        raise PayoutError(error("--execution-date", f"{execution.isoformat()} is not a plausible date to pay money "
                                f"of the {year} agreement", f"a date from {year}-01-01 to a year from today"))
    return execution


def issue(out: Path, execution: date | None, version: str = "pain.001.001.09", reissue: bool = False,
          paid_from: Path | None = None, settings_file: Path | None = None) -> dict:
    """Write payments/<MsgId>.xml and .csv and append to the ledger, or refuse and say why.

    Never twice: a run is paid once (`--reissue` for a file that was never sent); another run of the same
    year beside it that was paid means this one is a correction (`--paid` the latest paid run); the
    ledger records a file before the file appears under its name, so a killed command leaves no
    payment file that the ledger does not know."""
    from .safefs import locked

    out = Path(out)
    if version not in VERSIONS:
        raise PayoutError(error("--version", f"unknown {version!r}", " or ".join(VERSIONS)))
    register = register_path()
    register.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as locks:
        locks.enter_context(locked(out.resolve().parent))
        if register.parent.resolve() != out.resolve().parent:  # one payment at a time sees and writes the register
            locks.enter_context(locked(register.parent.resolve()))
        return _issue(out, execution, version, reissue, paid_from, settings_file)


def _issue(out: Path, execution: date | None, version: str, reissue: bool, paid_from: Path | None,
           settings_file: Path | None) -> dict:
    from . import api
    from .compare import read_totals
    from .payees import of_run, parse_account, parse_organisation_number, xml_text_ok
    from .safefs import manifest_text, read_manifest
    from .settings import load as load_settings

    manifest = _manifest(out)
    year = manifest["year"]
    if (manifest.get("options") or {}).get("overrides"):
        raise PayoutError(error(str(out), "holds a what-if scenario, not a decision: nothing is paid from it"))
    _check_outputs(out, manifest)
    problems = attest_problems(out, read_attests(out))
    if problems:
        raise PayoutError(problems)
    issued = read_ledger(out)
    problems = _ledger_problems(out, issued)
    if problems:
        raise PayoutError(problems)
    if issued and not reissue:
        last = issued[-1]
        raise PayoutError(error(str(out / PAYMENTS_DIR / LEDGER_FILE),
                                f"a payment file was already issued for this run: {last['message_id']} at "
                                f"{last['created_at']}, {last['transactions']} payments, {last['total_sek']} kr",
                                "give --reissue only if that file was never sent or was rejected by the bank"))
    if issued:  # a reissue pays what the first issue paid: against the same earlier run, if any
        recorded = issued[-1].get("paid_from")
        if paid_from is not None and (recorded is None or Path(paid_from).resolve() != Path(recorded)):
            raise PayoutError(error("--paid", f"the file being reissued was paid against {recorded or 'nothing'}",
                                    "reissue without --paid: the ledger knows what it was"))
        paid_from = Path(recorded) if recorded else None
    siblings = _paid_siblings(out, year)
    real = manifest.get("sample_data") is not True  # trial runs of the sample data never enter the register
    registered = _registered(year, manifest.get("agreement"), out.resolve()) if real else []
    for entry in registered:  # paid from folders anywhere on this machine, not only side by side
        siblings.setdefault(Path(entry["folder"]), [{"message_id": entry["message_id"],
                                                     "paid_from": entry.get("paid_from")}])
    if paid_from is None and siblings and not issued:
        names = ", ".join(f"{f} ({e[-1]['message_id']})" for f, e in siblings.items())
        raise PayoutError(error(str(out), f"another run of {year} has been paid: {names}",
                                "a correction pays only the differences: --paid the latest paid run "
                                f"(the register of paid runs: {register_path()})"))
    previous = None
    if paid_from is not None:
        paid_from = Path(paid_from)
        if paid_from.resolve() == out.resolve():
            raise PayoutError(error("--paid", "names the run itself", "--paid names the earlier, paid run"))
        earlier = read_manifest(paid_from / "run.json") or {}
        if earlier.get("year") != year or earlier.get("agreement") != manifest.get("agreement"):
            raise PayoutError(error("--paid", f"{paid_from} is a run of {earlier.get('year')} "
                                    f"({earlier.get('agreement')}), this one of {year} ({manifest.get('agreement')})",
                                    "a correction is paid against a run of the same agreement"))
        previous = paid_so_far(paid_from)
        if previous is None:
            raise PayoutError(error(str(paid_from / PAYMENTS_DIR / LEDGER_FILE), "records no payment",
                                    "--paid names the run folder whose payment file was issued"))
        later = [f for f, entries in siblings.items()
                 if any(e.get("paid_from") and Path(e["paid_from"]) == paid_from.resolve() for e in entries)]
        if later and not issued:
            raise PayoutError(error("--paid", f"{paid_from} was already corrected by {', '.join(map(str, later))}",
                                    f"pay against the latest paid run: --paid {later[-1]}"))
    settings, settings_path = load_settings(settings_file)
    sender = settings.sender if settings else None
    if sender is None or not (sender.organisation_number and sender.account_type and sender.account):
        raise PayoutError(error(str(settings_path or "settings"), "the payer is not set: sender.organisation_"
                                "number, sender.account_type and sender.account are needed for a payment file",
                                "the skl-payout.yaml in the repository shows them"))
    payer = [why for why in (parse_organisation_number(sender.organisation_number)[1],
                             parse_account(sender.account_type, sender.account)[1],
                             None if xml_text_ok(sender.name) else "the sender's name holds a character "
                             "no payment file can carry") if why]
    if payer:
        raise PayoutError([error(f"{settings_path}: sender", why) for why in payer])
    execution = _check_execution(execution, year)
    result, _ = api.recorded(out)
    payees = of_run(manifest, out / "run.json")
    totals = {_key(r.type, r.code): (r, amount) for r, amount in result.totals()}
    run_id = _sha(out / "run.json")[:8]  # unique to this run (its outputs, inputs and time), stable for it
    diarienummer = settings.years[year].diarienummer if year in settings.years else None
    remittance = f"Statsbidrag {year} {result.rules.agreement.reference}" + \
        (f" SKL dnr {diarienummer}" if diarienummer else "")
    transactions, reclaims, problems, settled = [], [], [], {}
    for key, (r, amount) in sorted(totals.items(), key=lambda kv: kv[0]):
        before = (previous or {}).get(key, 0)
        due = amount - before
        settled[key] = amount
        if due < 0:
            reclaims.append({"recipient_type": r.type, "code": r.code, "name": r.name, "paid_sek": before,
                             "amount_sek": amount, "reclaim_sek": -due})
            continue
        if due == 0:
            continue
        payee = (payees or {}).get((r.type, r.code))
        if payee is None:
            problems.append(error(f"{r.type} {r.code} {r.name}", "no payee in the run's payees.csv: nobody "
                                  "to pay", "add the payee and run again"))
            continue
        code = {"kommun": "K", "landsting": "L", "regiondel": "R", "lan": "C"}[r.type]
        transactions.append({"end_to_end_id": f"{year}-{run_id}-{code}{r.code}"[:35], "amount_sek": due,
                             "recipient_type": r.type, "code": r.code, "name": payee.name,
                             "organisation_number": payee.organisation_number,
                             "account_type": payee.account_type, "account": payee.account,
                             "remittance": remittance + (" rättelse" if previous is not None else "")})
    gone = [key for key, before in (previous or {}).items() if key not in totals and before]
    names = {_key(*k): row.get("name", "") for k, row in read_totals(paid_from).items()} if gone else {}
    for key in gone:  # paid before, no longer a recipient at all
        kind, code = key.split(":", 1)
        reclaims.append({"recipient_type": kind, "code": code, "name": names.get(key, ""),
                         "paid_sek": previous[key], "amount_sek": 0, "reclaim_sek": previous[key]})
        settled[key] = 0
    if reclaims and paid_from is not None:  # why each amount fell, from the two runs' traces
        from .compare import _why

        why = _why(paid_from, out, [(r["recipient_type"], r["code"]) for r in reclaims])
        for r in reclaims:
            reasons = why.get((r["recipient_type"], r["code"])) or []
            left = _key(r["recipient_type"], r["code"]) in gone
            r["reason"] = "; ".join(reasons) or ("no longer a recipient" if left else "no reason found")
    problems += _own_checks(transactions)
    if problems:
        raise PayoutError(problems)
    sequence = len(issued) + 1
    message_id = f"SKLP-{year}-{run_id}-{sequence}"
    created = _now()
    files: dict[str, bytes] = {}
    if transactions:
        xml = build_pain001(version, message_id, created, execution, sender, transactions)
        wrong = schema_problems(xml, version)
        if wrong:
            raise PayoutError([error(f"{message_id}.xml (not written)", f"does not validate against the "
                                     f"{version} XSD: {w}") for w in wrong[:10]])
        files = {f"{message_id}.xml": xml, f"{message_id}.csv": _csv(transactions)}
    if reclaims:
        files["reclaims.csv"] = _reclaims_csv(reclaims)
    folder = out / PAYMENTS_DIR
    folder.mkdir(exist_ok=True)
    for name, data in files.items():
        (folder / f".{name}.tmp").write_bytes(data)
    entry = {"message_id": message_id, "file": f"{message_id}.xml" if transactions else None,
             "sha256": hashlib_sha(files[f"{message_id}.xml"]) if transactions else None,
             "version": version, "created_at": created, "execution_date": execution.isoformat(),
             "transactions": len(transactions), "total_sek": sum(t["amount_sek"] for t in transactions),
             "reissue_of": issued[-1]["message_id"] if issued else None,
             "paid_from": str(paid_from.resolve()) if paid_from is not None else None,
             "reclaim_sek": sum(r["reclaim_sek"] for r in reclaims),
             "paid": {t["recipient_type"] + ":" + t["code"]: t["amount_sek"] for t in transactions},
             "settled": settled}
    if real:  # first the register, then the ledger record the file; only then does it appear
        _register({"year": year, "agreement": manifest.get("agreement"), "folder": str(out.resolve()),
                   "message_id": message_id, "created_at": created, "total_sek": entry["total_sek"],
                   "paid_from": entry["paid_from"]})
    ledger = manifest_text({"tool": "skl-payout", "year": year, "issued": [*issued, entry]})
    tmp = folder / f".{LEDGER_FILE}.tmp"
    tmp.write_text(ledger, encoding="utf-8")
    os.replace(tmp, folder / LEDGER_FILE)
    for name in files:
        os.replace(folder / f".{name}.tmp", folder / name)
    return entry


def hashlib_sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _own_checks(transactions: list[dict]) -> list[Problem]:
    """Check digits of every account and organisation number, all problems at once."""
    from .payees import parse_account, parse_organisation_number, xml_text_ok

    problems = []
    for t in transactions:
        who = f"{t['recipient_type']} {t['code']} {t['name']}"
        if parse_account(t["account_type"], t["account"])[0] is None:
            problems.append(error(who, f"{t['account_type']} {t['account']} has a wrong check digit or length"))
        if parse_organisation_number(t["organisation_number"])[0] is None:
            problems.append(error(who, f"organisation number {t['organisation_number']} is not valid"))
        if not 0 < t["amount_sek"]:
            problems.append(error(who, f"an amount of {t['amount_sek']} kr is not a payment"))
        if not xml_text_ok(t["name"]):
            problems.append(error(who, "the payee's name holds a character no payment file can carry"))
    return problems


def _csv(transactions: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["end_to_end_id", "recipient_type", "code", "payee", "organisation_number", "account_type",
                     "account", "amount_sek"])
    for t in transactions:
        writer.writerow([t["end_to_end_id"], t["recipient_type"], t["code"], t["name"], t["organisation_number"],
                         t["account_type"], t["account"], t["amount_sek"]])
    return buffer.getvalue().encode("utf-8")


def _reclaims_csv(reclaims: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["recipient_type", "code", "name", "paid_sek", "amount_sek", "reclaim_sek", "reason"])
    for r in reclaims:
        writer.writerow([r["recipient_type"], r["code"], r["name"], r["paid_sek"], r["amount_sek"], r["reclaim_sek"],
                         r.get("reason", "")])
    return buffer.getvalue().encode("utf-8")
