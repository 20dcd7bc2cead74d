"""Extractive answers: the sentences of the retrieved clauses that answer the question.

Offline and deterministic. Every sentence of the answer is copied verbatim from a
clause (figures and conditions stay whole) and carries the number of its citation;
citations are built from clause metadata, never typed. When the retrieved clauses
do not cover the question's key words, the answer is a refusal that shows the
nearest clauses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.answer.figures import figures
from rag.index.tokenize import PolicyTokenizer
from rag.models import Answer, Citation, Hit

_SENT_SPLIT = re.compile(r"(?<=[。；！？])|\n+")
_QUANTITY_Q = re.compile(
    r"多少|几|比例|标准|限额|金额|费用|多长|多久|期限|比率|%|报销|起付|缴费|年限"
)
# Words that are in almost every question about policy and say nothing about which
# clause answers it.
_GENERIC = frozenset(
    [
        "规定",
        "政策",
        "文件",
        "办法",
        "条例",
        "有关",
        "相关",
        "情况",
        "问题",
        "要求",
        "具体",
        "按照",
        "根据",
        "规定的",
        "内容",
        "哪些",
        "多少",
        "怎么",
        "如何",
        "可以",
        "需要",
        "是否",
        "什么",
        "嘉兴",
        "嘉兴市",
        "本市",
        "我市",
        "现在",
        "目前",
    ]
)
REFUSAL = "现有文件中没有找到能回答这个问题的条款。以下是最接近的条款，供参考："


@dataclass
class Scored:
    hit_rank: int
    pos: int
    text: str
    score: float


def split_sentences(text: str) -> list[str]:
    """Sentences of a clause, split after 。；！？ and at line breaks."""
    return [s.strip() for s in _SENT_SPLIT.split(text) if s and s.strip()]


def cite_label(doc_no: str, label: str, title: str) -> str:
    """``嘉政发〔2014〕87号 第十四条`` (or the title for a document without 文号)."""
    head = doc_no or f"《{title}》"
    return f"{head} {label}".strip()


class ExtractiveAnswerer:
    """Compose an answer from the best sentences of the retrieved clauses."""

    def __init__(
        self,
        tokenizer: PolicyTokenizer | None = None,
        *,
        min_coverage: float = 0.5,
        max_sentences: int = 3,
        max_chars: int = 360,
    ) -> None:
        self.tok = tokenizer or PolicyTokenizer()
        self.min_coverage = min_coverage
        self.max_sentences = max_sentences
        self.max_chars = max_chars

    # -- question analysis -------------------------------------------------------------
    def key_terms(self, question: str) -> list[str]:
        """Content words of the question (no bigrams, no question or generic words)."""
        words = [t for t in self.tok.words(question) if len(t) >= 2 and t not in _GENERIC]
        return list(dict.fromkeys(words))

    def coverage(self, question: str, hits: list[Hit]) -> float:
        """Share of the question's key terms (weighted by length) found in the top clauses."""
        terms = self.key_terms(question)
        if not terms:
            return 1.0 if hits else 0.0
        pool = "".join(
            f"{h.clause.doc_title}{h.clause.part_title}{''.join(h.clause.headings)}{h.clause.text}"
            for h in hits[:3]
        )
        pool = re.sub(r"\s+", "", pool)
        got = sum(len(t) for t in terms if t in pool or self._bigram_hit(t, pool))
        return got / sum(len(t) for t in terms)

    @staticmethod
    def _bigram_hit(term: str, pool: str) -> bool:
        """A long term counts when most of its character bigrams occur (报销比例 ~ 报销的比例)."""
        if len(term) < 4:
            return False
        grams = [term[i : i + 2] for i in range(len(term) - 1)]
        return sum(g in pool for g in grams) >= 0.75 * len(grams)

    # -- answering -------------------------------------------------------------------
    def score_sentences(self, question: str, hits: list[Hit]) -> list[Scored]:
        q_tokens = set(self.tok.tokens(question))
        wants_figure = bool(_QUANTITY_Q.search(question))
        out: list[Scored] = []
        for rank, h in enumerate(hits):
            for pos, sent in enumerate(split_sentences(h.clause.text)):
                s_tokens = set(self.tok.tokens(sent))
                if not s_tokens or not q_tokens:
                    continue
                overlap = sum(len(t.lstrip("#")) for t in q_tokens & s_tokens)
                base = overlap / sum(len(t.lstrip("#")) for t in q_tokens)
                bonus = 0.15 if wants_figure and figures(sent) else 0.0
                prior = 0.25 / (1 + rank)  # the retriever's order is evidence too
                short = 0.1 if len(sent) < 8 else 0.0  # a bare heading answers nothing
                out.append(Scored(rank, pos, sent, base + bonus + prior - short))
        return out

    def answer(self, question: str, hits: list[Hit], *, mode: str = "extractive") -> Answer:
        if not hits or self.coverage(question, hits) < self.min_coverage:
            return self.refuse(question, hits, mode=mode)
        scored = self.score_sentences(question, hits)
        if not scored:
            return self.refuse(question, hits, mode=mode)
        best = max(s.score for s in scored)
        ranked = sorted(scored, key=lambda s: (-s.score, s.hit_rank, s.pos))
        picked: list[Scored] = []
        total = 0
        for s in ranked:
            if len(picked) >= self.max_sentences or s.score < 0.6 * best:
                break
            if total + len(s.text) > self.max_chars and picked:
                continue
            picked.append(s)
            total += len(s.text)
        picked.sort(key=lambda s: (s.hit_rank, s.pos))
        citations: list[Citation] = []
        index_of: dict[int, int] = {}
        parts: list[str] = []
        for s in picked:
            h = hits[s.hit_rank]
            if s.hit_rank not in index_of:
                c = h.clause
                citations.append(Citation(c.doc_no, c.label, c.doc_title, c.text, h.score))
                index_of[s.hit_rank] = len(citations)
            parts.append(f"{s.text}[{index_of[s.hit_rank]}]")
        lead = self._lead(citations)
        return Answer(
            question=question,
            answer=lead + "".join(parts),
            refused=False,
            mode=mode,
            citations=citations,
        )

    @staticmethod
    def _lead(citations: list[Citation]) -> str:
        c = citations[0]
        where = cite_label(c.doc_no, c.clause, c.title)
        if c.doc_no:
            return f"根据《{c.title}》（{where}）："
        return f"根据{where}："

    def refuse(self, question: str, hits: list[Hit], *, mode: str = "extractive") -> Answer:
        near = [
            Citation(h.clause.doc_no, h.clause.label, h.clause.doc_title, h.clause.text, h.score)
            for h in hits[:3]
        ]
        return Answer(question=question, answer=REFUSAL, refused=True, mode=mode, citations=near)
