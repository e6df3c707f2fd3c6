"""Comparing runs: what changed between two output folders, and re-running a recorded run."""

from __future__ import annotations

import csv
import hashlib
import re
import io
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .data import sha256
from .errors import PayoutError, error



MAX_OUTPUT_BYTES = 50 * 1024 * 1024
DIFF_COLUMNS = ["recipient_type", "code", "name", "before_sek", "after_sek", "change_sek"]


def read_totals(folder: Path) -> dict[tuple[str, str], dict]:
    path = folder / "totals.csv"
    if path.is_dir() or not path.is_file():
        raise PayoutError(error(str(path), "is a folder, not a file" if path.is_dir() else "not found",
                                "give folders written by `skl-payout run`"))
    if path.stat().st_size > MAX_OUTPUT_BYTES:
        raise PayoutError(error(str(path), "is far larger than a run's totals", "give folders written by `skl-payout run`"))
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
            header = rows[0].keys() if rows else []
    except (UnicodeDecodeError, csv.Error) as exc:
        raise PayoutError(error(str(path), f"cannot be read as a skl-payout totals.csv: {exc}")) from None
    missing = [c for c in ("recipient_type", "code", "name", "amount_sek") if c not in header]
    if missing:
        raise PayoutError(error(f"{path} row 1", f"is not a skl-payout totals.csv: no column {', '.join(missing)}",
                                "give folders written by `skl-payout run`"))
    totals = {}
    for line, row in enumerate(rows, 2):
        amount = row.get("amount_sek") or ""
        if not re.fullmatch(r"-?[0-9]{1,15}", amount):
            raise PayoutError(error(f"{path} row {line}, column amount_sek", f"{amount!r} is not whole kronor",
                                    "the file was changed after the run; run again"))
        key = (row["recipient_type"], row["code"])
        if key in totals:
            raise PayoutError(error(f"{path} row {line}", f"{key[0]} {key[1]} appears twice",
                                    "the file was changed after the run; run again"))
        totals[key] = {**row, "amount_sek": int(amount)}
    return totals


def _manifest(folder: Path) -> dict:
    """OUT/run.json, checked for what diff and verify need, so a damaged one is a clear error."""
    path = folder / "run.json"
    if path.is_dir() or not path.is_file():
        raise PayoutError(error(str(path), "is a folder, not a file" if path.is_dir() else "not found",
                                "give a folder written by `skl-payout run`"))
    if path.stat().st_size > MAX_OUTPUT_BYTES:
        raise PayoutError(error(str(path), "is far larger than a run's manifest", "give a folder written by `skl-payout run`"))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise PayoutError(error(str(path), f"not UTF-8 text ({exc.reason})")) from None
    except json.JSONDecodeError as exc:
        raise PayoutError(error(f"{path}:{exc.lineno}", f"not valid JSON: {exc.msg}")) from None

    def bad(what: str) -> PayoutError:
        return PayoutError(error(str(path), f"is not a complete skl-payout manifest: {what}",
                                 "run `skl-payout run` again to write a new one"))

    if not isinstance(data, dict):
        raise bad("not a JSON object")
    rules = data.get("rules")
    if not isinstance(rules, dict) or not all(isinstance(rules.get(k), str) for k in ("path", "sha256")):
        raise bad("no rules.path and rules.sha256")
    inputs = data.get("inputs")
    if not isinstance(inputs, list) or not all(
            isinstance(i, dict) and all(isinstance(i.get(k), str) for k in ("file", "path", "sha256")) for i in inputs):
        raise bad("inputs must be a list of {file, path, sha256}")
    if not isinstance(data.get("year"), int) or isinstance(data.get("year"), bool):
        raise bad("no year")
    outputs = data.get("outputs")
    if outputs is not None and not (isinstance(outputs, dict) and all(
            isinstance(k, str) and "/" not in k and isinstance(v, str) for k, v in outputs.items())):
        raise bad("outputs must map file names to SHA-256")
    return data


@dataclass
class Diff:
    changes: list[dict] = field(default_factory=list)  # recipients whose amount changed
    inputs: list[dict] = field(default_factory=list)  # input files (and rules) whose content changed
    withheld: list[dict] = field(default_factory=list)  # recipients whose withheld amount changed

    @property
    def net_sek(self) -> int:
        return sum(c["change_sek"] for c in self.changes)


