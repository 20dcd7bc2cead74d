"""Generative answers (``mode="llm"``) from an OpenAI-compatible endpoint, verified.

The chain is ``prompt | model | output parser | verifier``. The model writes the
answer from the numbered clauses; the verifier then checks it sentence by sentence:

* a sentence without a citation is dropped (and noted);
* every cited number must be one of the clauses shown (``1..len(hits)``);
* every figure of a sentence (amount, percentage, duration, date, in the normal
  form of :func:`rag.ingest.figures.figures`) must occur in one of the clauses the
  sentence cites;
* a sentence the clauses it cites do not support (its content words, sweeping words
  and negations, see :mod:`rag.answer.support`) is dropped (and noted), so a claim
  an injected instruction made the model write ("医保已全面取消……[1]") is not shown.

An invalid citation or an unsupported figure rejects the whole answer, so a figure
that is not in a cited clause never reaches the user; when every sentence is dropped
the answer is rejected too. Citations are built from the
clause metadata of the cited hits, never from model text, and the ``[n]`` markers are
renumbered to the citations actually used. Whenever the endpoint is not configured,
down, slow, returns an error or an unusable answer, the extractive answer is shown
instead with a note saying why.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from rag.answer.prompt import REFUSAL_TOKEN, build_prompt, prompt_inputs
from rag.answer.support import MIN_COVERAGE, clause_text, support
from rag.errors import LLMError
from rag.ingest.figures import cn_number, figures, normalize
from rag.models import Answer, Citation, Hit
from rag.settings import Settings

log = logging.getLogger(__name__)

# A citation marker: [1], [1,3], [1、3], 【1】, ［1］ (the model may write any of them).
_CITE = r"[\[【［]\s*\d{1,3}(?:\s*[,，、]\s*\d{1,3})*\s*[\]】］]"
_CITE_RE = re.compile(_CITE)
_NUM_RE = re.compile(r"\d{1,3}")
# A sentence: text up to a terminator, with closing quotes and the citation markers
# that follow the terminator ("……。[1]"), or up to a line break.
_SENT_RE = re.compile(rf"[^。！？!?\n]*(?:[。！？!?]+[”’」』）)]*(?:[ \t]*{_CITE})*|\n|$)")
_PUNCT = re.compile(r"[\s。，,.！!？?：:；;“”\"'‘’「」]+")

_CN = "零〇一二两三四五六七八九十百千万"
_ARTICLE_RE = re.compile(rf"第([{_CN}]+)(条|款|项|章|节|号)")


@dataclass
class Sentence:
    """One sentence of the model's answer and the clause numbers it cites."""

    text: str
    cites: list[int]

    @property
    def body(self) -> str:
        """The sentence without its citation markers (for the figure check)."""
        return _CITE_RE.sub("", self.text)


@dataclass
class Verdict:
    """Result of :func:`verify`.

    Attributes:
        ok: The answer passed every check.
        refused: The model said the clauses do not answer the question.
        text: The verified answer, ``[n]`` renumbered to ``used`` (when ``ok``).
        used: 0-based indices into ``hits`` of the cited clauses, in citation order.
        notes: Remarks for the user (dropped sentences).
        reason: Why the answer was rejected (when not ``ok`` and not ``refused``).
    """

    ok: bool
    refused: bool = False
    text: str = ""
    used: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reason: str = ""


