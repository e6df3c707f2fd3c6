"""Letters, report and Excel list: what people read and book from."""

from __future__ import annotations

import re
import shutil
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from pypdf import PdfReader

from conftest import ROOT, SAMPLE, boundary, cli, letter_stem, read_csv
from skl_payout import fmt

GOLDEN_LETTERS = ROOT / "tests" / "golden" / "letters"
NEAR_MISS = boundary(2011, 50, "below")  # a kommun one registration short of 50 %
SNAPSHOTS = {letter_stem("kommun", NEAR_MISS["code"], NEAR_MISS["name"]): NEAR_MISS["code"],
             "landsting-01-stockholms-lans-landsting": "01", "lan-06-jonkopings-lan": "06"}


def plain(text: str) -> str:
    return text.replace("\u00a0", " ").replace("\u202f", " ")


@pytest.fixture(scope="module")
def run_2011(tmp_path_factory, sample_run) -> Path:
    out = tmp_path_factory.mktemp("run") / "2011"
    sample_run(2011, out)
    return out


def test_swedish_formatting():
    assert plain(fmt.kr(1234567)) == "1 234 567 kr"
    assert fmt.kr(1234567) == "1\u00a0234\u00a0567\u00a0kr"  # never broken across lines
    assert plain(fmt.percent(Fraction(1, 2))) == "50,0 %"
    assert plain(fmt.percent(Fraction(4999, 10000))) == "49,9 %"  # floored: never shows a missed 50 % as 50,0
    assert plain(fmt.threshold_percent(Fraction(7, 10))) == "70 %"


def test_a_pdf_letter_for_every_recipient_stating_its_amount(pdf_letters):
    from skl_payout.letters import TYPE_LABELS

    out, pages = pdf_letters
    totals = read_csv(out / "totals.csv")
    letters = out / "letters"
    assert len(list(letters.glob("*.pdf"))) == len(totals) + 1  # plus the combined file
    by_recipient = {}
    for text in pages[::2]:  # each letter starts on an odd page
        found = re.search(r"(Kommun|Landsting/region|Regiondel|Länsgemensamma medel) (\d+) ·", text)
        assert found, text[:300]
        by_recipient[found.group(1), found.group(2)] = plain(text)
    for row in totals:
        matches = list(letters.glob(f"{row['recipient_type']}-{row['code']}-*.pdf"))
        assert len(matches) == 1, row
        text = by_recipient[TYPE_LABELS[row["recipient_type"]], row["code"]]
        expected = plain(fmt.kr(int(row["amount_sek"])))
        assert re.search(rf"Belopp som betalas ut till .*{re.escape(expected)}", text, re.S), (row, text[:400])
        assert "å" in text or "ä" in text or "ö" in text
        for label in ("Villkor", "Fördelning", "Källa"):  # each label starts its own line, the text beside it
            assert not re.search(rf"\S {label} ", text), (label, text[:1200])
    for row in totals[::40]:  # the single files are the combined file's pages, cut: a sample read on its own
        single = next(letters.glob(f"{row['recipient_type']}-{row['code']}-*.pdf"))
        assert plain(fmt.kr(int(row["amount_sek"]))) in plain(PdfReader(single).pages[0].extract_text())


