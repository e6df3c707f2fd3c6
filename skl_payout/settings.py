"""The sender's settings for letters: who sends, who signs, whom to contact, and per year the
diarienummer and the decision date. One YAML file (`--settings FILE`, else `skl-payout.yaml` in the
current folder); the `skl-payout.yaml` in the repository shows every key."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, ValidationError

from .errors import PayoutError, error
from .rules import Model, parse_yaml

DEFAULT_FILE = "skl-payout.yaml"
Text = Annotated[str, Field(min_length=1)]


class Person(Model):
    name: Text
    title: Text | None = None
    phone: Text | None = None
    email: Text | None = None


class Year(Model):
    diarienummer: Text  # the sender's own case number for the year's decision
    decision_date: date  # the date on the letters: the date of the payout decision


LOGO_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
MAX_LOGO_BYTES = 2 * 1024 * 1024  # 2 MiB


class Sender(Model):
    name: Text
    address: list[Text] = []
    logo: Path | None = None  # PNG, JPEG or SVG; a relative path is relative to the settings file
    # for payment files (skl-payout payments): who pays, from which account
    organisation_number: Text | None = None
    account_type: Literal["bankgiro", "plusgiro"] | None = None
    account: Text | None = None


class Settings(Model):
    sender: Sender
    signatory: Person
    contact: Person
    years: dict[int, Year] = {}


def load(path: Path | None) -> tuple[Settings | None, Path | None]:
    """The settings from `path`, else from skl-payout.yaml in the current folder; (None, None) if neither."""
    if path is None:
        candidate = Path(DEFAULT_FILE)
        if not candidate.is_file():
            return None, None
        path = candidate
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise PayoutError(error(str(path), "settings file not found")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PayoutError(error(str(path), f"cannot be read as UTF-8 text: {exc}")) from None
    try:
        raw, _ = parse_yaml(text)
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PayoutError(error(str(path), f"{where}: {first['msg']}",
                                "compare with the skl-payout.yaml in the repository")) from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # YAML the strict loader refuses
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise PayoutError(error(where, f"not a valid settings file: {getattr(exc, 'problem', None) or exc}")) from None
    if settings.sender.logo is not None:
        logo = settings.sender.logo if settings.sender.logo.is_absolute() else path.parent / settings.sender.logo
        if logo.suffix.lower() not in LOGO_TYPES:
            raise PayoutError(error(f"{path}: sender.logo", f"{logo.name} is not a PNG, JPEG or SVG image"))
        if not logo.is_file():
            raise PayoutError(error(f"{path}: sender.logo", f"{logo} not found",
                                    "a relative path is read from the settings file's folder"))
        if logo.stat().st_size > MAX_LOGO_BYTES:
            raise PayoutError(error(f"{path}: sender.logo", f"{logo.name} is larger than 2 MiB: use a smaller image"))
        settings = settings.model_copy(update={"sender": settings.sender.model_copy(update={"logo": logo})})
    return settings, path


def missing_help(year: int) -> str:
    return (f"create {DEFAULT_FILE} in this folder (or give --settings FILE) with the sender, the signatory, the "
            f"contact and, under years: {year}:, the diarienummer and decision_date; the skl-payout.yaml in "
            "the repository shows every key")