def diff(a: Path, b: Path) -> Diff:
    from .safefs import tidy_run

    for run in (a, b):
        tidy_run(run)
    ta, tb = read_totals(a), read_totals(b)
    result = Diff()
    for key in sorted(set(ta) | set(tb), key=lambda k: (k[0], k[1])):
        ra, rb = ta.get(key), tb.get(key)
        before, after = ra["amount_sek"] if ra else 0, rb["amount_sek"] if rb else 0
        if before != after or (ra is None) != (rb is None):
            result.changes.append({"recipient_type": key[0], "code": key[1], "name": (rb or ra)["name"],
                                   "before_sek": before, "after_sek": after, "change_sek": after - before})
    ma, mb = _manifest(a), _manifest(b)
    why = _why(a, b, [(c["recipient_type"], c["code"]) for c in result.changes])
    for c in result.changes:
        c["why"] = why.get((c["recipient_type"], c["code"]), [])
    wa, wb = _withheld(ma), _withheld(mb)
    for key in sorted(set(wa) | set(wb)):
        before, after = wa.get(key, (0, ""))[0], wb.get(key, (0, ""))[0]
        if before != after:
            result.withheld.append({"recipient_type": key[0], "code": key[1], "name": (wb.get(key) or wa.get(key))[1],
                                    "before_sek": before, "after_sek": after, "change_sek": after - before})
    ia = {i["file"]: i["sha256"] for i in ma["inputs"]}
    ib = {i["file"]: i["sha256"] for i in mb["inputs"]}
    ia["rules: " + Path(ma["rules"]["path"]).name] = ma["rules"]["sha256"]
    ib["rules: " + Path(mb["rules"]["path"]).name] = mb["rules"]["sha256"]
    for name in sorted(set(ia) | set(ib)):
        if ia.get(name) != ib.get(name):
            status = "added" if name not in ia else "removed" if name not in ib else "changed"
            result.inputs.append({"file": name, "status": status, "before": ia.get(name), "after": ib.get(name)})
    return result


def _rows_of(folder: Path) -> dict[tuple[str, str], dict[str, dict]] | None:
    """(type, code) -> sub-pot id -> the trace row, with its sub-pot's budget and key sum; None without a trace."""
    from .trace import TRACE_FILE

    import hashlib

    from .safefs import read_manifest

    path = folder / TRACE_FILE
    manifest = read_manifest(folder / "run.json")
    if manifest is None or not path.is_file() or path.stat().st_size > MAX_OUTPUT_BYTES:
        return None
    try:
        raw = path.read_bytes()
        if (manifest.get("outputs") or {}).get(TRACE_FILE) != hashlib.sha256(raw).hexdigest():
            return None  # not the trace the run wrote: no reasons rather than wrong ones
        data = json.loads(raw.decode("utf-8"))
        rows: dict[tuple[str, str], dict[str, dict]] = {}
        for sp in data["subpots"]:
            for row in sp["rows"]:
                who = row["recipient"]
                rows.setdefault((who["type"], who["code"]), {})[sp["id"]] = {
                    **row, "budget_sek": sp["budget_sek"], "key_sum": sp["key_sum"], "method": sp["method"],
                    "rate_sek": sp["rate_sek"]}
        return rows
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None


