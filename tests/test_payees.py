"""Payees: legal names, organisation numbers and giro numbers checked by their check digits; letters
refuse without a payee; the sample data is marked EXEMPEL, real data is not."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import SAMPLE, cli
from skl_payout.payees import parse_account, parse_organisation_number


def test_organisation_numbers_and_giros_are_checked_by_their_check_digit():
    assert parse_organisation_number("2120000142") == ("212000-0142", None)
    assert "check digit" in parse_organisation_number("212000-0143")[1]
    assert "ten digits" in parse_organisation_number("21200-0142")[1]
    assert parse_account("bankgiro", "5050-1055") == ("5050-1055", None)
    assert "check digit" in parse_account("bankgiro", "5050-1056")[1]
    assert "not bankgiro or plusgiro" in parse_account("iban", "SE45")[1]


@pytest.fixture
def data(tmp_path):
    target = tmp_path / "data"
    shutil.copytree(SAMPLE / "2011", target)
    return target


def _edit_payees(data, old, new):
    path = data / "payees.csv"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_mistyped_organisation_number_stops_the_run_naming_row_and_column(data, tmp_path):
    row = [l for l in (data / "payees.csv").read_text(encoding="utf-8").splitlines() if ",0581," in l][0]
    number = row.split(",")[3]
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    _edit_payees(data, number, wrong)
    done = cli("run", "--year", "2011", "--data", str(data), "--out", str(tmp_path / "out"))
    assert done.returncode != 0
    assert "payees.csv row 53, column organisation_number" in done.stderr and "check digit" in done.stderr
    assert not (tmp_path / "out").exists()


def test_letters_refuse_a_run_without_payees_and_name_the_missing_ones(data, tmp_path):
    out = tmp_path / "out"
    lines = (data / "payees.csv").read_text(encoding="utf-8").splitlines()
    (data / "payees.csv").write_text("\n".join(l for l in lines if ",0581," not in l) + "\n", encoding="utf-8")
    done = cli("run", "--year", "2011", "--data", str(data), "--out", str(out))
    assert done.returncode == 0 and "no payee for 1 recipient(s)" in done.stderr
    done = cli("letters", "--out", str(out), "--format", "md")
    assert done.returncode != 0 and "kommun 0581 Norrköping" in done.stderr
    (data / "payees.csv").unlink()
    assert cli("run", "--year", "2011", "--data", str(data), "--out", str(out)).returncode == 0
    done = cli("letters", "--out", str(out), "--format", "md")
    assert done.returncode != 0 and "payees.csv" in done.stderr and not (out / "letters").exists()


def test_letters_go_to_the_legal_payee_and_only_sample_data_is_marked(data, tmp_path):
    out = tmp_path / "out"
    assert cli("run", "--year", "2011", "--data", str(data), "--out", str(out)).returncode == 0
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["sample_data"] is True
    assert cli("letters", "--out", str(out), "--format", "md", "--date", "2012-03-01").returncode == 0
    letter = next((out / "letters").glob("kommun-0581-*.md")).read_text(encoding="utf-8")
    assert "**Norrköpings kommun**" in letter and "EXEMPEL – syntetiska registeruppgifter" in letter
    county = next((out / "letters").glob("lan-20-*.md")).read_text(encoding="utf-8")
    assert "**Landstinget Dalarna**" in county and "länsgemensamma medlen för Dalarnas län" in county
    assert "EXEMPEL" in (out / "report.html").read_text(encoding="utf-8")
    (data / "SYNTHETIC.txt").unlink()  # real data: no mark
    real = tmp_path / "real"
    assert cli("run", "--year", "2011", "--data", str(data), "--out", str(real)).returncode == 0
    assert cli("letters", "--out", str(real), "--format", "md", "--date", "2012-03-01").returncode == 0
    letter = next((real / "letters").glob("kommun-0581-*.md")).read_text(encoding="utf-8")
    assert "EXEMPEL – syntetiska" not in letter and "EXEMPEL – syntetiska" not in \
        (real / "report.html").read_text(encoding="utf-8")


def test_the_combined_pdf_starts_every_letter_on_an_odd_page_and_each_letter_is_one_page(pdf_letters):
    from pypdf import PdfReader

    out, pages = pdf_letters
    singles = [p for p in (out / "letters").glob("*.pdf") if not p.name.startswith("samtliga")]
    assert all(len(PdfReader(p).pages) == 1 for p in singles)
    assert len(pages) == 2 * len(singles) - 1  # each letter, then a blank back page
    assert sum("Organisationsnummer" in text for text in pages[::2]) == len(singles)
    assert all(text and text.strip() == "EXEMPEL" for text in pages[1::2])  # every back page, as Typst makes them


def test_a_pdf_template_without_the_marks_still_gets_every_letter(tmp_path):
    from pypdf import PdfReader

    from conftest import ROOT, read_csv, write_dataset
    from test_faults import LANDSTING, kommuner

    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    source = templates / "letter.typ.j2"
    text = source.read_text(encoding="utf-8")
    source.write_text(text.replace("<letter-start>", "").replace("<letter-end>", ""), encoding="utf-8")
    data = write_dataset(tmp_path / "data", kommuner(150), LANDSTING)  # a small country: the slow way is slow
    out = tmp_path / "out"
    assert cli("run", "--rules", str(ROOT / "rules" / "2011.yaml"), "--data", str(data), "--out", str(out)).returncode == 0
    done = cli("letters", "--out", str(out), "--templates", str(templates), "--only", "0180", "--only", "03")
    assert done.returncode == 0, done.stderr
    letters = sorted(p.name for p in (out / "letters").glob("*.pdf"))
    assert [n.split("-")[:2] for n in letters] == [["kommun", "0180"], ["lan", "03"], ["landsting", "03"],
                                                   ["samtliga", "brev"]]
    assert "Stockholm" in PdfReader(out / "letters" / letters[0]).pages[0].extract_text()
    count = len(read_csv(out / "totals.csv"))
    assert len(PdfReader(out / "letters" / "samtliga-brev-2011.pdf").pages) == 2 * count - 1  # every letter


def test_marks_that_overlap_run_backwards_or_name_others_are_not_used_to_cut_letters():
    from types import SimpleNamespace

    from skl_payout.letters import _ranges

    two = [SimpleNamespace(mark="kommun:0114"), SimpleNamespace(mark="kommun:0115")]

    def marks(*pairs):
        return [{"page": page, "recipient": who} for who, page in pairs]

    a, b = "kommun:0114", "kommun:0115"
    assert _ranges(two, marks((a, 1), (b, 3)), marks((a, 1), (b, 4))) == {a: (1, 1), b: (3, 4)}
    assert _ranges(two, marks((b, 1), (a, 3)), marks((b, 1), (a, 3))) == {b: (1, 1), a: (3, 3)}  # sorted its own way
    assert _ranges(two, marks((a, 1), (b, 1)), marks((a, 1), (b, 1))) is None  # two letters on one page
    assert _ranges(two, marks((a, 1), (b, 3)), marks((a, 3), (b, 3))) is None  # the first runs into the second
    assert _ranges(two, marks((a, 2), (b, 1)), marks((a, 2), (b, 1))) is None  # backwards
    assert _ranges(two, marks((a, 1)), marks((a, 1))) is None  # a letter missing
    assert _ranges(two, marks((a, 1), (a, 3)), marks((a, 1), (a, 3))) is None  # one recipient twice
    assert _ranges(two, marks((a, 1), (b, 3)), marks((b, 1), (a, 3))) is None  # a start and another's end
    assert _ranges(two, marks((a, 1), ("kommun:0117", 3)), marks((a, 1), ("kommun:0117", 3))) is None  # a stranger


def run_with_edited_template(tmp_path: Path, name: str, edit: tuple) -> tuple[Path, Path, Path]:
    """The shipped templates with an edit to `name` (old, new), or several ((old, new), ...), and a run of
    a small data set: (templates, data, out)."""
    from conftest import ROOT, write_dataset
    from test_faults import LANDSTING, kommuner

    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    source = templates / name
    text = source.read_text(encoding="utf-8")
    for old, new in edit if isinstance(edit[0], tuple) else [edit]:
        assert old in text
        text = text.replace(old, new)
    source.write_text(text, encoding="utf-8")
    data = write_dataset(tmp_path / "data", kommuner(150), LANDSTING)
    out = tmp_path / "out"
    assert cli("run", "--rules", str(ROOT / "rules" / "2011.yaml"), "--data", str(data), "--out", str(out)).returncode == 0
    return templates, data, out


@pytest.mark.parametrize("edit", [
    ("{% for letter in letters %}", '{% for letter in letters|sort(attribute="addressee", reverse=true) %}'),
    ("page: here().page()", "page: here().page() + 2"),  # marks that misstate their pages
    ("<letter-end>]\n", "<letter-end>]\n#pagebreak()\nBilaga till {{ letter.addressee }}\n"),  # content outside them
], ids=["sorted", "pages-misstated", "content-outside-the-marks"])
def test_a_template_that_sorts_or_mismarks_the_letters_still_gives_each_recipient_its_own_letter(tmp_path, edit):
    """The combined file may be in the template's order; each single file still holds its own
    recipient's letter: the pages are cut by the recipient named in the marks, and only where the
    marked ranges tile the document (else each letter is compiled on its own)."""
    from pypdf import PdfReader

    from conftest import read_csv

    templates, data, out = run_with_edited_template(tmp_path, "letter.typ.j2", edit)
    done = cli("letters", "--out", str(out), "--templates", str(templates))
    assert done.returncode == 0, done.stderr
    payees = {(r["type"], r["code"]): r["payee"] for r in read_csv(data / "payees.csv")}
    for row in read_csv(out / "totals.csv"):
        single = next((out / "letters").glob(f"{row['recipient_type']}-{row['code']}-*.pdf"))
        text = " ".join(page.extract_text() for page in PdfReader(single).pages).replace("\u00a0", " ")
        assert payees[row["recipient_type"], row["code"]] in text, (single.name, text[:300])
        if "Bilaga" in edit[1]:  # what the template puts after a letter belongs to that letter's file
            assert f"Bilaga till {payees[row['recipient_type'], row['code']]}" in " ".join(text.split()), single.name
        amount = f"{int(row['amount_sek']):,}".replace(",", " ") + " kr"
        assert f"Belopp som betalas ut till {payees[row['recipient_type'], row['code']]}: {amount}" in \
            " ".join(text.split()), (single.name, text[:600])

@pytest.mark.parametrize("fmt, edit, said", [
    ("pdf", ("{% for letter in letters %}", "{% for letter in letters %}{% set letter = letters[0] %}"),
     "letter to Stockholm kommun (kommun 0180) does not show its recipient's name"),  # one, repeated
    ("pdf", ("*{{ letter.addressee }}* \\", "*{{ letters[0].addressee }}* \\"),  # the address block only
     "letter to Stockholm kommun (kommun 0180) also names Upplands Väsby kommun"),
    ("md", ("{% for letter in letters %}", '{% for letter in letters if letter.code != "0114" %}'),  # skips one
     "letter to Upplands Väsby kommun (kommun 0114) does not show its recipient's name"),
    ("html", ("{% for letter in letters %}", '{% for letter in letters if letter.code != "0114" %}'),
     "letter to Upplands Väsby kommun (kommun 0114) does not show its recipient's name"),
    ("pdf", ("{% for letter in letters %}", '{% for letter in letters if letter.code != "0114" %}'),
     "letter to Upplands Väsby kommun (kommun 0114) does not show its recipient's name"),
    ("pdf", ("{% for line in letter.lines %}", "{% for line in letters[0].lines %}"),  # another's pot lines
     "letter to Stockholm kommun (kommun 0180) shows the pot"),
    ("html", ("{% for letter in letters %}", '{% for letter in letters if letter.code != "0114" %}<!-- '
              '{{ letters[0].addressee }} {{ letters[0].total_text }} -->'),  # in a comment, or the title, is not shown
     "letter to Upplands Väsby kommun (kommun 0114) does not show its recipient's name"),
    ("md", (("{% for letter in letters %}", "{% for letter in letters %}<!-- {{ letter.addressee }} "
             "{{ letter.total_text }} -->Beloppet meddelas senare.{% if false %}"),
            ("{{ line }}{% endfor %}{{ \"\" }}\n\n{% endfor %}", "{{ line }}{% endfor %}{{ \"\" }}\n{% endif %}\n{% endfor %}")),
     "letter to Upplands Väsby kommun (kommun 0114) does not show its recipient's name"),  # only in a comment
    ("pdf", (("<letter-end>]\n", "]\n"),  # the end mark at once after the start mark, the letter after both
             ("<letter-start>]\n", "<letter-start>]\n#context [#metadata((page: here().page(), recipient: "
              "\"{{ letter.mark }}\")) <letter-end>]\n{% if not loop.first %}Kopia: {{ letters[0].addressee }}{% endif %}\n")),
     "letter to Upplands Väsby kommun (kommun 0114) does not show its recipient's name"),
], ids=["pdf-letters0", "pdf-address-of-another", "md-skips", "html-skips", "pdf-skips", "pdf-lines-of-another",
        "html-hidden", "md-in-a-comment", "pdf-empty-marks"])
def test_a_template_that_skips_a_letter_or_names_another_recipient_is_refused(tmp_path, fmt, edit, said):
    """A letter that does not name its own recipient cannot be sent: such a template is refused, with
    the recipient named, and no letter is written (before, a skipped letter was a blank file, and
    `letters[0]` inside the loop put the first recipient's name into every letter of the print file)."""
    from conftest import snapshot

    source = {"pdf": "letter.typ.j2", "md": "letter.md.j2", "html": "letter.html.j2"}[fmt]
    templates, data, out = run_with_edited_template(tmp_path, source, edit)
    before = snapshot(out)
    done = cli("letters", "--out", str(out), "--templates", str(templates), "--format", fmt)
    assert done.returncode == 1, done.stdout + done.stderr
    told = " ".join(done.stderr.split())
    assert said in told and "letters[0]" in told and source in told, told
    assert snapshot(out) == before and not (out / "letters").exists()
    unchanged = cli("letters", "--out", str(out), "--format", fmt)  # the shipped template names everyone
    assert unchanged.returncode == 0, unchanged.stderr


def test_the_typst_sources_never_lie_loose_in_tmp(tmp_path, monkeypatch):
    """They hold every payee's name, account and amount: they are written in the hidden staging folder
    beside the output (which the next command tidies if this one is killed), and gone afterwards."""
    from conftest import ROOT, write_dataset
    from skl_payout import letters
    from test_faults import LANDSTING, kommuner

    data = write_dataset(tmp_path / "data", kommuner(150), LANDSTING)
    out = tmp_path / "out"
    assert cli("run", "--rules", str(ROOT / "rules" / "2011.yaml"), "--data", str(data), "--out", str(out)).returncode == 0
    seen, compile_marked = [], letters._compile_marked
    monkeypatch.setattr(letters, "_compile_marked", lambda main: (seen.append(main), compile_marked(main))[1])
    assert cli("letters", "--out", str(out)).returncode == 0
    assert seen and all(main.is_relative_to(out) and ".skl-payout-" in str(main) for main in seen), seen
    assert not any(main.exists() for main in seen)
    assert not [p for p in out.rglob("*") if ".typst-" in p.name or p.suffix == ".typ"]


def test_a_letters_own_name_and_amount_are_whole_words_in_its_own_part():
    """Names as whole words (Sala kommun is not in Uppsala kommun), amounts in any grouping but never
    inside a larger one (500 000 kr is not in 2 500 000 kr), and a payee name that looks like a mark
    does not move where a letter begins (the hostile tester's cases)."""
    from types import SimpleNamespace

    from skl_payout.errors import PayoutError
    from skl_payout.letters import _OwnLetters

    def letter(code, name, total):
        return SimpleNamespace(mark=f"kommun:{code}", addressee=name, total=total, type="kommun", code=code,
                               total_text=f"{total:,} kr".replace(",", "\u00a0"), lines=[], correction="")

    sala, uppsala = letter("1984", "Sala kommun", 500000), letter("0380", "Uppsala kommun", 2500000)
    check = _OwnLetters([sala, uppsala], "md", Path("letter.md.j2"))
    check("Till Sala kommun: 500\u00a0000 kr", [sala])
    check("Till Sala kommun: 500000 kronor", [sala])  # a template's own spelling of the amount
    check("Till Sala kommun: 500 000 kr", [sala])
    for spelled in ("500.000 kr", "500 000,00 kr", "500 000:-", "SEK 500 000"):  # as Swedish letters write amounts
        check(f"Till Sala kommun: {spelled}", [sala])
    for wrong in ("Till Uppsala kommun: 500 000 kr", "Till Sala kommun: 2 500 000 kr", "Till Sala kommun: 500 000,50 kr",
                  "Till Sala kommun: 500 000 kr, som Uppsala kommun", ""):
        with pytest.raises(PayoutError):
            check(wrong, [sala])

    def marked(who, name, amount):
        return (f'#metadata((recipient: "{who.mark}")) <letter-start>\n*{name}* {amount}\n'
                f'#metadata((recipient: "{who.mark}")) <letter-end>\n')

    check = _OwnLetters([sala, uppsala], "pdf", Path("letter.typ.j2"))
    both = marked(sala, "Sala kommun", "500 000 kr") + marked(uppsala, "Uppsala kommun", "2 500 000 kr")
    check(both, [sala, uppsala])
    spoofed = letter("1984", 'Sala kommun "kommun:0380"', 500000)  # a name quoting another letter's mark
    check = _OwnLetters([spoofed, uppsala], "pdf", Path("letter.typ.j2"))
    check(marked(spoofed, 'Sala kommun "kommun:0380"', "500 000 kr") + marked(uppsala, "Uppsala kommun", "2 500 000 kr"),
          [spoofed, uppsala])
    swapped = marked(sala, "Uppsala kommun", "500 000 kr") + marked(uppsala, "Uppsala kommun", "2 500 000 kr")
    with pytest.raises(PayoutError, match="Sala kommun \\(kommun 1984\\) also names Uppsala kommun"):
        _OwnLetters([sala, uppsala], "pdf", Path("letter.typ.j2"))(swapped, [sala, uppsala])


def test_a_very_long_payee_name_is_checked_not_a_crash():
    """The names' pattern is a tree of letters; a long name without branches is one piece of it, so a
    500-character name is no deeper than its branches (it was a RecursionError)."""
    from types import SimpleNamespace

    from skl_payout.letters import _OwnLetters

    long = "V" * 600 + " kommun"
    who = SimpleNamespace(mark="kommun:0114", addressee=long, total=5, type="kommun", code="0114",
                          total_text="5 kr", lines=[], correction="")
    other = SimpleNamespace(mark="kommun:0115", addressee="Vallentuna kommun", total=7, type="kommun", code="0115",
                            total_text="7 kr", lines=[], correction="")
    _OwnLetters([who, other], "md", Path("letter.md.j2"))(f"Till {long}: 5 kr", [who])


def test_a_template_that_fails_in_python_is_a_template_error(tmp_path):
    """Any error a user's template raises while it renders (1/0, a wrong type) is said as the template's
    error, never as an internal error of the tool."""
    templates, _, out = run_with_edited_template(
        tmp_path, "letter.md.j2", ("{% for letter in letters %}", "{% for letter in letters %}{{ 1/0 }}"))
    done = cli("letters", "--out", str(out), "--templates", str(templates), "--format", "md")
    assert done.returncode == 1 and "internal error" not in done.stderr, done.stderr
    line = next(i for i, text in enumerate((templates / "letter.md.j2").read_text(encoding="utf-8").splitlines(), 1)
                if "1/0" in text)
    assert "template error: ZeroDivisionError" in done.stderr and f"letter.md.j2:{line}" in done.stderr, done.stderr


def test_a_correction_shown_must_be_the_recipients_own():
    """After payment (`letters --paid`), a letter that shows a correction must show its own: another
    recipient's "tidigare utbetalt ..., Skillnaden ..." would ask the wrong money back."""
    from types import SimpleNamespace

    from skl_payout import phrases
    from skl_payout.errors import PayoutError
    from skl_payout.letters import _OwnLetters

    def letter(code, name, before, total):
        return SimpleNamespace(mark=f"kommun:{code}", addressee=name, total=total, type="kommun", code=code,
                               total_text=f"{total} kr", lines=[], correction=phrases.correction(before, total))

    ale, alvesta = letter("1440", "Ale kommun", 300, 200), letter("0764", "Alvesta kommun", 100, 250)
    check = _OwnLetters([ale, alvesta], "md", Path("letter.md.j2"))
    check(f"Till Ale kommun: 200 kr. {ale.correction}", [ale])
    check("Till Ale kommun: 200 kr.", [ale])  # a template may leave the correction out
    with pytest.raises(PayoutError, match="correction that is not this recipient's"):
        check(f"Till Ale kommun: 200 kr. {alvesta.correction}", [ale])


def test_a_template_that_cannot_be_read_is_named_with_its_line(tmp_path):
    templates, _, out = run_with_edited_template(
        tmp_path, "letter.md.j2", ("{% for letter in letters %}", "{% for letter in letters %}\n{{ letter.addressee"))
    done = cli("letters", "--out", str(out), "--templates", str(templates), "--format", "md")
    assert done.returncode == 1 and "template cannot be loaded" in done.stderr, done.stderr
    assert re.search(r"letter\.md\.j2:\d+: template cannot be loaded", done.stderr), done.stderr


# --- the letter guard's patterns: quick, and the same as their plain reading ---------------------

_PLAIN_GAP = r"(?:[ \u00a0\u202f.~]|\\~|&nbsp;|&#160;|&#xa0;)"
_PLAIN_FIGURE = (rf"(?<![\d.,])(?<!\d[ \u00a0\u202f.~])(?<!\d\\~)(?<!\d&nbsp;)(?<!\d&#160;)(?<!\d&#xa0;)"
                 rf"(\d{{1,3}}(?:{_PLAIN_GAP}?\d{{3}})*)(?:,00|,\\?-)?(?!{_PLAIN_GAP}?\d)")
PLAIN_AMOUNTS = re.compile(rf"(?=[ks0-9])(?:(?:kr|sek){_PLAIN_GAP}*{_PLAIN_FIGURE}|"  # an amount starts with an ASCII digit
                           rf"{_PLAIN_FIGURE}{_PLAIN_GAP}*(?:kr\b|kronor|sek|:\\?-))")
PLAIN_HIDDEN = {
    "html": re.compile(r"<!--.*?-->|<head\b.*?</head>|<title\b.*?</title>|<script\b.*?</script>|"
                       r"<style\b.*?</style>|\A.*?<body[^>]*>", re.S),
    "md": re.compile(r"<!--.*?-->", re.S),
    "pdf": re.compile(r"(?<!\\)/\*.*?\*/|(?<![\\:])//[^\n]*", re.S),
}
AMOUNT_PIECES = ["kr", "sek", "kronor", ":-", ":\\-", ",00", ",-", ",\\-", ",", " ", "\u00a0", "\u202f", ".", "~",
                 "\\~", "&nbsp;", "&#160;", "&#xa0;", "1", "23", "456", "0", "7 000", "\u0663", "x", "k", "s", "b"]
HIDDEN_PIECES = ["<!--", "-->", "<head>", "</head>", "<title>", "</title>", "<script>", "</script>", "<style>",
                 "</style>", "<body>", "<body class=x>", "/*", "*/", "//", "/", "\\", ":", "\n", "<", "x", " "]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(AMOUNT_PIECES), max_size=20).map("".join))
