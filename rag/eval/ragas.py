"""Export of a run for RAGAS (``ragas.EvaluationDataset.from_list`` / ``from_jsonl``).

One line per item with the single-turn sample fields: ``user_input`` (the question),
``retrieved_contexts`` (texts of the clauses the answer was built from, best first),
``response`` (the system's answer) and ``reference`` (the gold answer). RAGAS itself
is not a dependency: the file is produced here and scored elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any


def ragas_row(item: Mapping[str, Any]) -> dict[str, Any]:
    """The RAGAS sample of one ``per_item.jsonl`` record."""
    contexts = [str(r.get("text", "")) for r in item.get("retrieved", []) if r.get("text")]
    return {
        "user_input": str(item.get("question", "")),
        "retrieved_contexts": contexts,
        "response": str(item.get("answer", "")),
        "reference": str(item.get("gold_answer", "")),
    }


def ragas_rows(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """RAGAS samples of ``per_item.jsonl`` records, in order."""
    return [ragas_row(it) for it in items]


def ragas_jsonl(items: Iterable[Mapping[str, Any]]) -> str:
    """The ``ragas.jsonl`` text (UTF-8, one JSON object per line)."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ragas_rows(items))
