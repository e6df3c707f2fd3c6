"""Letters: one per recipient, in Swedish, from Jinja2 templates (Typst for PDF, HTML, Markdown).

Every value reaches a template escaped for its format (the environment's `finalize`), and
templates are rendered in a sandbox that can only load files from the templates folder.
"""

from __future__ import annotations

import bisect
import re
import shutil
import unicodedata
from dataclasses import dataclass, field
from datetime import date as Date
from functools import lru_cache
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from . import __version__, fmt, phrases
from .data import sha256
from .errors import PayoutError, error
from .pipeline import Result

TYPE_LABELS = {"kommun": "Kommun", "landsting": "Landsting/region", "regiondel": "Regiondel",
               "lan": "Länsgemensamma medel"}
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
    addressee: str = ""  # the payee's legal name: "Norrköpings kommun", "Region Gotland"
    role: str = ""  # the line under it: "Kommun 0581 i Östergötlands län"
    subject: str = ""  # who met the conditions, in sentences: the addressee, or "Dalarnas län" for county-joint money
    correction: str = ""  # after payment: the amount paid before, the new amount and the difference
    total_label: str = ""  # "Belopp som betalas ut till …", or for a correction "Nytt belopp för … efter rättelse"
    pays_now: bool = True  # whether money goes to the account now (a correction that reclaims pays nothing)
    organisation_number: str = ""
    account: str = ""  # "Bankgiro 1234-5678"

    @property
    def mark(self) -> str:
        """Who a letter is for, in the template's page marks: the pages are cut by it, never by position."""
        return f"{self.type}:{self.code}"

    @property
    def heading(self) -> str:
        """Performance money is called so only when every pot in the letter is performance money."""
        return "Prestationsbaserat statsbidrag" if all(l.performance for l in self.lines) else "Statsbidrag"


def role(recipient, county: str) -> str:
    if recipient.type == "lan":
        return f"Mottagare av de länsgemensamma medlen för {county}, utsedd av kommunerna och landstinget i länet"
    return f"{TYPE_LABELS[recipient.type]} {recipient.code} i {county}"


def build_letters(result: Result, payees: dict | None = None) -> list[Letter]:
    """One letter per recipient; addressed to the payee (payees.csv) when the run has one."""
    letters = []
    for recipient, total in result.totals():
        county = result.counties.get(recipient.county_code, recipient.county_code)
        letter = Letter(recipient.type, recipient.code, recipient.name, TYPE_LABELS[recipient.type], county,
                        f"{recipient.type}-{recipient.code}-{slug(recipient.name)}", total, fmt.kr(total))
        payee = (payees or {}).get(recipient.key)
        letter.addressee = payee.name if payee else recipient.name
        letter.role = role(recipient, county)
        letter.subject = county if recipient.type == "lan" else letter.addressee
        if payee:
            letter.organisation_number, letter.account = payee.organisation_number, payee.account_text
        rules = result.rules
        for row in result.rows_for(recipient):
            sp = result.subpot(row.subpot)
            pot = sp.pot
            checks = [{"requirement": phrases.requirement(c), "passed": c.passed,
                       "value": "" if c.kind == "flag" else phrases.value(c),  # a flag's value is its result
                       "shortfall": phrases.shortfall(c, nbsp=True)} for c in row.conditions]
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
                letter.why_nothing += [f"{pot.title}: {c['requirement']}" + (f" – {c['shortfall'] or c['value']}"
                                       if c["shortfall"] or c["value"] else "") for c in missed]  # a flag has no figure
        if letter.withheld:
            letter.withheld_text = fmt.kr(letter.withheld)
        letters.append(letter)
    return letters


def environment(templates: Path, fmt_name: str) -> SandboxedEnvironment:
    return _environment(str(Path(templates).resolve()), fmt_name)


