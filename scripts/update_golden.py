"""Deliberately regenerate tests/golden/<year>/ from the shipped rules and sample data.

Run only after reviewing why results changed (`make golden`); the diff of tests/golden/ is then
part of the commit and shows every krona that moved.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
FILES = ("payouts.csv", "totals.csv", "summary.csv")


def main() -> None:
    years = sorted(int(p.stem) for p in (ROOT / "rules").glob("*.yaml"))
    for year in years:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / str(year)
            subprocess.run([sys.executable, "-m", "skl_payout", "run", "--year", str(year), "--out", str(out)],
                           check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            target = GOLDEN / str(year)
            target.mkdir(parents=True, exist_ok=True)
            for name in FILES:
                shutil.copyfile(out / name, target / name)
        print(f"updated {target.relative_to(ROOT)}")
    letters()


def letters() -> None:
    """One Markdown letter per recipient type, dated as the tests date them (tests/test_documents.py):
    the 2011 kommun one registration short of 50 %, landsting 01 and län 06."""
    import csv

    with open(ROOT / "sample_data" / "boundaries.csv", encoding="utf-8", newline="") as fh:
        near = next(r for r in csv.DictReader(fh) if r["year"] == "2011" and r["threshold_percent"] == "50"
                    and r["case"] == "below")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "2011"
        run = [sys.executable, "-m", "skl_payout"]
        subprocess.run([*run, "run", "--year", "2011", "--out", str(out)], check=True, cwd=ROOT, capture_output=True)
        args = [*run, "letters", "--year", "2011", "--out", str(out), "--format", "md", "--date", "2012-03-01"]
        for code in (near["code"], "01", "06"):
            args += ["--only", code]
        subprocess.run(args, check=True, cwd=ROOT, capture_output=True)
        target = GOLDEN / "letters"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for path in (out / "letters").glob("*.md"):
            if path.name.startswith(("kommun-", "landsting-01-", "lan-06-")):
                shutil.copyfile(path, target / path.name)
    print(f"updated {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
