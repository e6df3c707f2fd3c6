"""Comparing runs: what changed between two output folders, and re-running a recorded run."""

from __future__ import annotations

import csv
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .data import sha256
from .errors import PayoutError, error

OUTPUTS = ("payouts.csv", "totals.csv", "summary.csv", "report.html", "payouts.xlsx")


def _totals(folder: Path) -> dict[tuple[str, str], dict]:
    path = folder / "totals.csv"
    if not path.exists():
        raise PayoutError(error(str(path), "not found", "give two folders written by `skl-payout run`"))
    with open(path, encoding="utf-8", newline="") as fh:
        return {(r["recipient_type"], r["code"]): r for r in csv.DictReader(fh)}


def _manifest(folder: Path) -> dict:
    path = folder / "run.json"
    if not path.exists():
        raise PayoutError(error(str(path), "not found", "give a folder written by `skl-payout run`"))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PayoutError(error(f"{path}:{exc.lineno}", f"not valid JSON: {exc.msg}")) from None


@dataclass
class Diff:
    changes: list[dict] = field(default_factory=list)  # recipients whose amount changed
    inputs: list[dict] = field(default_factory=list)  # input files (and rules) whose content changed

    @property
    def net_sek(self) -> int:
        return sum(c["change_sek"] for c in self.changes)


def diff(a: Path, b: Path) -> Diff:
    ta, tb = _totals(a), _totals(b)
    result = Diff()
    for key in sorted(set(ta) | set(tb), key=lambda k: (k[0], k[1])):
        ra, rb = ta.get(key), tb.get(key)
        before, after = int(ra["amount_sek"]) if ra else 0, int(rb["amount_sek"]) if rb else 0
        if before != after or (ra is None) != (rb is None):
            result.changes.append({"recipient_type": key[0], "code": key[1], "name": (rb or ra)["name"],
                                   "before_sek": before, "after_sek": after, "change_sek": after - before})
    ma, mb = _manifest(a), _manifest(b)
    ia = {i["file"]: i["sha256"] for i in ma.get("inputs", [])}
    ib = {i["file"]: i["sha256"] for i in mb.get("inputs", [])}
    ia["rules: " + Path(ma["rules"]["path"]).name] = ma["rules"]["sha256"]
    ib["rules: " + Path(mb["rules"]["path"]).name] = mb["rules"]["sha256"]
    for name in sorted(set(ia) | set(ib)):
        if ia.get(name) != ib.get(name):
            status = "added" if name not in ia else "removed" if name not in ib else "changed"
            result.inputs.append({"file": name, "status": status, "before": ia.get(name), "after": ib.get(name)})
    return result


def write_diff_csv(d: Diff, path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["recipient_type", "code", "name", "before_sek", "after_sek", "change_sek"])
        for c in d.changes:
            writer.writerow([c["recipient_type"], c["code"], c["name"], c["before_sek"], c["after_sek"], c["change_sek"]])


@dataclass
class Verification:
    identical: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    inputs_changed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.different and not self.inputs_changed


def verify(out: Path) -> Verification:
    """Re-run what OUT/run.json records, in a temporary folder, and compare every output byte for byte."""
    from . import api

    manifest = _manifest(out)
    check = Verification()
    rules = Path(manifest["rules"]["path"])
    recorded = [(rules, manifest["rules"]["sha256"])]
    recorded += [(Path(i["path"]), i["sha256"]) for i in manifest.get("inputs", [])]
    for path, digest in recorded:
        if not path.exists():
            check.inputs_changed.append(f"{path}: no longer exists")
        elif sha256(path) != digest:
            check.inputs_changed.append(f"{path}: content changed since the run (SHA-256 differs)")
    if check.inputs_changed:
        return check
    options = manifest.get("options", {})
    inp = api.Inputs(manifest["year"], rules, Path(options["data"]))
    with tempfile.TemporaryDirectory() as tmp:
        again = Path(tmp) / "again"
        api.run(inp, again)
        for name in OUTPUTS:
            if not (out / name).exists():
                continue
            same = (out / name).read_bytes() == (again / name).read_bytes()
            (check.identical if same else check.different).append(name)
    return check
