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


SNAPSHOT_CODES = ["0581", "01", "06"]  # one kommun, one landsting, one län (see tests/test_documents.py)


def letters() -> None:
    """One Markdown letter per recipient type, dated as the tests date them."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "2011"
        run = [sys.executable, "-m", "skl_payout"]
        subprocess.run([*run, "run", "--year", "2011", "--out", str(out)], check=True, cwd=ROOT, capture_output=True)
        args = [*run, "letters", "--year", "2011", "--out", str(out), "--format", "md", "--date", "2012-03-01"]
        for code in SNAPSHOT_CODES:
            args += ["--only", code]
        subprocess.run(args, check=True, cwd=ROOT, capture_output=True)
        target = GOLDEN / "letters"
        target.mkdir(parents=True, exist_ok=True)
        for name in ("kommun-0581-norrkoping.md", "landsting-01-stockholms-lans-landsting.md", "lan-06-jonkopings-lan.md"):
            shutil.copyfile(out / "letters" / name, target / name)
    print(f"updated {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