@example("x.1 kr 2.500 kr 3,4 kr 5 6 kr 7\\~8 kr kr 9 sek,00 10 ,- 11:- \u0663kr 1&#160;000 kr")
def test_the_letter_guards_quick_amounts_are_what_their_plain_reading_finds(text):
    """_AMOUNTS starts with a character class, so the search skips in C to where an amount can
    start; it finds exactly what the plain pattern above finds."""
    from skl_payout.letters import _amounts

    plain = [(m.start(), int(re.sub(r"&#x?[0-9a-f]+;|\D", "", m.group(1) or m.group(2))))
             for m in PLAIN_AMOUNTS.finditer(text)]
    assert _amounts(text) == plain


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(HIDDEN_PIECES), max_size=20).map("".join))
@example("<!-- a --><head>x</head><body>y<script>z</script> a\\/* b */ c:// d // e")
def test_the_letter_guards_quick_hidden_parts_are_what_their_plain_reading_finds(text):
    """What a reader never sees, blanked by patterns that start with a character, is what the plain
    patterns above blank."""
    from skl_payout.letters import _OwnLetters

    for fmt_name, pattern in PLAIN_HIDDEN.items():
        guard = _OwnLetters([], fmt_name, Path("letter"))
        assert guard._blank_hidden(text) == pattern.sub(lambda m: " " * len(m.group()), text), fmt_name
