"""The assistant: corpus, index, retriever and answerer loaded once, used by every interface.

``Assistant.ask`` validates the question, retrieves (honouring explicit 文号/条
references), answers, and records the time of each stage. The retrieval → answer
steps are also exposed as a LangChain Runnable chain (``Assistant.chain``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rag.answer.extractive import ExtractiveAnswerer
from rag.errors import InputError
from rag.index.embedders import Embedder, embedder_from_settings
from rag.index.store import LoadedIndex, load_index
from rag.models import Answer, Hit
from rag.retrieve.hybrid import Filters, Retriever, retriever_from_settings
from rag.retrieve.query import expand, rerank_by_place
from rag.retrieve.refs import ReferenceLookup
from rag.settings import Settings

MODES = ("extractive", "llm")


def check_question(question: str, max_chars: int) -> str:
    """Strip the question; reject empty and over-long ones with a one-line error."""
    if not isinstance(question, str):
        raise InputError("the question must be text")
    q = question.strip()
    if not q:
        raise InputError("empty question")
    if len(q) > max_chars:
        raise InputError(f"question too long: {len(q)} characters (limit {max_chars})")
    return q


@dataclass
class Turn:
    """One earlier turn of a conversation."""

    question: str
    answer: str = ""


class Assistant:
    """Load once, answer many times (thread-safe for concurrent reads)."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        index: LoadedIndex | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder or embedder_from_settings(settings)
        self.index = index or load_index(settings.index_dir, self.embedder.name)
        self.lookup = ReferenceLookup(self.index.clauses)
        self.retriever: Retriever = retriever_from_settings(self.index, self.embedder, settings)
        self.home = settings.home_region
        self.answerer = ExtractiveAnswerer(
            min_coverage=settings.refuse_threshold,
            corpus=[c.text for c in self.index.clauses],
        )

    # -- stages --------------------------------------------------------------------
    def search(self, query: str, k: int = 5, filters: Filters | None = None) -> list[Hit]:
        q = check_question(query, self.settings.max_question_chars)
        if filters is None or filters.is_empty():
            docs = self.lookup.doc_nos(q)
            if len(docs) == 1 and not self.lookup(q):
                filters = Filters(doc_no=docs[0])
        pinned = self.lookup(q)
        # fetch more than k so that moving other places' documents down still fills k
        hits = self.retriever.search(expand(q), k=k + 10, filters=filters, pinned=pinned)
        head = [h for h in hits if "lookup" in h.sources]
        rest = rerank_by_place(q, [h for h in hits if "lookup" not in h.sources], self.home)
        return (head + rest)[:k]

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        mode: str | None = None,
        filters: Filters | None = None,
        history: list[Turn] | None = None,
        id: str | None = None,
    ) -> Answer:
        return self.ask_with_hits(
            question, k=k, mode=mode, filters=filters, history=history, id=id
        )[0]

    def ask_with_hits(
        self,
        question: str,
        *,
        k: int | None = None,
        mode: str | None = None,
        filters: Filters | None = None,
        history: list[Turn] | None = None,
        id: str | None = None,
    ) -> tuple[Answer, list[Hit]]:
        """Like :meth:`ask`, also returning the retrieved clauses (for evaluation and UI)."""
        t0 = time.perf_counter()
        mode = mode or self.settings.mode
        if mode not in MODES:
            raise InputError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        q = check_question(question, self.settings.max_question_chars)
        standalone = rewrite_followup(q, history or [])
        k = k or self.settings.k
        if not 1 <= k <= 50:
            raise InputError("k must be between 1 and 50")
        hits = self.search(standalone, k=k, filters=filters)
        t1 = time.perf_counter()
        if mode == "llm":
            from rag.answer.generative import generate

            ans = generate(standalone, hits, self.settings, fallback=self.answerer)
        else:
            ans = self.answerer.answer(standalone, hits)
        t2 = time.perf_counter()
        ans.question = q
        ans.id = id
        if standalone != q:
            ans.notes.append(f"understood as: {standalone}")
        ans.timings_ms = {
            "retrieve": (t1 - t0) * 1000,
            "answer": (t2 - t1) * 1000,
            "total": (t2 - t0) * 1000,
        }
        return ans, hits

    def chain(self, k: int = 5) -> Any:
        """The retrieval → answer pipeline as a LangChain Runnable (question in, Answer out)."""
        from langchain_core.runnables import RunnableLambda, RunnablePassthrough

        def retrieve(d: dict[str, Any]) -> list[Hit]:
            return self.search(d["question"], k=k)

        def answer(d: dict[str, Any]) -> Answer:
            return self.answerer.answer(d["question"], d["hits"])

        return RunnablePassthrough.assign(hits=RunnableLambda(retrieve)) | RunnableLambda(answer)


# Follow-ups that only make sense with the previous question ("那退休的呢？").
_FOLLOWUP_OPENERS = ("那", "那么", "如果是", "如果", "要是", "换成", "对于", "还有")


def rewrite_followup(question: str, history: list[Turn]) -> str:
    """Turn a short follow-up into a standalone question without an LLM.

    "那退休的呢？" after "在职职工住院报销比例是多少？" becomes
    "退休的 在职职工住院报销比例是多少？": the follow-up's new subject is put in front of
    the previous question, so retrieval sees both and the answerer's key terms include
    the new category.
    """
    if not history:
        return question
    q = question.strip().rstrip("？?。")
    is_short = len(q) <= 12
    opener = q.startswith(_FOLLOWUP_OPENERS)
    ends_like_followup = q.endswith(("呢", "的呢", "怎么办", "怎么算"))
    if not (is_short and (opener or ends_like_followup)):
        return question
    subject = q
    for o in sorted(_FOLLOWUP_OPENERS, key=len, reverse=True):
        if subject.startswith(o):
            subject = subject[len(o) :]
            break
    subject = subject.removesuffix("呢").removesuffix("的").strip()
    prev = history[-1].question.strip()
    return f"{subject} {prev}" if subject else prev