@pytest.mark.parametrize("year", [2010, 2011, 2014])
def test_every_year_produces_letters(year, tmp_path):
    out = tmp_path / str(year)
    assert cli("run", "--year", str(year), "--out", str(out)).returncode == 0
    done = cli("letters", "--year", str(year), "--out", str(out), "--format", "md")
    assert done.returncode == 0, done.stderr
    totals = read_csv(out / "totals.csv")
    assert len(list((out / "letters").glob("*.md"))) == len(totals)
    for row in totals[:: max(1, len(totals) // 25)]:
        text = next((out / "letters").glob(f"{row['recipient_type']}-{row['code']}-*.md")).read_text(encoding="utf-8")
        assert plain(fmt.kr(int(row["amount_sek"]))) in plain(text)
    for letter in (out / "letters").glob("*.md"):  # no sentence ends in a dash with nothing after it
        dangling = [line for line in letter.read_text(encoding="utf-8").splitlines() if line.rstrip().endswith("–")]
        assert not dangling, (letter.name, dangling)


def test_letter_snapshots_per_recipient_type(run_2011, tmp_path):
    """Golden letters (Markdown) for one kommun, one landsting and one län; `make golden` refreshes them."""
    out = tmp_path / "2011"
    shutil.copytree(run_2011, out, ignore=shutil.ignore_patterns("letters"))
    args = ["letters", "--year", "2011", "--out", str(out), "--format", "md", "--date", "2012-03-01"]
    for code in SNAPSHOTS.values():
        args += ["--only", code]
    assert cli(*args).returncode == 0
    for stem in SNAPSHOTS:
        got = (out / "letters" / f"{stem}.md").read_text(encoding="utf-8")
        assert got == (GOLDEN_LETTERS / f"{stem}.md").read_text(encoding="utf-8"), stem


def test_letter_explains_a_near_miss(run_2011):
    stem = letter_stem("kommun", NEAR_MISS["code"], NEAR_MISS["name"])
    text = plain((GOLDEN_LETTERS / f"{stem}.md").read_text(encoding="utf-8"))
    of = f"({plain(fmt.number(int(NEAR_MISS['registered_deaths'])))} av {plain(fmt.number(int(NEAR_MISS['deaths'])))})"
    num, den = int(NEAR_MISS["registered_deaths"]), int(NEAR_MISS["deaths"])
    shown = plain(fmt.measure_percent(Fraction(num, den), Fraction(1, 2)))
    assert shown.startswith("49,") and f"{shown} {of}" in text  # never rounded up to 50,0 %
    assert "inte uppfyllt" in text and f"1 fler behövdes, minst {num + 1} av {den}" in text  # exactly


def test_only_regenerates_some_letters_and_keeps_the_rest(run_2011, tmp_path):
    out = tmp_path / "2011"
    shutil.copytree(run_2011, out, ignore=shutil.ignore_patterns("letters"))
    assert cli("letters", "--year", "2011", "--out", str(out), "--format", "html").returncode == 0
    before = len(list((out / "letters").iterdir()))
    assert cli("letters", "--year", "2011", "--out", str(out), "--format", "html", "--only", "0114").returncode == 0
    assert len(list((out / "letters").iterdir())) == before


def test_report_is_self_contained_with_map_and_tables(run_2011):
    html = (run_2011 / "report.html").read_text(encoding="utf-8")
    assert html.count('<path class="k"') == 290
    for table in ("pots", "types", "counties", "coverage", "recipients"):
        assert f'id="{table}"' in html
    assert "<script" not in html and "<link" not in html
    assert not re.search(r"""(src|href)=["']?https?:""", html)
    assert "Kommunernas utbetalning per invånare 65 år och äldre" in html
    assert "SOURCE_ANALYSIS" not in html and "Avsnitten summerar till 267 miljoner" in html  # the note, without the analysts' reference
    assert plain(fmt.kr(sum(int(r["amount_sek"]) for r in read_csv(run_2011 / "totals.csv")))) in plain(html)


def test_excel_payout_list(run_2011):
    wb = load_workbook(run_2011 / "payouts.xlsx")
    summary = read_csv(run_2011 / "summary.csv")
    assert wb.sheetnames[:2] == ["Totalt", "Potter"]
    assert len(wb.sheetnames) == 2 + len(summary)
    totals = wb["Totalt"]
    first = totals["B2"]
    assert first.value == "0114" and first.number_format == "@"
    rows = list(totals.iter_rows(min_row=2, values_only=True))
    *data, blank, total = rows
    assert blank == (None,) * 6 and total[2] == "Summa"
    assert all(isinstance(r[4], int) for r in data)
    assert total[4] == sum(r[4] for r in data) == sum(int(r["amount_sek"]) for r in read_csv(run_2011 / "totals.csv"))
    assert {r[0] for r in data} == {"kommun", "landsting/region", "län"}  # in Swedish, as the reader says it
    assert totals["E2"].number_format == '#,##0 "kr"'
    pot = wb["PAL-50 kommun"]
    assert pot["H2"].value == int(read_csv(run_2011 / "payouts.csv")[0]["amount_sek"])


def test_excel_carries_no_time_of_writing(run_2011):
    """Byte-reproducible: every zip entry dated 1980-01-01, the document's times fixed."""
    import os
    import zipfile
    from datetime import datetime, timezone

    with zipfile.ZipFile(run_2011 / "payouts.xlsx") as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        core = z.read("docProps/core.xml").decode()
    fixed = "1980-01-01T00:00:00Z" if not os.environ.get("SOURCE_DATE_EPOCH") else \
        datetime.fromtimestamp(int(os.environ["SOURCE_DATE_EPOCH"]), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert re.findall(r"<dcterms:(?:created|modified)[^>]*>([^<]*)<", core) == [fixed] * 2


@pytest.mark.parametrize("year", [2010, 2011, 2014])
def test_the_quick_workbook_is_the_one_xlsxwriter_writes(year):
    """excel's TableSheet takes a shorter way through XlsxWriter's cell loops: the workbook must be
    the one XlsxWriter's own calls write, to the byte."""
    from skl_payout import api
    from skl_payout.excel import workbook_bytes

    result = api.compute(api.inputs(year))
    assert workbook_bytes(result) == workbook_bytes(result, quick=False)


CELL = st.one_of(st.none(), st.integers(-10**15, 10**15), st.fractions(max_denominator=7),
                 st.text(max_size=12), st.sampled_from(["", "=SUM(A1)", "+46", "-", "@x", "\tx", "<&\">", "x" * 40000]))


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.lists(CELL, min_size=3, max_size=3), max_size=40), total=st.lists(CELL, min_size=3, max_size=3))
def test_the_quick_sheet_writes_any_table_as_xlsxwriter_does(rows, total):
    """Also text that looks like a formula, empty or too long text, blanks, large and broken numbers."""
    import io
    from datetime import datetime

    import xlsxwriter

    from skl_payout import excel

    def book(quick: bool) -> bytes:
        buffer = io.BytesIO()
        wb = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False,
                                          "strings_to_formulas": False, "strings_to_urls": False})
        if quick:
            wb.worksheet_class = excel._table_sheet()
        wb.set_properties({"created": datetime(1980, 1, 1)})
        columns = [excel.Column("Kod", "@"), excel.Column("Namn", wrap=True, width=40), excel.Column("Belopp", excel.KRONOR)]
        excel._write_sheet(wb, excel._formats(wb), "Blad", "Rubrik", columns, rows, total)
        wb.close()
        return buffer.getvalue()

    assert book(True) == book(False)