def _why(a: Path, b: Path, changed: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    """For each changed recipient, what moved its amount: a condition's numbers or outcome, its key, or
    the sub-pot's budget or key sum (read from the two runs' traces)."""
    ra, rb = _rows_of(a), _rows_of(b)
    if ra is None or rb is None:
        return {}
    found: dict[tuple[str, str], list[str]] = {}
    for key in changed:
        lines = []
        before, after = ra.get(key, {}), rb.get(key, {})
        for sub_id in sorted(set(before) | set(after)):
            x, y = before.get(sub_id), after.get(sub_id)
            if x is None or y is None:
                lines.append(f"{sub_id}: {'new in' if x is None else 'not in'} the second run")
                continue
            if x["paid_sek"] == y["paid_sek"] and x["withheld_sek"] == y["withheld_sek"]:
                continue
            if len(x["conditions"]) != len(y["conditions"]):
                lines.append(f"{sub_id}: the rules set other conditions ({len(x['conditions'])} -> "
                             f"{len(y['conditions'])})")
            for k, label in (("method", "method"), ("rate_sek", "fixed rate per unit")):
                if x[k] != y[k]:
                    lines.append(f"{sub_id}: {label} {x[k]} -> {y[k]}")
            for cx, cy in zip(x["conditions"], y["conditions"]):
                numbers = [k for k in ("numerator", "denominator", "flag", "own_sek", "allocation_sek", "threshold")
                           if cx.get(k) != cy.get(k)]
                if numbers or cx["passed"] != cy["passed"]:
                    shown = ", ".join(f"{k} {cx.get(k)} -> {cy.get(k)}" for k in numbers)
                    outcome = f"{cx['outcome']} -> {cy['outcome']}" if cx["passed"] != cy["passed"] else cy["outcome"]
                    lines.append(f"{sub_id}: {cx['label']}: {shown + '; ' if shown else ''}{outcome}")
            if (x["key"] or {}).get("value") != (y["key"] or {}).get("value"):
                lines.append(f"{sub_id}: key {(x['key'] or {}).get('value')} -> {(y['key'] or {}).get('value')}")
            for k, label in (("budget_sek", "sub-pot budget"), ("key_sum", "key sum of those sharing it")):
                if x[k] != y[k] and (x["allocation"] and y["allocation"] or k == "budget_sek"):
                    lines.append(f"{sub_id}: {label} {x[k]} -> {y[k]}")
            ex, ey = (x["allocation"] or {}).get("remainder_krona"), (y["allocation"] or {}).get("remainder_krona")
            if ex is not None and ey is not None and ex != ey:
                lines.append(f"{sub_id}: remainder krona {ex} -> {ey} (the largest remainders changed)")
        found[key] = lines or ["no reason found in the traces"]
    return found


def _withheld(manifest: dict) -> dict[tuple[str, str], tuple[int, str]]:
    """(type, code) -> (withheld kronor, name) from run.json; a run before withheld existed held none."""
    found: dict[tuple[str, str], tuple[int, str]] = {}
    entries = manifest.get("withheld")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("withheld_sek"), int):
            continue
        key = (str(entry.get("recipient_type")), str(entry.get("code")))
        found[key] = (found.get(key, (0, ""))[0] + entry["withheld_sek"], str(entry.get("name", "")))
    return found


def write_diff_csv(d: Diff, path: Path, runs: tuple[Path, ...] = ()) -> None:
    """Write the changes, never over an input, a run's file, or a file the tool did not write."""
    path = Path(path).absolute()
    for run in runs:
        run = Path(run).resolve()
        if path.resolve() == run or run in path.resolve().parents:
            raise PayoutError(error(str(path), f"is inside the run folder {run}",
                                    "write the diff elsewhere: a run folder holds only what the run wrote"))
        manifest = _manifest(run)
        inputs = [Path(manifest["rules"]["path"])] + [Path(i["path"]) for i in manifest["inputs"]]
        if any(path.resolve() == p.resolve() for p in inputs):
            raise PayoutError(error(str(path), "is an input of the runs being compared", "write the diff elsewhere"))
    if path.is_dir():
        raise PayoutError(error(str(path), "is a folder", "give a file name, e.g. --csv changes.csv"))
    if path.exists() or path.is_symlink():  # the tool cannot tell its own old diff from a file of yours
        raise PayoutError(error(str(path), "exists; refusing to overwrite it",
                                "choose another file name, or remove the old one yourself"))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(DIFF_COLUMNS)
    for c in d.changes:
        writer.writerow([c[k] for k in DIFF_COLUMNS])
    if not path.parent.is_dir():
        raise PayoutError(error(str(path), f"the folder {path.parent} does not exist", "create it, or write elsewhere"))
    temp = path.with_name(f".{path.name[:64]}.skl-payout-tmp")
    try:
        temp.write_text(buffer.getvalue(), encoding="utf-8", newline="")
        os.replace(temp, path)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from exc  # the user's file, not our temporary one
    finally:
        temp.unlink(missing_ok=True)



@dataclass
class Verification:
    identical: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    inputs_changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # recorded outputs that are gone
    attests: list[str] = field(default_factory=list)  # each attest: standing, or void and why

    @property
    def ok(self) -> bool:
        return bool(self.identical) and not self.different and not self.inputs_changed and not self.missing \
            and not any(a.startswith("VOID") for a in self.attests)


