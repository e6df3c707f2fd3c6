"""Golden-file regression: the shipped rules on the shipped sample data give the committed CSVs.

If a change moves a krona on purpose, regenerate with `make golden` and commit the diff.
"""


import pytest

from conftest import ROOT, cli

GOLDEN = ROOT / "tests" / "golden"
YEARS = sorted(int(p.name) for p in GOLDEN.iterdir() if p.is_dir() and p.name.isdigit())


@pytest.mark.parametrize("year", YEARS)
def test_run_reproduces_golden_files_byte_for_byte(year, tmp_path):
    out = tmp_path / "out"
    done = cli("run", "--year", str(year), "--out", str(out))
    assert done.returncode == 0, done.stderr
    for name in ("payouts.csv", "totals.csv", "summary.csv"):
        assert (out / name).read_bytes() == (GOLDEN / str(year) / name).read_bytes(), f"{year}/{name} changed"


def test_a_second_run_is_byte_identical(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    assert cli("run", "--year", "2011", "--out", str(first)).returncode == 0
    assert cli("run", "--year", "2011", "--out", str(second)).returncode == 0
    for name in ("payouts.csv", "totals.csv", "summary.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
