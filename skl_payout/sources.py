"""The shipped source documents (sources/) and the check that a rule file quotes them truly.

A rule file cites a document by an id of sources/index.yaml and a section label; a letter then
prints the document's title and the section beside the rule. This module finds the section's text
and says whether a quote stands there verbatim, so that `validate` and `run` refuse a rule file
that puts words in a source's mouth, whoever wrote the file.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

from . import resources

OMISSION = re.compile(r"\[(?:\.\.\.|…)\]")
MIN_PIECE = 10  # characters of each piece around a "[...]": a one-word splice proves nothing


@lru_cache(maxsize=1)
def catalogue() -> dict:
    """sources/index.yaml: document id -> file, title, cite_as, sections (label, starts)."""
    path = resources.sources_index()
    if not path.is_file():
        return {}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml where built: a run reads this every time
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)["documents"]


@lru_cache(maxsize=None)
def file_text(name: str) -> str:
    return (resources.sources_index().parent / name).read_bytes().decode("utf-8")


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def readings(text: str) -> list[str]:
    """The text with whitespace runs as one space: once with line-break hyphens joined, once kept."""
    joined = re.sub(r"-[ \t]*\r?\n\s*", "", text)
    return [_squash(joined), _squash(text)]


def quote_pieces(quote: str) -> list[str]:
    return [p for p in (_squash(piece) for piece in OMISSION.split(quote)) if p]


def quote_in(quote: str, text: str) -> bool:
    """Whether the quote's pieces all occur in order in the text (in one of its readings).

    Whitespace and line-break hyphenation are normalised; "[...]" marks an omission, and each piece
    around one must be at least MIN_PIECE characters.
    """
    pieces = quote_pieces(quote)
    if not pieces or (len(pieces) > 1 and any(len(p) < MIN_PIECE for p in pieces)):
        return False
    for reading in readings(text):
        at = 0
        for piece in pieces:
            found = reading.find(piece, at)
            if found < 0:
                break
            at = found + len(piece)
        else:
            return True
    return False


@lru_cache(maxsize=None)
def section_spans(file: str) -> dict[tuple[str, str], str]:
    """(document id, label) -> the section's text, for every section of every id on this file."""
    text = file_text(file)
    starts = []
    for doc_id, doc in catalogue().items():
        if doc["file"] == file:
            starts += [(text.find(s["starts"]), doc_id, s["label"]) for s in doc["sections"]]
    starts.sort()
    ends = [s[0] for s in starts[1:]] + [len(text)]
    return {(doc_id, label): text[begin:end] for (begin, doc_id, label), end in zip(starts, ends)}


def section_text(doc_id: str, label: str) -> str | None:
    doc = catalogue().get(doc_id)
    if doc is None:
        return None
    return section_spans(doc["file"]).get((doc_id, label))


def check(doc_id: str, label: str, quote: str | None, listed_file: str | None = None) -> str | None:
    """Why this citation does not hold against the shipped documents, or None if it does.

    A document that is not shipped cannot be checked: that is for the caller to say (not an error).
    """
    doc = catalogue()[doc_id]
    if listed_file is not None and listed_file != doc["file"]:
        return f"the rule file names file {listed_file!r} for {doc_id}; the shipped document is {doc['file']!r}"
    text = section_text(doc_id, label)
    if text is None:
        labels = ", ".join(s["label"] for s in doc["sections"])
        return f"{doc['cite_as']} has no section {label!r} (sections: {labels})"
    if quote is not None and not quote_in(quote, text):
        return (f"the quote is not in {doc['cite_as']}, {label}: a letter or report would cite words the source "
                f"does not contain ({quote[:60]!r}{'…' if len(quote) > 60 else ''})")
    return None


def shipped_files() -> list[Path]:
    folder = resources.sources_index().parent
    return sorted(folder / doc["file"] for doc in catalogue().values())