def verify(out: Path) -> Verification:
    """Re-run what OUT/run.json records and compare every output byte for byte.

    The re-run reads copies of the recorded files made after checking their SHA-256, never the
    recorded paths themselves, which may hold other content by the time it reads them.
    """
    from . import api
    from .safefs import read_manifest, tidy_run

    out = Path(out)
    tidy_run(out)
    if not out.is_dir():
        raise PayoutError(error(str(out), "not found" if not out.exists() else "is a file, not a run folder"))
    if (out / "sweep.json").is_file() and not (out / "run.json").exists():
        raise PayoutError(error(str(out), "holds a what-if sweep, not a run: there is no run.json to verify",
                                "run the same `skl-payout whatif` again; sweep.json records its scenarios"))
    from .safefs import locked

    with locked(out.resolve().parent):  # a run swapping the folder in meanwhile would look like tampering
        check = _verify(out)
    from .payments import ROLES, read_attests, voided

    for a in read_attests(out):
        changed = voided(out, a)
        what = f"{ROLES[a['role']]} by {a['by']} ({a['at']})"
        check.attests.append(f"VOID {what}: {', '.join(changed)} changed after it" if changed else f"stands: {what}")
    return check


@contextmanager
def _scratch(out: Path) -> Iterator[str]:
    """The folder `verify` reruns in, with copies of the run's inputs (payees' accounts included): beside
    the run, hidden and named as the tool's staging folders, so that if `verify` is killed the next
    command there removes it (never left in the system's temporary folder for good). Only where the
    run's folder cannot be written (a read-only share) is the system's temporary folder used; there
    the folder's name carries the process id, and a later verify removes those whose process is gone."""
    from .safefs import stage_prefix

    target = out.resolve()
    try:
        tmp = tempfile.mkdtemp(prefix=stage_prefix(target, "new"), dir=target.parent)
    except OSError:
        _tidy_system_tmp()
        tmp = tempfile.mkdtemp(prefix=f"{_SYSTEM_TMP}{os.getpid()}-")
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_SYSTEM_TMP = "skl-payout-verify-"


def _tidy_system_tmp() -> None:
    """Remove what killed verifies left in the system's temporary folder: this user's folders whose
    process no longer runs (another verify's, still running, are left alone)."""
    for path in Path(tempfile.gettempdir()).glob(f"{_SYSTEM_TMP}*-*"):
        pid = path.name[len(_SYSTEM_TMP):].split("-", 1)[0]
        try:
            if not pid.isdigit() or path.is_symlink() or not path.is_dir() or path.stat().st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)  # raises if no such process
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue


def _verify(out: Path) -> Verification:
    from . import api
    from .safefs import read_manifest

    manifest = _manifest(out)
    check = Verification()
    outputs = manifest.get("outputs")
    if not outputs:
        raise PayoutError(error(str(out / "run.json"), "records no outputs (written by another tool, or by an older "
                                "skl-payout)", "run `skl-payout run` again to write a verifiable run"))
    if read_manifest(out / "run.json") is None:
        check.different.append("run.json (changed since the run: its own SHA-256 no longer matches)")
    for name, digest in sorted(outputs.items()):
        path = out / name
        if not path.is_file():
            check.missing.append(name)
        elif sha256(path) != digest:
            check.different.append(f"{name} (changed since the run: its SHA-256 differs from run.json)")
    with _scratch(out) as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        rules = Path(tmp) / Path(manifest["rules"]["path"]).name
        recorded = [(Path(manifest["rules"]["path"]), manifest["rules"]["sha256"], rules)]
        recorded += [(Path(i["path"]), i["sha256"], data / Path(i["file"]).name) for i in manifest["inputs"]]
        for source, digest, copy in recorded:
            try:
                if not source.is_file():
                    raise OSError
                with open(source, "rb") as fh:
                    content = fh.read(MAX_OUTPUT_BYTES + 1)  # never more than an input can be: a device never ends
            except OSError:
                check.inputs_changed.append(f"{source}: no longer a readable file")
                continue
            if hashlib.sha256(content).hexdigest() != digest:
                check.inputs_changed.append(f"{source}: content changed since the run (SHA-256 differs)")
                continue
            copy.write_bytes(content)
        if check.inputs_changed:
            return check
        again = Path(tmp) / "again"
        from .whatif import parse_override

        options = manifest.get("options", {})
        api.run(api.Inputs(manifest["year"], rules, data), again, swedish_csv=options.get("swedish_csv") is True,
                overrides=[parse_override(o) for o in options.get("overrides") or []])
        for name in sorted(outputs):
            if name in check.missing or not (out / name).is_file():
                continue
            same = (out / name).read_bytes() == (again / name).read_bytes()
            if same:
                check.identical.append(name)
            elif not any(d.startswith(name + " ") for d in check.different):
                check.different.append(name)
    return check