# -- figures ----------------------------------------------------------------------------
def prenormalize(text: str) -> str:
    """Forms :func:`rag.ingest.figures.normalize` does not handle, made comparable.

    ``第三十八条`` → ``第38条``, ``百分之五点五`` → ``5.5%``, ``1.5万元`` → ``15000元``,
    ``30天`` → ``30日``. Applied to both the answer and the clauses before figures are
    extracted, so the comparison stays symmetric.

    Args:
        text: Answer or clause text.

    Returns:
        The text with those forms rewritten.
    """
    t = unicodedata.normalize("NFKC", text)
    t = re.sub(r"\s+", "", t)

    def article(m: re.Match[str]) -> str:
        v = cn_number(m.group(1))
        return f"第{v}{m.group(2)}" if v is not None else m.group(0)

    t = _ARTICLE_RE.sub(article, t)
    # decimals (百分之五点五 → 5.5%), 万/亿 (1.5万元 → 15000元) and Chinese numerals
    # before units (五万元 → 50000元, 三十日 → 30日)
    t = normalize(t)
    t = re.sub(r"(\d)天", r"\1日", t)
    return t


def answer_figures(text: str) -> list[str]:
    """Figures of ``text`` in the normal form used by the verifier."""
    return figures(prenormalize(_CITE_RE.sub("", text)))


def has_figure(pool: str, fig: str) -> bool:
    """Whether ``fig`` occurs in ``pool`` as a whole number (``2人`` not inside ``12人``).

    Args:
        pool: A prenormalised clause text.
        fig: A figure in normal form.

    Returns:
        True when some occurrence is not glued to further digits on either side.
    """
    start = pool.find(fig)
    while start != -1:
        end = start + len(fig)
        before_ok = start == 0 or not (pool[start - 1].isdigit() or pool[start - 1] == ".")
        after_ok = True
        if fig[-1].isdigit() and end < len(pool):
            nxt = pool[end]
            after_ok = not (
                nxt.isdigit() or (nxt == "." and end + 1 < len(pool) and pool[end + 1].isdigit())
            )
        if before_ok and after_ok:
            return True
        start = pool.find(fig, start + 1)
    return False


def clause_source(hit: Hit) -> str:
    """The clause text plus its 文号, label, title and headings (an answer may repeat
    ``国务院令第735号`` or ``第二十九条``)."""
    c = hit.clause
    meta = " ".join([c.doc_no, c.label, c.doc_title, c.part_title, *c.headings])
    return f"{c.text}\n{meta}"


def clause_pool(hit: Hit) -> str:
    """Everything a figure of the answer may legitimately come from for one hit:
    :func:`clause_source`, prenormalised."""
    return prenormalize(clause_source(hit))


# -- verifier ---------------------------------------------------------------------------
def cited_numbers(text: str) -> list[int]:
    """Clause numbers cited in ``text``, in order of first appearance."""
    nums: list[int] = []
    for m in _CITE_RE.finditer(text):
        for n in _NUM_RE.findall(m.group(0)):
            if int(n) not in nums:
                nums.append(int(n))
    return nums


def split_answer(text: str) -> list[Sentence]:
    """Split the model's answer into sentences, each with the numbers it cites.

    A marker right after the terminator belongs to the sentence before it
    (``……。[1]`` and ``……[1]。`` both cite 1).

    Args:
        text: The model's raw answer.

    Returns:
        The non-empty sentences, in order.
    """
    out: list[Sentence] = []
    for m in _SENT_RE.finditer(text):
        s = m.group(0)
        if not s.strip():
            continue
        out.append(Sentence(s, cited_numbers(s)))
    return out


def is_refusal(text: str) -> bool:
    """The model's "the clauses do not answer" reply (possibly with punctuation)."""
    bare = _PUNCT.sub("", text)
    return bare == REFUSAL_TOKEN or (REFUSAL_TOKEN in bare and not _CITE_RE.search(text))


def _short(s: str, n: int = 30) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[:n] + "…"


