"""The assistant: corpus, index, retriever and answerer loaded once, used by every interface.

``Assistant.ask`` validates the question, retrieves (honouring explicit 文号/条
references), answers, and records the time of each stage. The retrieval → answer
steps are also exposed as a LangChain Runnable chain (``Assistant.chain``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from rag.answer.extractive import ExtractiveAnswerer, analyse
from rag.errors import InputError
from rag.index.backend import StoreConfig
from rag.index.embedders import Embedder, embedder_from_settings
from rag.index.store import LoadedIndex, load_index
from rag.models import Answer, Citation, Hit
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
        self.index = index or load_index(
            settings.index_dir, self.embedder.name, store=StoreConfig.from_settings(settings)
        )
        self.lookup = ReferenceLookup(self.index.clauses)
        self.retriever: Retriever = retriever_from_settings(self.index, self.embedder, settings)
        self.home = settings.home_region
        self.answerer = ExtractiveAnswerer(
            min_coverage=settings.refuse_threshold,
            corpus=[c.text for c in self.index.clauses],
        )

    # -- stages --------------------------------------------------------------------
    def named_document(self, question: str, filters: Filters | None) -> Filters | None:
        """``filters``, or when there are none and the question names one document, a
        filter to that document."""
        if filters is None or filters.is_empty():
            docs = self.lookup.doc_nos(question)
            if len(docs) == 1:
                return Filters(doc_no=docs[0])
        return filters

    def search(self, query: str, k: int = 5, filters: Filters | None = None) -> list[Hit]:
        q = check_question(query, self.settings.max_question_chars)
        pinned = self.lookup(q)
        if not pinned:  # a pinned clause comes first; the rest may be from other texts
            filters = self.named_document(q, filters)
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
        # a comparison ("嘉兴、天津、上海…是否一致") needs clauses about each side
        n = max(k, 10) if analyse(standalone).compared() else k
        hits = self.search(standalone, k=n, filters=filters)
        t1 = time.perf_counter()
        if mode == "llm":
            from rag.answer.generative import generate

            ans = generate(standalone, hits, self.settings, fallback=self.answerer)
        else:
            ans = self.answerer.answer(standalone, hits)
            ans = self._fill_parts(standalone, ans, k, filters)
        t2 = time.perf_counter()
        ans.question = q
        ans.id = id
        for ref in self.lookup.unresolved(standalone):
            ans.notes.append(f"没有这一条款：{ref}")
        if standalone != q:
            ans.notes.append(f"understood as: {standalone}")
        ans.timings_ms = {
            "retrieve": (t1 - t0) * 1000,
            "answer": (t2 - t1) * 1000,
            "total": (t2 - t0) * 1000,
        }
        return ans, hits

    def _fill_parts(self, question: str, ans: Answer, k: int, filters: Filters | None) -> Answer:
        """Answer on their own the parts of a multi-part question the answer leaves out.

        "110号办法什么时候实施？消防机构多久检查一次消火栓？" asks two things, often
        answered by two clauses; one retrieval for both tends to find one of them. Each
        part whose words the cited clauses do not cover (or whose figure the answer
        lacks) is retrieved and answered alone, in the document the whole question
        names, and appended with its own citations.
        """
        parts = split_parts(question)
        if len(parts) < 2:
            return ans
        filters = self.named_document(question, filters)
        added: list[Answer] = []
        missing: list[str] = []
        topic = self._topic(parts[0])
        for i, part in enumerate(parts):
            if not ans.refused and self.answerer.answers_part(part, ans):
                continue
            # a later part leans on the first for its subject ("“甲类药品”和“乙类药品”有什么
            # 区别？支付方式有何不同？"): it is searched with the first part's rarest words
            carried = [t for t in topic if t not in part] if i else []
            query = " ".join([*carried, part])
            sub = self.answerer.answer(part, self.search(query, k=k, filters=filters))
            if sub.refused:
                missing.append(part)
            elif not any(self.answerer.answers_part(part, a) for a in added):
                added.append(sub)
        if not added:
            return ans
        merged = merge_answers(question, ([] if ans.refused else [ans]) + added)
        if missing:
            merged.notes.append("以下部分在文件中没有找到答案：" + "；".join(missing))
        return merged

    def _topic(self, part: str, n: int = 3) -> list[str]:
        """The ``n`` rarest key words of a question part: what it is about."""
        terms = self.answerer.key_terms(part)
        return sorted(terms, key=lambda t: -self.answerer.rarity(t))[:n]

    def chain(self, k: int = 5) -> Any:
        """The retrieval → answer pipeline as a LangChain Runnable (question in, Answer out)."""
        from langchain_core.runnables import RunnableLambda, RunnablePassthrough

        def retrieve(d: dict[str, Any]) -> list[Hit]:
            return self.search(d["question"], k=k)

        def answer(d: dict[str, Any]) -> Answer:
            return self.answerer.answer(d["question"], d["hits"])

        return RunnablePassthrough.assign(hits=RunnableLambda(retrieve)) | RunnableLambda(answer)


_PART_END = re.compile(r"(?<=[？?])")


def split_parts(question: str) -> list[str]:
    """The questions of a multi-part question (split after each ？), or ``[question]``.

    A part shorter than four characters ("为什么？") stays with the one before it.
    """
    parts: list[str] = []
    for p in _PART_END.split(question.strip()):
        p = p.strip()
        if not p:
            continue
        if parts and len(re.sub(r"[？?\s]", "", p)) < 4:
            parts[-1] += p
        else:
            parts.append(p)
    return parts if len(parts) > 1 else [question]


def _renumber(text: str, number: dict[int, int]) -> str:
    """``[2]`` → ``[number[2]]`` in an answer text."""
    return re.sub(r"\[(\d+)\]", lambda m: f"[{number.get(int(m.group(1)), m.group(1))}]", text)


def merge_answers(question: str, answers: list[Answer]) -> Answer:
    """One answer from several: texts joined by lines, citations renumbered in order
    (a clause cited twice keeps its first number)."""
    citations: list[Citation] = []
    lines = []
    for a in answers:
        number: dict[int, int] = {}
        for i, c in enumerate(a.citations, 1):
            same = next(
                (
                    j
                    for j, d in enumerate(citations, 1)
                    if (d.doc_no, d.clause, d.title) == (c.doc_no, c.clause, c.title)
                ),
                None,
            )
            if same is None:
                citations.append(c)
                same = len(citations)
            number[i] = same
        lines.append(_renumber(a.answer, number))
    mode = answers[0].mode
    notes = [n for a in answers for n in a.notes]
    return Answer(
        question=question,
        answer="\n".join(lines),
        refused=False,
        mode=mode,
        citations=citations,
        notes=notes,
    )


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
