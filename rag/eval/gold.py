"""Gold files (JSONL): reading and validating, with errors that name the line."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import InputError

PERSONAS = ("citizen", "clerk", "evaluator")


@dataclass
class GoldCitation:
    doc_no: str
    clause: str = ""
    title: str = ""


@dataclass
class GoldItem:
    id: str
    question: str
    answer: str
    citations: list[GoldCitation]
    key_facts: list[str]
    answerable: bool
    persona: str
    tags: list[str] = field(default_factory=list)


def _lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text") from e
    return [(n, s) for n, s in enumerate(text.splitlines(), 1) if s.strip()]


def _obj(path: Path, n: int, s: str) -> dict[str, Any]:
    try:
        obj = json.loads(s)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{n}: not valid JSON ({e.msg})") from e
    if not isinstance(obj, dict):
        raise InputError(f"{path}:{n}: expected a JSON object")
    return obj


def read_batch(path: Path) -> list[tuple[str | None, str]]:
    """Lines ``{"id", "question"}`` of a batch file; a malformed line stops the run."""
    out: list[tuple[str | None, str]] = []
    for n, s in _lines(path):
        obj = _obj(path, n, s)
        q = obj.get("question")
        if not isinstance(q, str) or not q.strip():
            raise InputError(f'{path}:{n}: missing or empty "question"')
        item_id = obj.get("id")
        out.append((None if item_id is None else str(item_id), q))
    return out


def read_gold(path: Path) -> list[GoldItem]:
    """Parse and validate every line before anything is scored."""
    items: list[GoldItem] = []
    seen: set[str] = set()
    for n, s in _lines(path):
        obj = _obj(path, n, s)
        where = f"{path}:{n}"
        for key in ("id", "question", "answerable"):
            if key not in obj:
                raise InputError(f'{where}: missing "{key}"')
        item_id = str(obj["id"])
        if item_id in seen:
            raise InputError(f"{where}: duplicate id {item_id!r}")
        seen.add(item_id)
        q = obj["question"]
        if not isinstance(q, str) or not q.strip():
            raise InputError(f"{where}: empty question")
        answerable = obj["answerable"]
        if not isinstance(answerable, bool):
            raise InputError(f'{where}: "answerable" must be true or false')
        cites_raw = obj.get("citations", [])
        if not isinstance(cites_raw, list):
            raise InputError(f'{where}: "citations" must be a list')
        cites = []
        for c in cites_raw:
            if not isinstance(c, dict) or "doc_no" not in c:
                raise InputError(f'{where}: each citation needs "doc_no"')
            if not c["doc_no"] and not c.get("title"):
                raise InputError(f"{where}: a citation without doc_no needs a title")
            cites.append(
                GoldCitation(str(c["doc_no"]), str(c.get("clause", "")), str(c.get("title", "")))
            )
        if answerable and not cites:
            raise InputError(f"{where}: an answerable item needs citations")
        facts = obj.get("key_facts", [])
        tags = obj.get("tags", [])
        if not isinstance(facts, list) or not all(isinstance(f, str) for f in facts):
            raise InputError(f'{where}: "key_facts" must be a list of strings')
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InputError(f'{where}: "tags" must be a list of strings')
        persona = str(obj.get("persona", "evaluator"))
        items.append(
            GoldItem(
                id=item_id,
                question=q,
                answer=str(obj.get("answer", "")),
                citations=cites,
                key_facts=facts,
                answerable=answerable,
                persona=persona,
                tags=tags,
            )
        )
    if not items:
        raise InputError(f"{path}: no gold items")
    return items