@lru_cache(maxsize=16)
def _environment(templates: str, fmt_name: str) -> SandboxedEnvironment:
    """One environment per folder and format and process, so each template is compiled once (a tenth
    of a second for the report); Jinja reloads a template whose file changed since."""
    finalize = {"pdf": typst_escape, "md": markdown_escape}.get(fmt_name)
    return SandboxedEnvironment(
        loader=FileSystemLoader(templates), undefined=StrictUndefined, keep_trailing_newline=True,
        autoescape=fmt_name == "html", finalize=finalize, trim_blocks=True, lstrip_blocks=True, auto_reload=True,
    )


def context(result: Result, rules_path: Path, letters: list[Letter], on: Date, settings=None, sample: bool = False) -> dict:
    a = result.rules.agreement
    return {
        "year": result.rules.year, "date": on.isoformat(), "letters": letters, "sample": sample,
        "agreement": {"title": a.title, "reference": a.reference, "contact": a.contact,
                      "source": result.rules.cite(a.source)},
        "tool": {"version": __version__, "rules": rules_path.name, "rules_sha256": (result.rules.sha256 or sha256(rules_path))[:16]},
        "sender": {"name": settings.sender.name, "address": settings.sender.address},
        "logo": _logo(settings.sender.logo),
        "signatory": settings.signatory.model_dump(), "contact": settings.contact.model_dump(),
        "diarienummer": settings.years[result.rules.year].diarienummer,
    }


def _logo(path: Path | None) -> dict | None:
    """The sender's logo: a file name for Typst (copied beside the document) and a data URI for HTML."""
    if path is None:
        return None
    import base64

    from .settings import LOGO_TYPES

    data = path.read_bytes()
    return {"path": str(path), "file": "logo" + path.suffix.lower(),
            "data_uri": f"data:{LOGO_TYPES[path.suffix.lower()]};base64,{base64.b64encode(data).decode('ascii')}"}


def _typst_folder(tmp: str, logo: dict | None) -> None:
    if logo:
        shutil.copyfile(logo["path"], Path(tmp) / logo["file"])


