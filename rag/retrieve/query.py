"""Question → retrieval query: colloquial words gain the terms the texts use, and
documents of another place than the one asked about are moved down.

Citizens say 失业金, 医保卡, 起付线; the texts say 失业保险金, 社会保障卡, 起付标准.
The mapping is a small data file (``index/synonyms.txt``) that a person can extend.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rag.index.lexicon import ancestors, place_names, places_in
from rag.models import Hit

SYNONYMS_FILE = Path(__file__).resolve().parent.parent.parent / "index" / "synonyms.txt"

# Places that scope a document or a question, from index/places.tsv (longest first).
PLACES = place_names()


def asked_places(question: str, home: str = "") -> list[str]:
    """Places a question is about (regions expanded); ``[home]`` when it names none."""
    asked = places_in(question)
    if not asked and home:
        asked = [home]
    return asked


def place_matches(place: str, asked: list[str]) -> bool:
    """Whether a text scoped to ``place`` ("" = national) fits a question about ``asked``:
    the same place, or one inside the other (a provincial text applies in its cities, a
    question about the province may be answered by a city's text)."""
    if not place or not asked:
        return True
    return any(place == a or place in ancestors(a) or a in ancestors(place) for a in asked)


@lru_cache(maxsize=4)
def load_synonyms(path: Path = SYNONYMS_FILE) -> tuple[tuple[str, str], ...]:
    """(everyday word, official terms) pairs, longest word first; empty if no file."""
    if not path.is_file():
        return ()
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#") or "\t" not in line:
            continue
        word, terms = line.split("\t", 1)
        pairs.append((word.strip(), terms.strip()))
    return tuple(sorted(pairs, key=lambda p: -len(p[0])))


def expand(question: str, path: Path = SYNONYMS_FILE) -> str:
    """The question followed by the official terms of the everyday words it uses."""
    extra = [terms for word, terms in load_synonyms(path) if word in question]
    return f"{question} {' '.join(extra)}" if extra else question


def doc_place(hit: Hit) -> str:
    """The place a document is scoped to, read off its title ("" for national texts)."""
    title = hit.clause.doc_title
    for p in PLACES:
        if title.startswith(p) or title.startswith(f"关于{p}"):
            return p
    return ""


def rerank_by_place(question: str, hits: list[Hit], home: str) -> list[Hit]:
    """Move down documents scoped to a place the question does not ask about.

    A question naming places keeps those places' documents and national ones first;
    a question naming none is read as about ``home`` (the assistant's own region).
    The order is otherwise kept (stable sort).
    """
    asked = asked_places(question, home)
    return sorted(hits, key=lambda h: not place_matches(doc_place(h), asked))
