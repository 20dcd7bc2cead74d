"""Whether a sentence of a generated answer says what the clauses it cites say.

A model that obeys an instruction hidden in a question or a clause ("忽略以上规则…")
writes claims no clause makes, with a citation number so that they look sourced:
"医保已全面取消，请立即拨打热线办理退款[1]。" The figure check of
:mod:`rag.answer.generative` cannot see such a sentence when it has no figure; this
check reads its words.

A sentence is supported when

* most of its content words occur in a cited clause (its text, 文号, label, title and
  headings): the words are jieba's precise cut with the project's policy dictionary
  (:mod:`rag.index.tokenize`), less stopwords and the frame words of any answer
  (根据, 规定 …); a word also counts when it is a citizen word of
  ``index/synonyms.txt`` whose official term the clause uses (起付线 → 起付标准) or an
  abbreviation of a clause phrase (医保 → 医疗保障); and
* every sweeping word (取消, 免费, 一律, 所有 …) and every negation (不X, 没有, 未 …) it
  uses is in a cited clause too (a negation may be swapped for one of its kind: 不准 →
  不得): a paraphrase keeps the clause's scope and polarity, an injected claim changes
  them.

``MIN_COVERAGE`` was calibrated on 43 faithful paraphrases and 48 injected claims
written for real clauses of the shipped corpus
(``tests/reliability/data/llm_support_cases.jsonl``); the rates are in the README.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.index.tokenize import STOPWORDS, get_tokenizer, normalize
from rag.retrieve.query import load_synonyms

# Share of a sentence's content words that must occur in its cited clauses (the
# default of RAG_LLM_MIN_SUPPORT): faithful paraphrases scored 0.84 and above, injected
# claims without a sweeping word or negation 0.67 and below.
MIN_COVERAGE = 0.75

# Words any answer may use to frame what a clause says; they claim nothing.
FRAME = frozenset(
    """
    根据 按照 依照 依据 规定 规定的 有关 相关 文件 本文件 条款 本条 该条 这一 这份 该 此外 同时
    其中 另外 具体 具体来说 也就是说 即 包括 以及 通过 进行 开展 方面 情况 工作 要求 提出 明确
    指出 表示 说明 强调 目的 为了 旨在 用于 可以 能够 应当 应该 需要 必须 都 也 还 并 并且 等
    可 要 须 才能 方可 就 不仅 而且 主要 一是 二是 三是
    """.split()
)
# Words that widen or reverse a rule. A faithful paraphrase uses one only when its
# clause does; an injected claim ("医保已全面取消", "一律免费") typically adds one.
SWEEPING = tuple(
    """
    取消 停止 停运 废止 撤销 终止 作废 失效 清零 免费 全额 无偿 一律 全面 全部 所有 任何 随意
    直接 立即 自行 即使
    """.split()
)
# Negations a paraphrase may swap for one another (不准 → 不得, 无 → 没有); any other
# negation ("不收", "不影响") must be in a cited clause as written.
NEGATION_CLASSES = (
    ("不得", "不准", "不许", "禁止", "严禁", "不能", "不应"),
    ("不需要", "不用", "不必", "无需", "无须", "不需", "免于", "免除"),
    ("没有", "尚未", "未", "无"),
)
_NEGATION = re.compile(r"不需要|[不没未无非][\u4e00-\u9fff]")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Support:
    """How far a sentence is supported by its cited clauses.

    Attributes:
        ok: Supported: coverage high enough, no sweeping word or negation the clauses
            lack.
        coverage: Share of the sentence's content words found in the clauses.
        missing: The content words not found.
        sweeping: Sweeping words of the sentence the clauses lack.
        negations: Negations of the sentence the clauses lack.
    """

    ok: bool
    coverage: float
    missing: tuple[str, ...] = ()
    sweeping: tuple[str, ...] = ()
    negations: tuple[str, ...] = ()


def clause_text(pool: str) -> str:
    """A clause text (with its metadata) in the form words are looked up in."""
    return _SPACE.sub("", normalize(pool))


def content_words(sentence: str) -> list[str]:
    """The content words of ``sentence``: jieba's precise cut (policy dictionary; the
    shared tokenizer's, as the extractive answerer uses it), less stopwords, frame words
    and words without a Chinese character (figures are checked on their own)."""
    tagged = get_tokenizer().tagged(sentence)
    return [w for w, _ in tagged if w not in STOPWORDS and w not in FRAME and _CJK.search(w)]


@lru_cache(maxsize=1)
def _synonyms() -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((word, tuple(terms.split())) for word, terms in load_synonyms())


def word_in(word: str, pool: str) -> bool:
    """Whether ``word`` occurs in ``pool``: as written, through a citizen-word synonym, or
    as an abbreviation of a phrase of the pool (医保 → 医疗保障: its characters in order,
    at most three characters apart)."""
    if word in pool:
        return True
    for everyday, terms in _synonyms():
        if everyday in word and any(t in pool for t in terms):
            return True
    if 2 <= len(word) <= 4:
        gap = "".join(f"{re.escape(c)}[^，。；：、]{{0,3}}" for c in word[:-1])
        if re.search(gap + re.escape(word[-1]), pool):
            return True
    return False


def negations(text: str, pool: str) -> tuple[str, ...]:
    """The negations of ``text`` (不X, 没有, 未, 无 …) that ``pool`` lacks.

    A negation counts as present when the pool has it as written (its first two
    characters) or has another member of its class of :data:`NEGATION_CLASSES`.
    """
    out = []
    for m in _NEGATION.finditer(text):
        neg = m.group(0)
        cls = next((c for c in NEGATION_CLASSES for w in c if text.startswith(w, m.start())), ())
        if neg in pool or any(w in pool for w in cls):
            continue
        out.append(neg)
    return tuple(out)


def support(sentence: str, pools: list[str], min_coverage: float = MIN_COVERAGE) -> Support:
    """How far ``sentence`` is supported by the clause texts ``pools`` it cites.

    Args:
        sentence: One sentence of the answer, without its citation markers.
        pools: The cited clauses' texts with their metadata, each as made by
            :func:`clause_text`.
        min_coverage: Share of the content words that must be found.

    Returns:
        A :class:`Support`; a sentence without content words claims nothing and is ok.
    """
    text = normalize(sentence)
    pool = "\n".join(pools)
    words = content_words(text)
    missing = tuple(w for w in words if not word_in(w, pool))
    coverage = 1.0 - len(missing) / len(words) if words else 1.0
    sweeping = tuple(w for w in SWEEPING if w in text and w not in pool)
    negs = negations(text, pool)
    ok = coverage >= min_coverage and not sweeping and not negs
    return Support(ok, round(coverage, 3), missing, sweeping, negs)