def compile_pdf(source: str, logo: dict | None = None, beside: Path | None = None) -> bytes:
    """One Typst document to PDF (the slow way, one font subsetting per document; see `_write_pdfs`)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix=".typst-", dir=beside) as tmp:
        _typst_folder(tmp, logo)
        main = Path(tmp) / "letter.typ"
        main.write_text(source, encoding="utf-8")
        return _compile(_typst(main))


def write_letters(result: Result, rules_path: Path, folder: Path, fmt_name: str, templates: Path,
                  only: list[str] | None = None, on: Date | None = None, settings=None,
                  settings_path: Path | None = None, payees: dict | None = None, sample: bool = False,
                  progress=None, previous: dict[str, int] | None = None) -> list[Path]:
    """Write one letter per recipient (and, for PDF, one combined file) into `folder`.

    `previous`: for a correction after payment, what each recipient ('type:code') was paid before.

    `progress(done, total)` is called as letters are written, for a progress bar.
    """
    from jinja2 import TemplateError

    if fmt_name not in FORMATS:
        raise PayoutError(error("--format", f"unknown format {fmt_name!r}", "use pdf, html or md"))
    everyone = letters = build_letters(result, payees)
    for letter in letters:
        letter.total_label = f"Belopp som betalas ut till {letter.addressee}"
        letter.pays_now = bool(letter.total)
    if previous is not None:
        for letter in letters:
            before = previous.get(f"{letter.type}:{letter.code}", 0)
            letter.correction = phrases.correction(before, letter.total)
            letter.total_label = f"Nytt belopp för {letter.addressee} efter rättelse"
            letter.pays_now = letter.total > before
    if only:
        unknown = sorted(set(only) - {l.code for l in letters})
        if unknown:
            raise PayoutError(error("--only", f"no recipient with code {', '.join(unknown)}"))
        letters = [l for l in letters if l.code in only]
    try:
        template = environment(templates, fmt_name).get_template(FORMATS[fmt_name])
    except TemplateError as exc:
        raise PayoutError(error(f"{templates / FORMATS[fmt_name]}{_template_line(exc, None)}",
                                f"template cannot be loaded: {exc}")) from None
    from .settings import missing_help

    year = result.rules.year
    if settings is None:
        raise PayoutError(error("letters", "no sender settings: a letter needs a sender, a signatory, a contact, "
                                "a diarienummer and the decision date", missing_help(year)))
    if year not in settings.years:
        raise PayoutError(error(str(settings_path or "settings"), f"has no entry for {year} under years",
                                missing_help(year)))
    on = on or settings.years[year].decision_date  # never silently today's date for another year's decision
    base = context(result, rules_path, letters, on, settings, sample)
    jobs = [(folder / f"{letter.stem}.{fmt_name}", [letter]) for letter in letters]
    if fmt_name == "pdf" and letters:  # always every recipient: --only must not shrink the print file
        jobs.append((folder / f"samtliga-brev-{year}.pdf", everyone))

    own_letters = _OwnLetters(everyone, fmt_name, templates / FORMATS[fmt_name])

    def render(group: list[Letter]) -> str:
        try:
            text = template.render({**base, "letters": group})
        except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, AttributeError,
                RecursionError, MemoryError) as exc:  # a user's template may fail in any of Python's ways
            raise PayoutError(error(f"{templates / FORMATS[fmt_name]}{_template_line(exc, template.filename)}",
                                    f"template error: {type(exc).__name__}: {exc}")) from None
        own_letters(text, group)
        return text

    if fmt_name == "pdf" and letters:
        _write_pdfs(jobs, render, letters, everyone, progress, base["logo"])
        return [path for path, _ in jobs]
    sources = [(path, render(group)) for path, group in jobs]
    for count, (path, text) in enumerate(sources, 1):
        path.write_text(text, encoding="utf-8")
        if progress:
            progress(count, len(sources))
    return [path for path, _ in jobs]


def _template_line(exc: BaseException, filename: str | None) -> str:
    """":LINE" of the template where an error was raised (Jinja keeps the template's lines in the
    traceback), or "" where it cannot be told."""
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if filename and tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return f":{line}" if line else ""


class _OwnLetters:
    """Every letter shows its own recipient and amounts, and no other recipient: a template that skips
    a letter, or writes another recipient's name, total or pot lines in it (`letters[0]` inside the
    loop), must not write a letter that cannot be sent.

    - Names are whole words (Sala kommun is not in Uppsala kommun). Another recipient's name is refused
      only where it is of the letter's own kind (a landsting's letter may well name a kommun).
    - Amounts may be written as people write them: any digit grouping (space, no-break space, point,
      Typst's ~, HTML's &nbsp;), with ",00" or ":-", "kr", "kronor" or "SEK" before or after; never
      inside a larger number. The total must be shown, and so must the amount of every pot whose
      title the letter shows.
    - In a file of many letters with the marks (`"kommun:0114")) <letter-start>`), all of this holds
      between a letter's own marks; without the marks, anywhere in the file. Only what a reader sees
      counts: not comments (Typst, Markdown, HTML), nor an HTML page's head, title, scripts or styles.
    - A correction after payment (`letters --paid`), where the letter shows one ("tidigare utbetalt"),
      must be this recipient's own sentence.
    - Not caught: a template that takes single figures from another recipient (letters[0].lines[0]
      .amount_text) where this letter shows the same numbers elsewhere; the guard is a net for the
      usual mistakes, not a proof."""

    _MARK = re.compile(r'"([a-z]+:[0-9a-z]+)"\)\)\s*<letter-(start|end)>')  # values cannot write "<" unescaped
    # what a reader never sees: comments, and an HTML page's head, scripts and styles. Each pattern
    # starts with a literal character (a lookbehind comes after it), so the search skips in C to where
    # one can start; everything before <body> is one more piece, found at the start only (_blank_hidden).
    _HIDDEN = {
        "html": re.compile(r"<(?:!--.*?-->|head\b.*?</head>|title\b.*?</title>|script\b.*?</script>|"
                           r"style\b.*?</style>)", re.S),
        "md": re.compile(r"<!--.*?-->", re.S),
        "pdf": re.compile(r"/(?:(?<!\\/)\*.*?\*/|(?<![\\:]/)/[^\n]*)", re.S),  # Typst's comments
    }
    _BEFORE_BODY = {"html": re.compile(r"<(?:!--.*?-->|head\b.*?</head>|title\b.*?</title>|script\b.*?</script>|"
                                       r"style\b.*?</style>)|.*?<body[^>]*>", re.S)}

    def __init__(self, everyone: list[Letter], fmt_name: str, template: Path):
        from markupsafe import escape

        self.spelled = {"pdf": typst_escape, "md": markdown_escape}.get(fmt_name, lambda v: str(escape(v)))
        self.hidden, self.before_body = self._HIDDEN[fmt_name], self._BEFORE_BODY.get(fmt_name)
        self.name = {letter.mark: self.spelled(letter.addressee).casefold() for letter in everyone}
        self.spoken = {self.name[letter.mark]: letter.addressee for letter in everyone}
        self.types: dict[str, set[str]] = {}
        for letter in everyone:
            self.types.setdefault(self.name[letter.mark], set()).add(letter.type)
        self.names = re.compile(r"(?<!\w)(" + _trie(sorted(set(self.name.values()))) + r")(?!\w)")
        self.template = template

    def __call__(self, text: str, group: list[Letter]) -> None:
        folded = self._blank_hidden(text.casefold())
        whole = (0, len(folded))
        spans = {letter.mark: (whole, whole if len(group) == 1 else None) for letter in group}
        found: dict[tuple[str, str], int] = {}
        for m in self._MARK.finditer(folded):
            found.setdefault((m.group(1), m.group(2)), m.start() if m.group(2) == "start" else m.end())
        if len(group) > 1 and all((l.mark, k) in found for l in group for k in ("start", "end")):
            for letter in group:
                marked = (found[letter.mark, "start"], found[letter.mark, "end"])
                spans[letter.mark] = (marked, marked)
        found_names = [(m.start(), m.group(1)) for m in self.names.finditer(folded)]  # one pass over the file
        at = [position for position, _ in found_names]

        def names_in(first: int, last: int) -> set[str]:
            return {name for _, name in found_names[bisect.bisect_left(at, first):bisect.bisect_left(at, last)]}

        found_amounts = _amounts(folded)
        amounts_at = [position for position, _ in found_amounts]

        def amounts_in(first: int, last: int) -> set[int]:
            return {kr for _, kr in found_amounts[bisect.bisect_left(amounts_at, first):
                                                  bisect.bisect_left(amounts_at, last)]}

        for letter in group:
            (first, last), strict = spans[letter.mark]
            said = self._wrong(letter, folded, first, last, strict, names_in, amounts_in(first, last))
            if said:
                raise PayoutError(error(str(self.template), f"the letter to {letter.addressee} ({letter.type} "
                                        f"{letter.code}) {said}", "inside the loop over letters, use `letter` "
                                        "(letter.addressee, letter.total_text, letter.lines), not letters[0]"))

    def _blank_hidden(self, folded: str) -> str:
        """What a reader never sees, as spaces: the same length, so marks keep their places."""
        first = self.before_body.match(folded) if self.before_body is not None else None
        start = first.end() if first is not None else 0  # the page's start up to <body>: found at the start only
        return " " * start + self.hidden.sub(lambda m: " " * len(m.group()), folded[start:])

    def _wrong(self, letter: Letter, folded: str, first: int, last: int, strict, names_in,
               amounts: set[int]) -> str | None:
        own = self.name[letter.mark]
        others = set() if strict is None else {
            name for name in names_in(*strict) - {own} if letter.type in self.types[name]}
        if others:
            named = ", ".join(sorted(self.spoken[o] for o in others))
            return (f"also names {named}, another recipient: the template wrote another recipient's name in it "
                    f"(or payees.csv gives {named} as a payee's name, a word the letters use)")
        if own not in names_in(first, last):
            return "does not show its recipient's name: the template skipped it or wrote another recipient's letter"
        if letter.total not in amounts:
            return (f"does not show its amount, {letter.total_text} (digits, and kr, kronor or SEK): the template "
                    "skipped it or wrote another recipient's amount")
        part = folded[first:last]
        if letter.correction and phrases.CORRECTION_WORDS in part and \
                self.spelled(letter.correction).casefold() not in part:
            return (f"shows a correction that is not this recipient's ({letter.correction}): the template wrote "
                    "another recipient's correction")
        for line in letter.lines:
            if self.spelled(line.title).casefold() in part and line.amount not in amounts:
                return (f"shows the pot \u201c{line.title}\u201d without its amount for this recipient, "
                        f"{line.amount_text}: the template wrote another recipient's pot lines")
        return None


_GAP = r"(?:[ \u00a0\u202f.~]|\\~|&nbsp;|&#160;|&#xa0;)"  # between digit groups, as people and formats write them
_GAPS = ("[ \u00a0\u202f.~]", r"\\~", "&nbsp;", "&#160;", "&#xa0;")
_AFTER_DIGIT = "".join(rf"(?<!\d{gap})" for gap in _GAPS)  # not a group of a longer number
_AFTER_DIGIT_FROM_NEXT = "".join(rf"(?<!\d{gap}\d)" for gap in _GAPS)  # the same, looked at from the next digit
_FIGURE = rf"(?<![\d.,]){_AFTER_DIGIT}(\d{{1,3}}(?:{_GAP}?\d{{3}})*)(?:,00|,\\?-)?(?!{_GAP}?\d)"  # \- \~: Typst's
_AFTER_FIGURE = rf"(?:,00|,\\?-)?(?!{_GAP}?\d){_GAP}*(?:kr\b|kronor|sek|:\\?-)"
# every amount in kronor a letter shows (see _OwnLetters), whole, never a part of a larger number: "kr"
# or "sek" and a figure, or a figure and "kr", "kronor", "sek" or ":-". The pattern starts with the
# character class of their first characters, so the search skips in C to where one can start; for a
# figure, its first digit is that character, and what must not stand before it is looked behind from
# the second (as _FIGURE does from the first).
_AMOUNTS = re.compile(
    rf"[ks0-9](?:(?<=k)r{_GAP}*{_FIGURE}|(?<=s)ek{_GAP}*{_FIGURE}|"
    rf"(?<=\d)(?<![\d.,]\d){_AFTER_DIGIT_FROM_NEXT}(\d{{0,2}}(?:{_GAP}?\d{{3}})*){_AFTER_FIGURE})")


def _amounts(folded: str) -> list[tuple[int, int]]:
    """(position, kronor) of every amount in a text, in one pass."""
    return [(m.start(), int(re.sub(r"&#x?[0-9a-f]+;|\D", "", m.group(1) or m.group(2) or m.group()[0] + m.group(3))))
            for m in _AMOUNTS.finditer(folded)]


def _trie(words: list[str]) -> str:
    """One regular expression for many words, as a tree of their letters: scanning a file of 166 letters
    for 332 names takes a tenth of the time of a plain alternation. A run of letters without a branch
    is written in one piece, so a long name is no deeper than its branches."""
    tree: dict = {}
    for word in words:
        node = tree
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def pattern(node: dict) -> str:
        branches = []
        for ch, child in sorted(node.items()):
            if not ch:
                continue
            run = [ch]
            while "" not in child and len(child) == 1:  # one way on: no branch, no end of a word
                (ch, child), = child.items()
                run.append(ch)
            branches.append(re.escape("".join(run)) + pattern(child))
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return pattern(tree)


def _write_pdfs(jobs, render, letters: list[Letter], everyone: list[Letter], progress, logo: dict | None = None) -> None:
    """All letters as Typst documents compiled in two halves, each cut into one file per letter, then
    joined into the combined file.

    One compilation is several times faster than one per letter (each PDF costs its own font
    subsetting). Typst lays out on all cores but leaves some of them idle, so the halves are
    pipelined: while Typst compiles one half in a thread, Python renders the next half or cuts the
    previous one into letters (measured faster than both halves at once, or one whole). The template
    marks where each letter starts and ends, and for whom (`<letter-start>`, `<letter-end>`); a
    template without such marks gets one compilation per letter instead.
    """
    import io
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    import pikepdf

    *singles, (combined_path, _) = jobs
    wanted = {(letter.type, letter.code): path for (path, _), letter in zip(singles, letters)}
    total, done = len(singles) + 1, 0
    half = (len(everyone) + 1) // 2
    parts = [part for part in (everyone[:half], everyone[half:]) if part]
    halves: list[tuple[pikepdf.Pdf, int | None]] = []  # each compiled half, read once, and a back page of it
    # the Typst sources (every payee's name, account and amount) inside the hidden staging folder, never
    # loose in /tmp: a killed command leaves them where the next command tidies them away
    staging = combined_path.parent
    try:
        with tempfile.TemporaryDirectory(prefix=".typst-", dir=staging) as tmp, \
                ThreadPoolExecutor(1) as typst_thread:
            _typst_folder(tmp, logo)

            def source(number: int) -> Path:
                main = Path(tmp) / f"letters-{number}.typ"
                main.write_text(render(parts[number]), encoding="utf-8")
                return main

            running = typst_thread.submit(_compile_marked, source(0))
            for number, part in enumerate(parts):
                following = source(number + 1) if number + 1 < len(parts) else None  # rendered while Typst works
                pdf, starts, ends = running.result()
                document = pikepdf.open(io.BytesIO(pdf))
                halves.append((document, None))
                pages = _ranges(part, starts, ends)
                backs = None if pages is None else _back_pages(document, pages)
                if backs is None:
                    _write_one_by_one(singles, combined_path, render, everyone, progress, logo, staging)
                    return
                if following is not None:
                    running = typst_thread.submit(_compile_marked, following)  # laid out while this half is cut
                done = _cut(document, part, pages, wanted, done, total, progress)
                halves[-1] = (document, backs[0] if backs else None)
        _join(halves, combined_path, everyone[0].heading)
    finally:
        for document, _ in halves:
            document.close()
    if progress:
        progress(total, total)


def _compile_marked(main: Path) -> tuple[bytes, list[dict], list[dict]]:
    compiler = _typst(main)
    return _compile(compiler), _marks(compiler, "<letter-start>"), _marks(compiler, "<letter-end>")


def _cut(document, part: list[Letter], pages: dict[str, tuple[int, int]], wanted: dict, done: int, total: int,
         progress) -> int:
    """Each wanted letter of one compiled half as its own file (the same letter gives the same bytes)."""
    import io

    import pikepdf

    for letter in part:
        path = wanted.get((letter.type, letter.code))
        if path is None:
            continue
        start, end = pages[letter.mark]
        with pikepdf.new() as single:
            single.pages.extend(document.pages[start - 1:end])
            single.docinfo["/Title"] = f"{letter.heading} – {letter.addressee}"
            single.docinfo["/Producer"] = "skl-payout"
            buffer = io.BytesIO()
            single.save(buffer, deterministic_id=True)
        path.write_bytes(buffer.getvalue())
        done += 1
        if progress:
            progress(done, total)
    return done


def _back_pages(document, pages: dict[str, tuple[int, int]]) -> list[int] | None:
    """The pages outside the letters' marks, if the marked ranges tile the whole document and leave
    out only back pages Typst left empty (one even page after a letter that ends on an odd one, all
    alike); None otherwise. Marks that misstate their pages, or content the template puts outside
    them, must never be cut into letters."""
    backs, following = [], 1
    for first, last in sorted(pages.values()):
        if first == following + 1 and following % 2 == 0:
            backs.append(following)
        elif first != following:
            return None
        following = last + 1
    if following != len(document.pages) + 1 or len({_content(document.pages[b - 1]) for b in backs}) > 1:
        return None
    return backs


def _content(page) -> bytes:
    import pikepdf

    contents = page.obj.get("/Contents")
    if contents is None:
        return b""
    if isinstance(contents, pikepdf.Array):
        return b"".join(part.read_bytes() for part in contents)
    return contents.read_bytes()


def _join(halves: list, path: Path, heading: str) -> None:
    """The combined file for printing: every letter starts on an odd page (duplex), joined where
    needed by a back page as Typst makes them (with the page's own background, the sample data's
    EXEMPEL mark)."""
    import io

    import pikepdf

    with pikepdf.new() as combined:
        back = None
        for document, back_page in halves:
            if len(combined.pages) % 2:  # the next letter starts on an odd page
                if back is not None:
                    combined.pages.append(back)
                else:
                    combined.add_blank_page(page_size=tuple(combined.pages[0].mediabox[2:]))
            combined.pages.extend(document.pages)
            if back is None and back_page is not None:
                back = combined.pages[len(combined.pages) - len(document.pages) + back_page - 1]
        combined.docinfo["/Title"] = f"{heading} – samtliga brev"
        combined.docinfo["/Producer"] = "skl-payout"
        buffer = io.BytesIO()
        combined.save(buffer, deterministic_id=True)
    path.write_bytes(buffer.getvalue())


def _write_one_by_one(singles, combined_path: Path, render, everyone, progress, logo, staging: Path) -> None:
    """The slow way, for a template without the letter marks: one compilation per file."""
    combined_path.write_bytes(compile_pdf(render(everyone), logo, staging))
    for count, (path, group) in enumerate(singles, 1):
        path.write_bytes(compile_pdf(render(group), logo, staging))
        if progress:
            progress(count, len(singles) + 1)


def _ranges(part: list[Letter], starts: list[dict], ends: list[dict]) -> dict[str, tuple[int, int]] | None:
    """Each letter's pages (first, last) by recipient, from the template's marks; None unless the marks
    name every letter of this part exactly once, each start followed by the same recipient's end, in
    page ranges that neither run backwards nor share a page. A template that marks wrongly, or sorts
    the letters its own way without naming them, must never put one recipient's page into another's
    letter: it gets one compilation per letter instead."""
    if len(starts) != len(part) or len(ends) != len(part):
        return None
    pairs = [(start["recipient"], start["page"], end["recipient"], end["page"]) for start, end in zip(starts, ends)]
    if any(who != whose for who, _, whose, _ in pairs) or sorted(who for who, *_ in pairs) != sorted(l.mark for l in part) \
            or len({who for who, *_ in pairs}) != len(pairs):
        return None
    bounds = [page for _, first, _, last in pairs for page in (first, last)]
    if not all(0 < first <= last for first, last in zip(bounds[::2], bounds[1::2])) or \
            not all(last < first for last, first in zip(bounds[1::2], bounds[2::2])):
        return None
    return {who: (first, last) for who, first, _, last in pairs}


def _typst(main: Path):
    import typst

    return typst.Compiler(input=str(main), root=str(main.parent), ignore_system_fonts=True)


def _compile(compiler) -> bytes:
    try:
        # untagged: a tagged PDF takes many times longer to write; the HTML letters are the accessible form
        return compiler.compile(format="pdf", pdf_tags=False)
    except Exception as exc:  # a user's template with a Typst error
        raise PayoutError(error("letter template", f"Typst could not compile the letters: {exc}")) from None


def _marks(compiler, label: str) -> list[dict]:
    """The template's marks with this label, in document order: {"page": int, "recipient": "kommun:0114"};
    [] if there are none or any is of another shape (then each letter is compiled on its own)."""
    import json

    try:
        values = json.loads(compiler.query(label, field="value"))
    except Exception:  # a template without the marks
        return []
    ok = isinstance(values, list) and all(
        isinstance(v, dict) and isinstance(v.get("page"), int) and not isinstance(v.get("page"), bool)
        and isinstance(v.get("recipient"), str) for v in values)
    return values if ok else []
