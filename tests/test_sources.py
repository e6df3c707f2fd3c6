"""Every citation in the rule files points at a real place in a shipped source document.

sources/index.yaml catalogues the documents in sources/: an id per document, its file, its sha256 and
its sections, each marked by a `starts` snippet that occurs exactly once in the file. A section runs
from its start to the next section start on the same file (of any document id), or to the end.

For each mapping with a `document` key in rules/*.yaml (`source:`, `table_source:`), the document id
must be catalogued, the section must be one of its labels, and the quote, if any, must lie inside that
section's text. Quotes are compared after normalising whitespace runs to one space; a hyphen at a line
break ("uppfölj-\\nning") may be read either joined ("uppföljning") or kept ("prestations- och"). "[...]"
in a quote marks an omission: the pieces must appear in order within the section.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from conftest import ROOT, RULES
from skl_payout.rules import parse_yaml
from skl_payout.sources import catalogue, file_text, quote_in, section_text

SOURCES = ROOT / "sources"
RULE_FILES = sorted(RULES.glob("*.yaml"))


def index() -> dict:
    return catalogue()


# --- the citations of the rule files ------------------------------------------------------------

def _path_text(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _walk(value, path: tuple = ()):
    if isinstance(value, dict):
        if "document" in value:
            yield path, value
        for key, sub in value.items():
            yield from _walk(sub, path + (key,))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            yield from _walk(sub, path + (i,))


def citations() -> list[tuple[str, str, dict]]:
    found = []
    for rule_file in RULE_FILES:
        raw, _ = parse_yaml(rule_file.read_text(encoding="utf-8"))
        found += [(rule_file.name, _path_text(path), cite) for path, cite in _walk(raw)]
    return found


CITATIONS = citations()


def where(rule_file: str, path: str, cite: dict) -> str:
    quote = cite.get("quote")
    shown = repr(quote[:80]) if isinstance(quote, str) else "(none)"
    return (f"{rule_file}: {path}: document {cite.get('document')!r}, section {cite.get('section')!r}, "
            f"quote {shown}")


# --- tests ---------------------------------------------------------------------------------------

def test_the_rule_files_have_citations():
    assert len(RULE_FILES) >= 3
    for rule_file in RULE_FILES:
        assert sum(1 for name, _, _ in CITATIONS if name == rule_file.name) >= 10, rule_file.name


@pytest.mark.parametrize("rule_file,path,cite", CITATIONS, ids=[f"{f}:{p}" for f, p, _ in CITATIONS])
def test_citation_points_at_its_quote(rule_file, path, cite):
    at = where(rule_file, path, cite)
    doc_id, label, quote = cite.get("document"), cite.get("section"), cite.get("quote")
    assert doc_id in index(), f"{at}: no document {doc_id!r} in sources/index.yaml (ids: {sorted(index())})"
    labels = [s["label"] for s in index()[doc_id]["sections"]]
    assert label in labels, f"{at}: {doc_id!r} has no section {label!r} in sources/index.yaml (sections: {labels})"
    start = next(s["starts"] for s in index()[doc_id]["sections"] if s["label"] == label)
    count = file_text(index()[doc_id]["file"]).count(start)
    assert count == 1, f"{at}: the section's start {start!r} occurs {count} times in {index()[doc_id]['file']}"
    if quote is not None:
        assert isinstance(quote, str) and quote.strip(), f"{at}: empty quote"
        assert quote_in(quote, section_text(doc_id, label)), \
            f"{at}: the quote is not in that section of {index()[doc_id]['file']}"


@pytest.mark.parametrize("doc_id", sorted(index()))
def test_catalogued_document_is_the_shipped_file(doc_id):
    doc = index()[doc_id]
    for key in ("file", "seed", "sha256", "title", "cite_as", "date", "issuer", "decides", "sections"):
        assert doc.get(key), f"sources/index.yaml: {doc_id}: missing {key}"
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", doc_id), f"sources/index.yaml: id {doc_id!r} is not a lowercase id"
    path = SOURCES / doc["file"]
    assert path.is_file(), f"sources/index.yaml: {doc_id}: {doc['file']} is not in sources/"
    assert re.fullmatch(r"[A-Za-z0-9._-]+", doc["file"]), f"{doc['file']}: not an ASCII file name"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == doc["sha256"], f"sources/{doc['file']} ({doc_id}) has sha256 {digest}, the index says {doc['sha256']}"


@pytest.mark.parametrize("doc_id", sorted(index()))
def test_sections_start_once_and_in_file_order(doc_id):
    doc = index()[doc_id]
    text = file_text(doc["file"])
    labels = [s["label"] for s in doc["sections"]]
    assert len(labels) == len(set(labels)), f"{doc_id}: a section label appears twice"
    positions = []
    for section in doc["sections"]:
        start = section["starts"]
        where_ = f"sources/index.yaml: {doc_id}: section {section['label']!r}: starts {start!r}"
        assert 15 <= len(start) <= 80 and "\n" not in start, f"{where_}: not 15-80 characters on one line"
        assert text.count(start) == 1, f"{where_}: occurs {text.count(start)} times in {doc['file']}, not once"
        positions.append(text.find(start))
    assert positions == sorted(positions), f"{doc_id}: sections are not listed in file order"


def test_readme_lists_every_document_and_seed():
    readme = (SOURCES / "README.md").read_text(encoding="utf-8")
    for doc_id, doc in index().items():
        for needle in (doc_id, doc["file"], doc["seed"]):
            assert needle in readme, f"sources/README.md does not mention {needle} ({doc_id})"


def test_every_file_in_sources_is_catalogued():
    files = {doc["file"] for doc in index().values()}
    shipped = {p.name for p in SOURCES.iterdir() if p.suffix == ".txt"}
    assert shipped == files, f"in sources/ but not catalogued: {shipped - files}; catalogued but missing: {files - shipped}"


# --- the matcher can fail ------------------------------------------------------------------------

def test_a_quote_with_one_word_changed_is_reported_missing():
    quoted = [c for c in CITATIONS if isinstance(c[2].get("quote"), str) and len(c[2]["quote"].split()) >= 4]
    assert quoted
    for rule_file, path, cite in quoted:
        text = section_text(cite["document"], cite["section"])
        assert quote_in(cite["quote"], text), where(rule_file, path, cite)
        words = cite["quote"].split(" ")
        i = next(i for i, w in enumerate(words) if w.isalpha() and len(w) > 3)
        mutated = " ".join(words[:i] + ["Xylofon"] + words[i + 1:])
        assert not quote_in(mutated, text), f"{where(rule_file, path, cite)}: a changed quote still matches"


def test_the_matcher_on_small_cases():
    text = "Medel till läns-\ngemensamt  utvecklings-\narbete, 66 milj. kr. Sedan: prestations- \noch resultat."
    assert quote_in("Medel till länsgemensamt utvecklingsarbete", text)
    assert quote_in("prestations- och resultat", text)
    assert quote_in("Medel till [...] 66 milj. kr", text)
    assert not quote_in("66 milj. kr [...] Medel till", text)       # pieces out of order
    assert not quote_in("Medel till länsgemensamt utvecklingsarbete, 67 milj. kr", text)
    assert not quote_in("[...]", text)
    assert not quote_in("Medel till gemensamt", text)


def test_a_quote_in_the_wrong_section_is_reported():
    # "En första överenskommelse ... (S2010/1130/FST)" lies in the decision's Ärendet, not in the plan.
    quote = "En första överenskommelse om prestationsbaserat statsbidrag slöts i februari 2010 (S2010/1130/FST)."
    assert quote_in(quote, section_text("regeringsbeslut-2011", "Ärendet"))
    assert not quote_in(quote, section_text("genomforandeplan-2011", "Bakgrund"))
    assert not quote_in(quote, section_text("regeringsbeslut-2011", "Regeringens beslut"))


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=[p.name for p in RULE_FILES])
def test_a_rule_files_sources_agree_with_the_catalogue(rule_file):
    """What a letter prints for a document (cite_as) and its title come from the catalogue, word for word."""
    raw, _ = parse_yaml(rule_file.read_text(encoding="utf-8"))
    listed = raw.get("sources") or {}
    assert listed, f"{rule_file.name} lists no sources"
    cited = {cite["document"] for name, _, cite in CITATIONS if name == rule_file.name}
    assert cited <= set(listed), f"{rule_file.name} cites documents it does not list: {cited - set(listed)}"
    for doc_id, doc in listed.items():
        assert doc_id in index(), f"{rule_file.name}: {doc_id} is not in sources/index.yaml"
        for key in ("title", "cite_as", "file"):
            assert doc[key] == index()[doc_id][key], f"{rule_file.name}: sources.{doc_id}.{key} differs from the catalogue"


def test_a_splice_of_single_words_is_no_quote():
    text = "SKL betalar ut medlen när överenskommelsen har godkänts av SKL."
    assert quote_in("SKL betalar ut medlen [...] godkänts av SKL.", text)
    assert not quote_in("SKL [...] SKL.", text)  # each piece around an omission needs some length


def test_validate_refuses_a_quote_the_source_does_not_contain(tmp_path):
    from conftest import SAMPLE, cli

    text = (RULES / "2011.yaml").read_text(encoding="utf-8")
    old = "quote: \"Ej använda medel återbetalas till Socialstyrelsen efter projektets avslutning vid årsskiftet 2013.\""
    assert old in text
    path = tmp_path / "2011.yaml"
    path.write_text(text.replace(old, "quote: \"Medlen behöver aldrig återbetalas.\"", 1), encoding="utf-8")
    done = cli("validate", "--rules", str(path), "--data", str(SAMPLE / "2011"))
    assert done.returncode == 1 and "the quote is not in SKL:s genomförandeplan för 2011" in done.stdout
    out = tmp_path / "out"
    run = cli("run", "--rules", str(path), "--data", str(SAMPLE / "2011"), "--out", str(out))
    assert run.returncode == 1 and not out.exists()
