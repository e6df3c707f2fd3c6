"""Timings people care about, printed (a measurement, not a test): `make bench`.

Targets: a full run of a year in well under 5 s; all letters of a year as PDF in under 60 s.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from skl_payout import api

TARGETS = {"run": 5.0, "letters pdf": 60.0}


def timed(label: str, fn, target: float | None = None) -> float:
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    verdict = "" if target is None else ("  (target < %.0f s: %s)" % (target, "met" if seconds < target else "MISSED"))
    print(f"{label:<34} {seconds:8.2f} s{verdict}")
    return seconds


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for year in (2010, 2011, 2014):
            inp = api.inputs(year)
            out = Path(tmp) / str(year)
            timed(f"run {year} (CSV, report, xlsx)", lambda: api.run(inp, out), TARGETS["run"])
        inp = api.inputs(2011)
        out = Path(tmp) / "2011"
        result = api.compute(inp)
        count = len(result.totals())
        timed("compute 2011 only", lambda: api.compute(inp))
        timed(f"letters 2011 pdf ({count} + combined)", lambda: api.letters(inp, out, "pdf", None, None),
              TARGETS["letters pdf"])
        timed(f"letters 2011 html ({count})", lambda: api.letters(inp, out, "html", None, None))


if __name__ == "__main__":
    main()