def test_excel_sorts_and_prints_well(run_2011):
    """The sum row is outside the filter (sorting cannot move it); every sheet prints landscape, one
    page wide, with its header on every page; every number has a number format."""
    wb = load_workbook(run_2011 / "payouts.xlsx")
    for ws in wb.worksheets:
        data_end = ws.max_row - 2  # header, data, a blank row, the sum row
        assert ws.auto_filter.ref == f"A1:{ws.cell(1, ws.max_column).column_letter}{data_end}", ws.title
        assert any(ws.cell(ws.max_row, c).value == "Summa" for c in range(1, ws.max_column + 1)), ws.title
        assert ws.page_setup.orientation == "landscape" and ws.sheet_properties.pageSetUpPr.fitToPage
        fit_width = 1 if ws.page_setup.fitToWidth is None else ws.page_setup.fitToWidth  # absent: OOXML's default, 1
        assert (fit_width, ws.page_setup.fitToHeight) == (1, 0)
        assert ws.print_title_rows == "$1:$1" and ws.freeze_panes == "A2"
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, (int, float)):
                    assert cell.number_format != "General", f"{ws.title}!{cell.coordinate} has no number format"


def test_names_cannot_inject_markup(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE / "2011", data)
    evil = '<script>alert(1)</script> #set page(fill: red) ] [ *x* _y_ \\ $z$ @ref'
    path = data / "authorities.csv"
    text = path.read_text(encoding="utf-8").replace("0114,Upplands Väsby,", f'0114,"{evil}",', 1)
    path.write_text(text, encoding="utf-8")
    payees = data / "payees.csv"  # letters are addressed to the payee's legal name
    payees.write_text(payees.read_text(encoding="utf-8").replace("Upplands Väsby kommun", f'"{evil}"', 1),
                      encoding="utf-8")
    out = tmp_path / "out"
    assert cli("run", "--year", "2011", "--data", str(data), "--out", str(out)).returncode == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for fmt_name in ("html", "pdf"):
        done = cli("letters", "--year", "2011", "--out", str(out), "--format", fmt_name, "--only", "0114")
        assert done.returncode == 0, done.stderr
    letter = next((out / "letters").glob("kommun-0114-*.html")).read_text(encoding="utf-8")
    assert "<script>alert" not in letter
    pdf_text = plain(PdfReader(next((out / "letters").glob("kommun-0114-*.pdf"))).pages[0].extract_text())
    assert "#set page(fill: red) ] [ *x* _y_" in pdf_text.replace("\n", " ")


