"""Where the shipped rules, templates, sample data and source documents are: in the wheel, or in the source tree."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def shipped(name: str) -> Path:
    """`rules`, `templates`, `sample_data` or `sources`: inside an installed wheel, else at the repository root."""
    installed = _PACKAGE / "_shipped" / name
    return installed if installed.exists() else _PACKAGE.parent / name


def rules_file(year: int) -> Path:
    return shipped("rules") / f"{year}.yaml"


def sample_data(year: int) -> Path:
    return shipped("sample_data") / str(year)


def shipped_years() -> list[int]:
    return sorted(int(p.stem) for p in shipped("rules").glob("*.yaml") if p.stem.isdigit())


def sources_index() -> Path:
    """The catalogue of the source documents the rule files cite (`document:` ids, sections)."""
    return shipped("sources") / "index.yaml"