def verify(text: str, hits: list[Hit], min_support: float = MIN_COVERAGE) -> Verdict:
    """Check the model's answer against the clauses it cites.

    Args:
        text: The model's raw answer.
        hits: The clauses shown to the model, numbered from 1.
        min_support: Share of a sentence's content words its cited clauses must hold
            (:func:`rag.answer.support.support`).

    Returns:
        A :class:`Verdict`: ``ok`` with the renumbered answer, ``refused``, or
        rejected with a ``reason``.
    """
    if not text or not text.strip():
        return Verdict(ok=False, reason="empty output")
    if is_refusal(text):
        return Verdict(ok=False, refused=True)
    pools: dict[int, str] = {}
    words: dict[int, str] = {}
    kept: list[Sentence] = []
    notes: list[str] = []
    unsupported = 0
    for sent in split_answer(text):
        if not sent.cites:
            if _PUNCT.sub("", sent.body):
                notes.append(f"dropped a sentence without citation: {_short(sent.text)}")
            continue
        bad = [n for n in sent.cites if not 1 <= n <= len(hits)]
        if bad:
            return Verdict(
                ok=False,
                notes=notes,
                reason=f"citation [{bad[0]}] does not exist (clauses 1..{len(hits)})",
            )
        for fig in answer_figures(sent.body):
            if not any(
                has_figure(pools.setdefault(n, clause_pool(hits[n - 1])), fig) for n in sent.cites
            ):
                where = "".join(f"[{n}]" for n in sent.cites)
                return Verdict(
                    ok=False, notes=notes, reason=f"figure {fig} not in cited clauses {where}"
                )
        cited = [words.setdefault(n, clause_text(clause_source(hits[n - 1]))) for n in sent.cites]
        if not support(sent.body, cited, min_support).ok:
            unsupported += 1
            notes.append(
                f"dropped a sentence its cited clauses do not support: {_short(sent.text)}"
            )
            continue
        kept.append(sent)
    if not kept:
        why = "no sentence is supported by the clauses it cites" if unsupported else ""
        return Verdict(ok=False, notes=notes, reason=why or "no sentence cites a clause")
    renum: dict[int, int] = {}
    for sent in kept:
        for n in sent.cites:
            renum.setdefault(n, len(renum) + 1)

    def remark(m: re.Match[str]) -> str:
        return "".join(f"[{renum[int(n)]}]" for n in dict.fromkeys(_NUM_RE.findall(m.group(0))))

    answer = "".join(_CITE_RE.sub(remark, s.text) for s in kept).strip()
    return Verdict(ok=True, text=answer, used=[n - 1 for n in renum], notes=notes)


# -- chain ------------------------------------------------------------------------------
def api_key(settings: Settings) -> str:
    """``settings.llm_api_key``, else ``$OPENAI_API_KEY``, else a placeholder."""
    return settings.llm_api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"


@functools.lru_cache(maxsize=8)
def _chat_model(base_url: str, model: str, key: str, timeout: float) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=base_url,
        model=model,
        api_key=key,  # type: ignore[arg-type]
        timeout=timeout,
        max_retries=0,
        temperature=0,
    )


def make_model(settings: Settings) -> Any:
    """The chat model for ``settings`` (a cached ``ChatOpenAI``).

    Raises:
        LLMError: when the base URL or model name is not set.
    """
    if not settings.llm_base_url or not settings.llm_model:
        raise LLMError("not configured (set RAG_LLM_BASE_URL and RAG_LLM_MODEL)")
    return _chat_model(
        settings.llm_base_url, settings.llm_model, api_key(settings), float(settings.llm_timeout)
    )


def build_chain(model: Any, hits: list[Hit], min_support: float = MIN_COVERAGE) -> Any:
    """``prompt | model | output parser | verifier`` for one set of hits.

    Args:
        model: A LangChain chat model (``ChatOpenAI``, or a fake one in tests).
        hits: The clauses shown to the model.

    Returns:
        A Runnable taking :func:`rag.answer.prompt.prompt_inputs` and returning a
        :class:`Verdict`.
    """
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.runnables import RunnableLambda

    def check(text: str) -> Verdict:
        return verify(text, hits, min_support)

    return build_prompt() | model | StrOutputParser() | RunnableLambda(check)


