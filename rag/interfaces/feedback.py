"""Feedback on answers (helpful / wrong + comment), kept in SQLite.

Clerks' corrections become evaluation items: ``export_gold`` writes them as a draft
gold file for a person to check.

Several server worker processes write to one database: it runs in WAL mode (readers
never block the writer) and every connection waits up to ``BUSY_TIMEOUT_S`` for the
write lock instead of failing with "database is locked".
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.settings import Settings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('helpful', 'wrong')),
    comment TEXT NOT NULL
)
"""
_LOCK = threading.Lock()
BUSY_TIMEOUT_S = 30.0


class FeedbackStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with _LOCK, self._con() as con:
            # WAL is a property of the file: set once, every later connection uses it
            con.execute("PRAGMA journal_mode=WAL")
            con.execute(_SCHEMA)

    def _con(self) -> sqlite3.Connection:
        con = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S)
        con.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        return con

    def add(
        self,
        question: str,
        answer: str,
        citations: list[dict[str, Any]],
        verdict: str,
        comment: str = "",
    ) -> int:
        """Store one feedback record (one transaction) and return its id."""
        with _LOCK, self._con() as con:
            cur = con.execute(
                "INSERT INTO feedback (created, question, answer, citations, verdict, comment) "
                "VALUES (?,?,?,?,?,?)",
                (
                    time.time(),
                    question,
                    answer,
                    json.dumps(citations, ensure_ascii=False),
                    verdict,
                    comment,
                ),
            )
            return int(cur.lastrowid or 0)

    def all(self) -> list[dict[str, Any]]:
        with _LOCK, self._con() as con:
            rows = con.execute(
                "SELECT id, created, question, answer, citations, verdict, comment "
                "FROM feedback ORDER BY id"
            ).fetchall()
        return [
            {
                "id": r[0],
                "created": r[1],
                "question": r[2],
                "answer": r[3],
                "citations": json.loads(r[4]),
                "verdict": r[5],
                "comment": r[6],
            }
            for r in rows
        ]

    def export_gold(self) -> list[dict[str, Any]]:
        """Gold-file draft lines: helpful answers keep their citations; wrong ones carry
        the clerk's comment as the answer to check and the tag ``needs-review``."""
        out = []
        for r in self.all():
            cites = [
                {"doc_no": c.get("doc_no", ""), "clause": c.get("clause", "")}
                | ({"title": c["title"]} if not c.get("doc_no") and c.get("title") else {})
                for c in r["citations"]
            ]
            helpful = r["verdict"] == "helpful"
            out.append(
                {
                    "id": f"fb-{r['id']}",
                    "question": r["question"],
                    "answer": r["answer"] if helpful else (r["comment"] or r["answer"]),
                    "citations": cites if helpful else [],
                    "key_facts": [],
                    "answerable": helpful or bool(r["comment"]),
                    "persona": "clerk",
                    "tags": ["feedback"] + ([] if helpful else ["needs-review"]),
                }
            )
        return out


def export_feedback(settings: Settings, *, gold: bool = False) -> list[dict[str, Any]]:
    """All stored feedback, oldest first (for ``rag feedback export``); with ``gold=True``
    the draft gold-file lines of :meth:`FeedbackStore.export_gold` instead.

    Reads ``settings.feedback_db``; an empty list when no feedback was ever stored (the
    file is not created).
    """
    if not settings.feedback_db.exists():
        return []
    fb = FeedbackStore(settings.feedback_db)
    return fb.export_gold() if gold else fb.all()
