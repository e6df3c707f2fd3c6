"""Letters: one per recipient, in Swedish, from Jinja2 templates (Typst for PDF, HTML, Markdown).

Every value reaches a template escaped for its format (the environment's `finalize`), and
templates are rendered in a sandbox that can only load files from the templates folder.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date as Date
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from . import __version__, fmt, phrases
from .data import sha256
from .errors import PayoutError, error
from .pipeline import Result

TYPE_LABELS = {"kommun": "Kommun", "landsting": "Landsting/region", "regiondel": "Regiondel",
               "lan": "Län (länsgemensamma medel till kommunerna och landstinget)"}
FORMATS = {"pdf": "letter.typ.j2", "html": "letter.html.j2", "md": "letter.md.j2"}
_TYPST_SPECIAL = re.compile(r"([\\#$*_`<>@\[\]~/=+\-])")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def typst_escape(value) -> str:
    return _TYPST_SPECIAL.sub(r"\\\1", str(value))


def markdown_escape(value) -> str:
    return _MD_SPECIAL.sub(r"\\\1", str(value))


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


@dataclass
class PotLine:
    pot_id: str
    title: str
    qualified: bool
    checks: list[dict]
    distribution: str
    amount: int
    amount_text: str
    source: str
    quote: str | None
    period: str | None
    payout: str | None
    withheld: int = 0
    withheld_text: str = ""  # "2 500 000 kr innehålls och betalas ut när ..." (the rule file's withheld_until)
    performance: bool = True
    withheld_kr: str = ""


@dataclass
class Letter:
    type: str
    code: str
    name: str
    type_label: str
    county_name: str
    stem: str
    total: int
    total_text: str
    lines: list[PotLine] = field(default_factory=list)
    why_nothing: list[str] = field(default_factory=list)
    withheld: int = 0
    withheld_text: str = ""
    terms: list[dict] = field(default_factory=list)  # {"text", "source"}: payout, use, repayment, as the sources state

    @property
    def heading(self) -> str:
        """Performance money is called so only when every pot in the letter is performance money."""
        return "Prestationsbaserat statsbidrag" if all(l.performance for l in self.lines) else "Statsbidrag"


def build_letters(result: Result) -> list[Letter]:
    letters = []
    for recipient, total in result.totals():
        county = result.counties.get(recipient.county_code, recipient.county_code)
        letter = Letter(recipient.type, recipient.code, recipient.name, TYPE_LABELS[recipient.type], county,
                        f"{recipient.type}-{recipient.code}-{slug(recipient.name)}", total, fmt.kr(total))
        rules = result.rules
        for row in result.rows_for(recipient):
            sp = result.subpot(row.subpot)
            pot = sp.pot
            checks = [{"requirement": phrases.requirement(c), "value": phrases.value(c), "passed": c.passed,
                       "shortfall": phrases.shortfall(c)} for c in row.conditions]
            if not checks:
                checks = [{"requirement": "inga villkor utöver överenskommelsen", "value": "", "passed": True,
                           "shortfall": None}]
            letter.lines.append(PotLine(
                sp.id, pot.title, row.qualified, checks, phrases.distribution(row, sp, rules), row.amount,
                fmt.kr(row.amount), rules.cite(pot.source), pot.source.quote, pot.period, pot.payout,
                row.withheld, f"{fmt.kr(row.withheld)} innehålls {pot.withheld_until}" if row.withheld
                else "", pot.performance, fmt.kr(row.withheld),
            ))
            letter.withheld += row.withheld
            for term in pot.terms:
                entry = {"text": term.text, "source": rules.cite(term.source)}
                if entry not in letter.terms:
                    letter.terms.append(entry)
            if not row.qualified:
                missed = [c for c in checks if not c["passed"]]
                letter.why_nothing += [f"{pot.title}: {c['requirement']} – {c['shortfall'] or c['value']}" for c in missed]
        if letter.withheld:
            letter.withheld_text = fmt.kr(letter.withheld)
        letters.append(letter)
    return letters


def environment(templates: Path, fmt_name: str) -> SandboxedEnvironment:
    finalize = {"pdf": typst_escape, "md": markdown_escape}.get(fmt_name)
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(templates)), undefined=StrictUndefined, keep_trailing_newline=True,
        autoescape=fmt_name == "html", finalize=finalize, trim_blocks=True, lstrip_blocks=True,
    )
    return env


def context(result: Result, rules_path: Path, letters: list[Letter], on: Date, settings=None) -> dict:
    a = result.rules.agreement
    return {
        "year": result.rules.year, "date": on.isoformat(), "letters": letters,
        "agreement": {"title": a.title, "reference": a.reference, "contact": a.contact,
                      "source": result.rules.cite(a.source)},
        "tool": {"version": __version__, "rules": rules_path.name, "rules_sha256": (result.rules.sha256 or sha256(rules_path))[:16]},
        "sender": {"name": settings.sender.name, "address": settings.sender.address},
        "signatory": settings.signatory.model_dump(), "contact": settings.contact.model_dump(),
        "diarienummer": settings.years[result.rules.year].diarienummer,
    }


def compile_pdf(source: str) -> bytes:
    import typst

    try:
        return typst.compile(source.encode("utf-8"), format="pdf", ignore_system_fonts=True)
    except Exception as exc:  # a user's template with a Typst error
        raise PayoutError(error("letter template", f"Typst could not compile the letter: {exc}")) from None


def write_letters(result: Result, rules_path: Path, folder: Path, fmt_name: str, templates: Path,
                  only: list[str] | None = None, on: Date | None = None, settings=None,
                  settings_path: Path | None = None) -> list[Path]:
    """Write one letter per recipient (and, for PDF, one combined file) into `folder`."""
    from jinja2 import TemplateError

    if fmt_name not in FORMATS:
        raise PayoutError(error("--format", f"unknown format {fmt_name!r}", "use pdf, html or md"))
    everyone = letters = build_letters(result)
    if only:
        unknown = sorted(set(only) - {l.code for l in letters})
        if unknown:
            raise PayoutError(error("--only", f"no recipient with code {', '.join(unknown)}"))
        letters = [l for l in letters if l.code in only]
    try:
        template = environment(templates, fmt_name).get_template(FORMATS[fmt_name])
    except TemplateError as exc:
        raise PayoutError(error(str(templates / FORMATS[fmt_name]), f"template cannot be loaded: {exc}")) from None
    from .settings import missing_help

    year = result.rules.year
    if settings is None:
        raise PayoutError(error("letters", "no sender settings: a letter needs a sender, a signatory, a contact, "
                                "a diarienummer and the decision date", missing_help(year)))
    if year not in settings.years:
        raise PayoutError(error(str(settings_path or "settings"), f"has no entry for {year} under years",
                                missing_help(year)))
    on = on or settings.years[year].decision_date  # never silently today's date for another year's decision
    base = context(result, rules_path, letters, on, settings)
    written = []
    try:
        for letter in letters:
            text = template.render({**base, "letters": [letter]})
            path = folder / f"{letter.stem}.{fmt_name}"
            if fmt_name == "pdf":
                path.write_bytes(compile_pdf(text))
            else:
                path.write_text(text, encoding="utf-8")
            written.append(path)
        if fmt_name == "pdf" and letters:  # always every recipient: --only must not shrink the print file
            combined = folder / f"samtliga-brev-{result.rules.year}.pdf"
            combined.write_bytes(compile_pdf(template.render({**base, "letters": everyone})))
            written.append(combined)
    except TemplateError as exc:
        raise PayoutError(error(str(templates / FORMATS[fmt_name]), f"template error: {exc}")) from None
    return written
