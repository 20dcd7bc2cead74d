"""Word lists that are knowledge about the texts and the region, read from data files.

They live beside ``index/synonyms.txt`` so that a deployment for another city edits
data, not code: ``places.tsv`` (places, their provinces and short forms), ``facets.tsv``
(the categories the texts treat differently and how texts and callers name them),
``short_forms.tsv`` (医疗保障 → 医保, for document short names) and
``question_words.txt`` (the frame of a question). Each file starts with a header that
says what it is for. Every loader is cached: the files are read once per process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

LEXICON_DIR = Path(__file__).resolve().parent.parent.parent / "index"
NEGATION = re.compile(r"(没有|没|不|未|无|非)$")


def _rows(path: Path) -> list[list[str]]:
    """Tab-separated rows of a data file, without comments and blank lines."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        out.append([c.strip() for c in line.split("\t")])
    return out


# --------------------------------------------------------------------------- places


@dataclass(frozen=True)
class Place:
    name: str
    parent: str  # the province (or city) it lies in, "" for a province
    short: tuple[str, ...]  # one-character abbreviations (沪), read only next to a title
    kind: str  # province | city | county | region
    members: tuple[str, ...] = ()  # for a region (长三角): the places it covers


@lru_cache(maxsize=4)
def places(lexicon_dir: Path = LEXICON_DIR) -> tuple[Place, ...]:
    """Every place of ``places.tsv``, longest name first (黑龙江 before 龙江)."""
    out = []
    for row in _rows(lexicon_dir / "places.tsv"):
        name, parent, short, kind = [*row, "", "", "", ""][:4]
        members: tuple[str, ...] = ()
        if kind.startswith("region:"):
            members = tuple(kind.split(":", 1)[1].split(","))
            kind = "region"
        out.append(
            Place(
                name=name,
                parent="" if parent in ("", "-") else parent,
                short=tuple(s for s in short.split(",") if s and s != "-"),
                kind=kind,
                members=members,
            )
        )
    return tuple(sorted(out, key=lambda p: -len(p.name)))


def place_names(lexicon_dir: Path = LEXICON_DIR) -> tuple[str, ...]:
    """Names of places that scope a text (regions excluded), longest first."""
    return tuple(p.name for p in places(lexicon_dir) if p.kind != "region")


def place_parent(name: str, lexicon_dir: Path = LEXICON_DIR) -> str:
    return next((p.parent for p in places(lexicon_dir) if p.name == name), "")


def ancestors(name: str, lexicon_dir: Path = LEXICON_DIR) -> list[str]:
    """The places ``name`` lies in, nearest first (桐乡 → [嘉兴, 浙江])."""
    out: list[str] = []
    parent = place_parent(name, lexicon_dir)
    while parent and parent not in out:
        out.append(parent)
        parent = place_parent(parent, lexicon_dir)
    return out


def places_in(text: str, lexicon_dir: Path = LEXICON_DIR) -> list[str]:
    """Places named in ``text``, in the order of the table (regions expanded).

    A longer name hides the shorter names inside it (黑龙江 does not also name 龙江).
    """
    found: list[str] = []
    rest = text
    for p in places(lexicon_dir):
        if p.name in rest:
            rest = rest.replace(p.name, " ")
            found.extend(p.members if p.members else (p.name,))
    return list(dict.fromkeys(found))


# --------------------------------------------------------------------------- facets


@dataclass(frozen=True)
class FacetValue:
    """One category of one axis (scheme 职工, level 三级) and how it is named."""

    axis: str
    value: str
    text_pattern: re.Pattern[str]  # how the texts name it
    cues: tuple[str, ...]  # what callers say, longest first


@lru_cache(maxsize=4)
def facet_values(lexicon_dir: Path = LEXICON_DIR) -> tuple[FacetValue, ...]:
    out = []
    for row in _rows(lexicon_dir / "facets.tsv"):
        axis, value, patterns, cues = [*row, "", "", "", ""][:4]
        pats = [p.strip() for p in patterns.split(" | ") if p.strip()]
        words = {c.strip() for c in cues.split(",") if c.strip()}
        out.append(
            FacetValue(
                axis=axis,
                value=value,
                text_pattern=re.compile("|".join(f"(?:{p})" for p in pats) or r"(?!)"),
                cues=tuple(sorted(words, key=lambda w: (-len(w), w))),
            )
        )
    return tuple(out)


def axes(lexicon_dir: Path = LEXICON_DIR) -> tuple[str, ...]:
    """The facet axes in table order (scheme, status, service, level)."""
    return tuple(dict.fromkeys(f.axis for f in facet_values(lexicon_dir)))


# --------------------------------------------------------------------------- short forms


@lru_cache(maxsize=4)
def short_forms(lexicon_dir: Path = LEXICON_DIR) -> tuple[tuple[str, str], ...]:
    """(long form, short form) pairs, longest long form first."""
    pairs = []
    for row in _rows(lexicon_dir / "short_forms.tsv"):
        if row and row[0]:
            pairs.append((row[0], row[1] if len(row) > 1 else ""))
    return tuple(sorted(pairs, key=lambda p: -len(p[0])))


def shorten(text: str, lexicon_dir: Path = LEXICON_DIR) -> str:
    """``text`` with every long form replaced by its short form (医疗保障 → 医保)."""
    for long, short in short_forms(lexicon_dir):
        text = text.replace(long, short)
    return text


# --------------------------------------------------------------------------- question words


@lru_cache(maxsize=4)
def question_words(lexicon_dir: Path = LEXICON_DIR) -> frozenset[str]:
    path = lexicon_dir / "question_words.txt"
    if not path.is_file():
        return frozenset()
    words: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            words.update(line.split())
    return frozenset(words)