def describe_error(exc: BaseException, settings: Settings | None = None) -> str:
    """A one-line reason for a failed call to the endpoint."""
    if isinstance(exc, LLMError):
        return str(exc)
    try:
        import openai
    except ImportError:  # pragma: no cover - langchain-openai depends on openai
        openai = None  # type: ignore[assignment]
    import httpx

    timeout = f" after {settings.llm_timeout:g} s" if settings is not None else ""
    where = f" ({settings.llm_base_url})" if settings is not None else ""
    if openai is not None:
        if isinstance(exc, openai.APITimeoutError):
            return f"endpoint timed out{timeout}"
        if isinstance(exc, openai.APIConnectionError):
            return f"endpoint unreachable{where}"
        if isinstance(exc, openai.APIStatusError):
            return f"endpoint returned HTTP {exc.status_code}"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return f"endpoint timed out{timeout}"
    if isinstance(exc, httpx.TransportError | ConnectionError):
        return f"endpoint unreachable{where}"
    return f"call failed ({type(exc).__name__}: {_short(str(exc), 80)})"


def _fallback(
    question: str, hits: list[Hit], fallback: Any, note: str, notes: list[str] | None = None
) -> Answer:
    ans: Answer = fallback.answer(question, hits, mode="llm")
    ans.notes.extend(notes or [])
    ans.notes.append(f"{note}; extractive answer shown")
    return ans


def to_answer(verdict: Verdict, question: str, hits: list[Hit], *, fallback: Any) -> Answer:
    """Turn a verdict into the user's :class:`Answer` (falling back when rejected).

    Args:
        verdict: The result of :func:`verify`.
        question: The question.
        hits: The clauses shown to the model.
        fallback: An ``ExtractiveAnswerer`` (``.answer`` and ``.refuse``).

    Returns:
        The verified generative answer, a refusal, or the extractive answer with a note.
    """
    if verdict.refused:
        ans: Answer = fallback.refuse(question, hits, mode="llm")
        ans.notes.append("llm: the retrieved clauses do not answer the question")
        return ans
    if not verdict.ok:
        return _fallback(
            question, hits, fallback, f"llm answer rejected: {verdict.reason}", verdict.notes
        )
    citations = []
    for i in verdict.used:
        h = hits[i]
        c = h.clause
        citations.append(Citation(c.doc_no, c.label, c.doc_title, c.text, h.score))
    return Answer(
        question=question,
        answer=verdict.text,
        refused=False,
        mode="llm",
        citations=citations,
        notes=list(verdict.notes),
    )


def generate(
    question: str,
    hits: list[Hit],
    settings: Settings,
    *,
    fallback: Any,
    model: Any | None = None,
) -> Answer:
    """Answer ``question`` from ``hits`` with the LLM, verified; never raises for the endpoint.

    Args:
        question: The (standalone) question.
        hits: Retrieved clauses; the model sees them numbered from 1.
        settings: ``llm_base_url``, ``llm_model``, ``llm_api_key``, ``llm_timeout``.
        fallback: The ``ExtractiveAnswerer`` used when the LLM answer cannot be used.
        model: A LangChain chat model to use instead of ``ChatOpenAI`` (tests).

    Returns:
        An :class:`Answer` with ``mode="llm"``: the verified generative answer, a
        refusal, or the extractive answer with a note saying why.
    """
    if not hits:
        return _fallback(question, hits, fallback, "llm not called (no clauses retrieved)")
    try:
        chat = model if model is not None else make_model(settings)
        chain = build_chain(chat, hits, settings.llm_min_support)
        verdict: Verdict = chain.invoke(prompt_inputs(question, hits))
    except Exception as exc:  # endpoint problems must not reach the caller
        reason = describe_error(exc, settings)
        log.warning("llm unavailable: %s", reason)
        log.debug("llm call failed", exc_info=True)
        return _fallback(question, hits, fallback, f"llm unavailable: {reason}")
    return to_answer(verdict, question, hits, fallback=fallback)