def test_user_templates_are_sandboxed(tmp_path, run_2011):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "letter.md.j2").write_text("{{ letters[0].__class__.__mro__ }}", encoding="utf-8")
    out = tmp_path / "2011"
    shutil.copytree(run_2011, out, ignore=shutil.ignore_patterns("letters"))
    done = cli("letters", "--year", "2011", "--out", str(out), "--format", "md", "--templates", str(templates),
               "--only", "0114")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    (templates / "letter.md.j2").write_text("{% include '../../etc/passwd' %}", encoding="utf-8")
    done = cli("letters", "--year", "2011", "--out", str(out), "--format", "md", "--templates", str(templates),
               "--only", "0114")
    assert done.returncode == 1 and "root:" not in done.stdout + done.stderr


def test_letters_name_the_sender_signatory_contact_and_date_from_the_settings(run_2011, tmp_path):
    from skl_payout.settings import load

    settings, _ = load(ROOT / "skl-payout.yaml")
    out = tmp_path / "2011"
    shutil.copytree(run_2011, out, ignore=shutil.ignore_patterns("letters"))
    assert cli("letters", "--year", "2011", "--out", str(out), "--format", "md", "--only", "0114").returncode == 0
    text = next((out / "letters").glob("kommun-0114-*.md")).read_text(encoding="utf-8")
    year = settings.years[2011]
    for needle in (f"Datum: {year.decision_date.isoformat()}", year.diarienummer, settings.signatory.name,
                   settings.contact.name, settings.contact.email, settings.sender.address[0]):
        assert needle.replace("_", "\\_") in text or needle in text, needle


def test_letters_without_settings_say_what_is_missing(run_2011, tmp_path):
    out = tmp_path / "2011"
    shutil.copytree(run_2011, out, ignore=shutil.ignore_patterns("letters"))
    done = cli("letters", "--year", "2011", "--out", str(out), "--format", "md", cwd=tmp_path)
    assert done.returncode == 1 and "no sender settings" in done.stderr and "skl-payout.yaml" in done.stderr
    bad = tmp_path / "s.yaml"
    bad.write_text((ROOT / "skl-payout.yaml").read_text(encoding="utf-8").replace("  2011:", "  2013:"),
                   encoding="utf-8")
    done = cli("letters", "--year", "2011", "--out", str(out), "--format", "md", "--settings", str(bad))
    assert done.returncode == 1 and "has no entry for 2011" in done.stderr


LOGO = ('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><rect width="120" height="40" '
        'fill="#1a4d8f"/></svg>')


def test_letters_carry_the_senders_logo_from_the_settings(run_2011, pdf_letters, tmp_path):
    import base64

    from pypdf import PdfReader

    (tmp_path / "brand").mkdir()
    (tmp_path / "brand" / "logo.svg").write_text(LOGO, encoding="utf-8")
    settings = tmp_path / "s.yaml"
    settings.write_text((ROOT / "skl-payout.yaml").read_text(encoding="utf-8").replace(
        "  address:", "  logo: brand/logo.svg\n  address:", 1), encoding="utf-8")
    out = tmp_path / "2011"
    shutil.copytree(run_2011, out, ignore=shutil.ignore_patterns("letters"))
    for fmt_name in ("html", "pdf"):
        done = cli("letters", "--out", str(out), "--format", fmt_name, "--only", "0114", "--settings", str(settings),
                   cwd=tmp_path / "brand")  # a relative logo is found from the settings file, not the current folder
        assert done.returncode == 0, done.stderr
    html = next((out / "letters").glob("kommun-0114-*.html")).read_text(encoding="utf-8")
    assert f'src="data:image/svg+xml;base64,{base64.b64encode(LOGO.encode()).decode()}"' in html
    with_logo = PdfReader(next((out / "letters").glob("kommun-0114-*.pdf")))
    without = PdfReader(next((pdf_letters[0] / "letters").glob("kommun-0114-*.pdf")))  # the same run's, no logo
    assert len(with_logo.pages) == 1 and with_logo.pages[0].get_contents().get_data() != \
        without.pages[0].get_contents().get_data()
    (tmp_path / "brand" / "logo.svg").unlink()
    done = cli("letters", "--out", str(out), "--format", "html", "--only", "0114", "--settings", str(settings))
    assert done.returncode == 1 and "sender.logo" in done.stderr and "not found" in done.stderr


def test_letters_need_a_recorded_run(tmp_path):
    done = cli("letters", "--year", "2011", "--out", str(tmp_path / "nothing"), "--format", "md")
    assert done.returncode == 1 and "holds no recorded run" in done.stderr
    assert not (tmp_path / "nothing").exists()
