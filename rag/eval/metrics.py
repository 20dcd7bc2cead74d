"""Evaluation metrics: pure functions over one item, and their aggregation over a run.

Every text comparison is made on a normal form (:func:`normalize_text`): NFKC, case
folded, whitespace and punctuation removed, Chinese numerals before a unit turned into
digits (``三十日`` → ``30日``, ``百分之八十`` → ``80%``). Figures are compared with digit
boundaries, so ``290元`` is not found inside ``1290元``.

Per item (``None`` = not applicable, left out of the mean):

* ``key_fact_recall``: share of the gold key facts found in the answer (answerable items
  with key facts; a refusal states no facts and scores 0).
* ``char_f1`` / ``rouge_l``: character-multiset F1 and LCS-based ROUGE-L F1 against the
  gold answer (answerable items with a gold answer; a refusal scores 0).
* ``figure_hallucination``: share of the answer's distinct figures found in none of the
  texts (nor 文号, title, label) of the clauses it cites; 0 when the answer has no figure;
  measured on answers only (not on refusals or errors).
* ``citation_doc_precision`` / ``citation_doc_recall``: documents (文号, or title when the
  document has none) cited vs gold. Precision is over what the answer cites, so it is
  ``None`` when the answer cites nothing (a refusal, an error); recall is then 0.
* ``citation_clause_{precision,recall}_{strict,lenient}``: the same over (document,
  clause) pairs; strict = same canonical label, lenient = same article or same top
  outline item (:func:`rag.ingest.labels.same_top_unit`); a gold clause ``""`` (whole
  document) matches any clause of the document.
* ``retrieval_recall@{3,5,10}``: share of gold clauses (lenient) among the first k
  retrieved clauses; ``mrr@10``: reciprocal rank of the first retrieved clause matching
  any gold clause (0 when none in the first 10).
* ``refusal_recall`` (unanswerable items: 1 if refused), ``false_refusal_rate``
  (answerable items: 1 if refused), ``refusal_precision`` (refused items: 1 if
  unanswerable), ``refusal_accuracy`` (all items: refused == not answerable).

Citation, key-fact, text and retrieval metrics are measured on answerable items only.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.answer.estimate import ESTIMATE_HEAD
from rag.ingest.figures import figures
from rag.ingest.figures import normalize as normalize_figures
from rag.ingest.labels import same_top_unit, split_label

RETRIEVAL_KS = (3, 5, 10)
MRR_K = 10

METRICS: tuple[str, ...] = (
    "key_fact_recall",
    "char_f1",
    "rouge_l",
    "figure_hallucination",
    "citation_doc_precision",
    "citation_doc_recall",
    "citation_clause_precision_strict",
    "citation_clause_recall_strict",
    "citation_clause_precision_lenient",
    "citation_clause_recall_lenient",
    *(f"retrieval_recall@{k}" for k in RETRIEVAL_KS),
    f"mrr@{MRR_K}",
    "refusal_recall",
    "false_refusal_rate",
    "refusal_precision",
    "refusal_accuracy",
)
"""Every per-item metric, in display order."""

LOWER_IS_BETTER = frozenset({"figure_hallucination", "false_refusal_rate"})

HEADLINE: tuple[str, ...] = (
    "key_fact_recall",
    "citation_doc_precision",
    "citation_clause_recall_lenient",
    "retrieval_recall@3",
    "refusal_recall",
    "false_refusal_rate",
)
"""Metrics reported with a bootstrap 95% confidence interval."""

LATENCY_STAGES = ("retrieve", "answer", "total")
DEFAULT_SEED = 20240611
DEFAULT_RESAMPLES = 1000


# --------------------------------------------------------------------------- normal form

_KEEP = frozenset("%‰/")
_CN_YEAR_RE = re.compile(r"[〇零○一二三四五六七八九]{4}(?=年)")
_CN_DIGIT = {c: str(i) for i, c in enumerate("零一二三四五六七八九")} | {"〇": "0", "○": "0"}


_MARKER_RE = re.compile(r"[\[［【]\s*\d{1,3}\s*[\]］】]")


def strip_markers(text: str) -> str:
    """Remove citation markers (``[1]``, ``［2］``, ``【3】``) that answers put after sentences."""
    return _MARKER_RE.sub("", text)


def _cn_years(text: str) -> str:
    # 二〇一四年 → 2014年 (digit by digit; figures.normalize reads it as a number).
    return _CN_YEAR_RE.sub(lambda m: "".join(_CN_DIGIT[c] for c in m.group(0)), text)


def normalize_text(text: str) -> str:
    """The comparison form of a text.

    NFKC, case folded, Chinese numerals before a unit as digits (``三十日`` → ``30日``),
    Chinese years digit by digit (``二〇一四年`` → ``2014年``); citation markers (``[1]``),
    whitespace, control characters and punctuation removed except ``% ‰ /`` and a decimal
    point between digits.

    Args:
        text: Any text.

    Returns:
        The normal form: ``normalize_text("在三十日内，发放 290 元。")`` is
        ``"在30日内发放290元"``.
    """
    t = strip_markers(unicodedata.normalize("NFKC", text))
    t = normalize_figures(_cn_years(t)).casefold()
    out: list[str] = []
    n = len(t)
    for i, ch in enumerate(t):
        if ch in _KEEP:
            out.append(ch)
            continue
        cat = unicodedata.category(ch)
        if cat[0] in "PZC":
            if ch == "." and 0 < i < n - 1 and t[i - 1].isdigit() and t[i + 1].isdigit():
                out.append(ch)
            continue
        out.append(ch)
    return "".join(out)


def _contains(hay: str, needle: str) -> bool:
    """``needle`` in ``hay``, without splitting a number (``290元`` not in ``1290元``)."""
    if not needle:
        return False
    pat = re.escape(needle)
    if needle[0].isdigit():
        pat = r"(?<![\d.])" + pat
    if needle[-1].isdigit():
        pat += r"(?!\d|\.\d)"
    return re.search(pat, hay) is not None


# --------------------------------------------------------------------------- answer text


def key_fact_recall(answer: str, key_facts: Sequence[str]) -> float | None:
    """Share of ``key_facts`` found in ``answer`` (normalised); None when there are none.

    Examples:
        ``key_fact_recall("应在三十日内办结", ["30日"]) == 1.0``.
    """
    facts = [f for f in (normalize_text(k) for k in key_facts) if f]
    if not facts:
        return None
    hay = normalize_text(answer)
    return sum(1 for f in facts if _contains(hay, f)) / len(facts)


def char_f1(prediction: str, reference: str) -> float | None:
    """Character-multiset F1 of two texts (normalised); None when the reference is empty."""
    ref = normalize_text(reference)
    if not ref:
        return None
    pred = normalize_text(prediction)
    if not pred:
        return 0.0
    overlap = sum((Counter(pred) & Counter(ref)).values())
    if overlap == 0:
        return 0.0
    p, r = overlap / len(pred), overlap / len(ref)
    return 2 * p * r / (p + r)


def lcs_length(a: str, b: str) -> int:
    """Length of the longest common subsequence of two strings (bit-parallel, O(len·len/64))."""
    if not a or not b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    masks: dict[str, int] = {}
    for i, ch in enumerate(a):
        masks[ch] = masks.get(ch, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for ch in b:
        u = v & masks.get(ch, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def rouge_l(prediction: str, reference: str) -> float | None:
    """ROUGE-L F1 over characters (LCS, normalised texts); None when the reference is empty."""
    ref = normalize_text(reference)
    if not ref:
        return None
    pred = normalize_text(prediction)
    lcs = lcs_length(pred, ref)
    if lcs == 0:
        return 0.0
    p, r = lcs / len(pred), lcs / len(ref)
    return 2 * p * r / (p + r)


def figure_hallucination(answer: str, sources: Sequence[str]) -> float:
    """Share of the answer's distinct figures that occur in none of ``sources``.

    Figures are those of :func:`rag.ingest.figures.figures` (citation markers such as
    ``[1]`` are not figures), compared in their normal form with digit boundaries.

    Args:
        answer: The answer text.
        sources: The texts the answer cites (clause texts, and their 文号/titles/labels).

    Returns:
        A share in [0, 1]; 0 when the answer has no figure.
    """
    # a worked estimate's figures are derived from cited parameters, not quoted: only the
    # text above its heading is checked (rag/answer/estimate.py)
    answer = answer.split(ESTIMATE_HEAD, 1)[0]
    found = list(dict.fromkeys(figures(_cn_years(strip_markers(answer)))))
    if not found:
        return 0.0
    pool = "|".join(normalize_figures(_cn_years(s)) for s in sources)
    bad = [f for f in found if not _contains(pool, f)]
    return len(bad) / len(found)


# --------------------------------------------------------------------------- citations

_BRACKETS = str.maketrans(
    {"[": "〔", "]": "〕", "【": "〔", "】": "〕", "(": "〔", ")": "〕", "〖": "〔", "〗": "〕"}
)


def doc_key(doc_no: str, title: str = "") -> str:
    """Comparison key of a document: its 文号 (brackets unified), else its title (normalised).

    ``doc_key("嘉政发[2014]87号") == doc_key("嘉政发〔2014〕87号")``.
    """
    no = re.sub(r"\s+", "", unicodedata.normalize("NFKC", doc_no or ""))
    if no:
        return "no:" + no.translate(_BRACKETS)
    return "title:" + normalize_text(title or "")


@dataclass(frozen=True)
class Ref:
    """A cited or retrieved unit: a document key and a clause label (``""`` = whole document)."""

    doc: str
    clause: str = ""

    @classmethod
    def of(cls, doc_no: str, title: str, clause: str) -> Ref:
        """Build a reference from raw 文号, title and label."""
        return cls(doc_key(doc_no, title), (clause or "").strip())


def _canon(label: str) -> tuple[str, ...]:
    return tuple(split_label(label))


def clause_match(gold: str, label: str, *, lenient: bool) -> bool:
    """Whether a cited/retrieved ``label`` satisfies the gold clause ``gold``.

    Strict: the same canonical label (``第14条`` = ``第十四条``). Lenient: also the same
    article or the same top outline item (``第二十三条（一）`` ≈ ``第二十三条``,
    ``二、（一）1.`` ≈ ``二、（一）``). A gold clause ``""`` matches any label.
    """
    if not gold.strip():
        return True
    if _canon(gold) == _canon(label):
        return True
    return lenient and bool(label.strip()) and same_top_unit(gold, label)


def _ref_match(gold: Ref, got: Ref, *, lenient: bool) -> bool:
    return gold.doc == got.doc and clause_match(gold.clause, got.clause, lenient=lenient)


def _dedupe(refs: Iterable[Ref]) -> list[Ref]:
    seen: set[tuple[str, tuple[str, ...]]] = set()
    out: list[Ref] = []
    for r in refs:
        key = (r.doc, _canon(r.clause))
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def citation_scores(cited: Sequence[Ref], gold: Sequence[Ref]) -> dict[str, float | None]:
    """Citation precision and recall at document and clause level (strict and lenient).

    Args:
        cited: What the answer cites (duplicates are counted once).
        gold: What the gold item needs cited (all of it).

    Returns:
        ``citation_doc_precision``, ``citation_doc_recall`` and
        ``citation_clause_{precision,recall}_{strict,lenient}``; precisions are None when
        nothing is cited, recalls None when the gold list is empty.
    """
    cited_u, gold_u = _dedupe(cited), _dedupe(gold)
    out: dict[str, float | None] = {}
    cdocs, gdocs = {r.doc for r in cited_u}, {r.doc for r in gold_u}
    out["citation_doc_precision"] = len(cdocs & gdocs) / len(cdocs) if cdocs else None
    out["citation_doc_recall"] = len(cdocs & gdocs) / len(gdocs) if gdocs else None
    for name, lenient in (("strict", False), ("lenient", True)):
        if cited_u:
            ok = sum(1 for c in cited_u if any(_ref_match(g, c, lenient=lenient) for g in gold_u))
            out[f"citation_clause_precision_{name}"] = ok / len(cited_u)
        else:
            out[f"citation_clause_precision_{name}"] = None
        if gold_u:
            found = sum(
                1 for g in gold_u if any(_ref_match(g, c, lenient=lenient) for c in cited_u)
            )
            out[f"citation_clause_recall_{name}"] = found / len(gold_u)
        else:
            out[f"citation_clause_recall_{name}"] = None
    return out


def retrieval_scores(
    retrieved: Sequence[Ref], gold: Sequence[Ref], ks: Sequence[int] = RETRIEVAL_KS
) -> dict[str, float | None]:
    """Retrieval recall@k (lenient) and MRR@10 of a ranked list against the gold clauses.

    Args:
        retrieved: Retrieved clauses, best first.
        gold: Gold clauses.
        ks: Cut-offs for recall.

    Returns:
        ``retrieval_recall@k`` for each k and ``mrr@10``; all None when ``gold`` is empty.
    """
    gold_u = _dedupe(gold)
    out: dict[str, float | None] = {}
    for k in ks:
        top = retrieved[:k]
        if not gold_u:
            out[f"retrieval_recall@{k}"] = None
            continue
        found = sum(1 for g in gold_u if any(_ref_match(g, r, lenient=True) for r in top))
        out[f"retrieval_recall@{k}"] = found / len(gold_u)
    rr: float | None = None
    if gold_u:
        rr = 0.0
        for rank, r in enumerate(retrieved[:MRR_K], 1):
            if any(_ref_match(g, r, lenient=True) for g in gold_u):
                rr = 1.0 / rank
                break
    out[f"mrr@{MRR_K}"] = rr
    return out


def refusal_scores(refused: bool, answerable: bool) -> dict[str, float | None]:
    """Per-item refusal indicators; the mean of each over its items is the run's rate."""
    return {
        "refusal_recall": None if answerable else float(refused),
        "false_refusal_rate": float(refused) if answerable else None,
        "refusal_precision": float(not answerable) if refused else None,
        "refusal_accuracy": float(refused == (not answerable)),
    }


def score_item(
    *,
    answerable: bool,
    key_facts: Sequence[str],
    gold_answer: str,
    gold_refs: Sequence[Ref],
    answer: str,
    refused: bool,
    cited: Sequence[Ref],
    cited_sources: Sequence[str],
    retrieved: Sequence[Ref],
    error: bool = False,
) -> dict[str, float | None]:
    """All per-item metrics (keys: :data:`METRICS`; None = not applicable).

    Args:
        answerable: Whether the gold item has an answer in the corpus.
        key_facts: Gold key facts.
        gold_answer: Gold answer text.
        gold_refs: Gold citations.
        answer: The system's answer text.
        refused: Whether the system refused.
        cited: What the system cited (ignored when it refused: a refusal claims nothing).
        cited_sources: Texts of the cited clauses (plus 文号/title/label), for figures.
        retrieved: Retrieved clauses, best first.
        error: The system failed on this item: scored as a wrong, non-refused answer.
    """
    m: dict[str, float | None] = dict.fromkeys(METRICS)
    silent = refused or error
    if answerable:
        kfr = key_fact_recall(answer, key_facts)
        m["key_fact_recall"] = 0.0 if (silent and kfr is not None) else kfr
        f1, rl = char_f1(answer, gold_answer), rouge_l(answer, gold_answer)
        m["char_f1"] = 0.0 if (silent and f1 is not None) else f1
        m["rouge_l"] = 0.0 if (silent and rl is not None) else rl
        m.update(citation_scores([] if silent else cited, gold_refs))
        m.update(retrieval_scores(retrieved, gold_refs))
    if not silent:
        m["figure_hallucination"] = figure_hallucination(answer, cited_sources)
    m.update(refusal_scores(refused and not error, answerable))
    return m


# --------------------------------------------------------------------------- aggregation


@dataclass(kw_only=True)
class ItemScore:
    """What aggregation needs of one evaluated item."""

    id: str
    persona: str
    tags: list[str] = field(default_factory=list)
    answerable: bool
    refused: bool
    metrics: dict[str, float | None]
    timings_ms: dict[str, float] = field(default_factory=dict)
    error: str = ""


@dataclass
class MetricStat:
    """Mean of a metric over its applicable items, with an optional bootstrap 95% CI."""

    mean: float | None
    n: int
    ci_low: float | None = None
    ci_high: float | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mean": _r(self.mean), "n": self.n}
        if self.ci_low is not None or self.ci_high is not None:
            d["ci95"] = [_r(self.ci_low), _r(self.ci_high)]
        return d


@dataclass
class Summary:
    """Aggregates of one run."""

    n_items: int
    n_answerable: int
    n_unanswerable: int
    n_errors: int
    metrics: dict[str, MetricStat]
    latency_ms: dict[str, dict[str, float]]
    by_persona: dict[str, dict[str, MetricStat]]
    by_tag: dict[str, dict[str, MetricStat]]
    n_by_persona: dict[str, int]
    n_by_tag: dict[str, int]
    bootstrap: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        """The ``summary.json`` shape."""

        def table(groups: dict[str, dict[str, MetricStat]], ns: dict[str, int]) -> dict[str, Any]:
            return {
                g: {"n": ns[g], "metrics": {k: s.to_json() for k, s in stats.items()}}
                for g, stats in groups.items()
            }

        return {
            "n_items": self.n_items,
            "n_answerable": self.n_answerable,
            "n_unanswerable": self.n_unanswerable,
            "n_errors": self.n_errors,
            "headline": list(HEADLINE),
            "lower_is_better": sorted(LOWER_IS_BETTER),
            "metrics": {k: s.to_json() for k, s in self.metrics.items()},
            "latency_ms": self.latency_ms,
            "by_persona": table(self.by_persona, self.n_by_persona),
            "by_tag": table(self.by_tag, self.n_by_tag),
            "bootstrap": dict(self.bootstrap),
        }


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), nd)


def bootstrap_ci(
    values: Sequence[float],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = 0.95,
) -> tuple[float | None, float | None]:
    """Percentile bootstrap confidence interval of the mean (deterministic for a seed).

    Args:
        values: One value per item (for paired comparisons: the per-item differences).
        n_resamples: Number of resamples with replacement.
        seed: Seed of the generator; the same inputs and seed give the same interval.
        level: Confidence level.

    Returns:
        ``(low, high)``; ``(None, None)`` for no values, ``(v, v)`` for one.
    """
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return None, None
    if arr.size == 1:
        return float(arr[0]), float(arr[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, arr.size, size=(n_resamples, arr.size))
    means = arr[idx].mean(axis=1)
    a = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [a, 100 - a])
    return float(lo), float(hi)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (linear interpolation); None for no values."""
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))


def latency_stats(
    timings: Iterable[Mapping[str, float]], stages: Sequence[str] = LATENCY_STAGES
) -> dict[str, dict[str, float]]:
    """p50/p95/mean/max (ms) and count of each stage over the items that report it."""
    per: dict[str, list[float]] = {s: [] for s in stages}
    for t in timings:
        for s in stages:
            v = t.get(s)
            if v is not None:
                per[s].append(float(v))
    out: dict[str, dict[str, float]] = {}
    for s, vals in per.items():
        if not vals:
            continue
        out[s] = {
            "p50": round(float(np.percentile(vals, 50)), 2),
            "p95": round(float(np.percentile(vals, 95)), 2),
            "mean": round(float(np.mean(vals)), 2),
            "max": round(max(vals), 2),
            "n": len(vals),
        }
    return out


def metric_values(scores: Iterable[ItemScore], name: str) -> list[float]:
    """The applicable (non-None) values of one metric."""
    return [v for s in scores if (v := s.metrics.get(name)) is not None]


def _means(scores: Sequence[ItemScore]) -> dict[str, MetricStat]:
    out = {}
    for name in METRICS:
        vals = metric_values(scores, name)
        out[name] = MetricStat(float(np.mean(vals)) if vals else None, len(vals))
    return out


def aggregate(
    scores: Sequence[ItemScore],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> Summary:
    """Means over applicable items, bootstrap CIs of :data:`HEADLINE`, latency, breakdowns.

    Args:
        scores: One entry per evaluated item.
        n_resamples: Bootstrap resamples.
        seed: Bootstrap seed (each metric uses this seed: adding metrics changes nothing).
    """
    metrics = _means(scores)
    for name in HEADLINE:
        lo, hi = bootstrap_ci(metric_values(scores, name), n_resamples=n_resamples, seed=seed)
        metrics[name].ci_low, metrics[name].ci_high = lo, hi
    personas: dict[str, list[ItemScore]] = {}
    tags: dict[str, list[ItemScore]] = {}
    for s in scores:
        personas.setdefault(s.persona, []).append(s)
        for t in s.tags or ["(untagged)"]:
            tags.setdefault(t, []).append(s)
    return Summary(
        n_items=len(scores),
        n_answerable=sum(1 for s in scores if s.answerable),
        n_unanswerable=sum(1 for s in scores if not s.answerable),
        n_errors=sum(1 for s in scores if s.error),
        metrics=metrics,
        latency_ms=latency_stats(s.timings_ms for s in scores if not s.error),
        by_persona={p: _means(g) for p, g in sorted(personas.items())},
        by_tag={t: _means(g) for t, g in sorted(tags.items())},
        n_by_persona={p: len(g) for p, g in personas.items()},
        n_by_tag={t: len(g) for t, g in tags.items()},
        bootstrap={"n_resamples": n_resamples, "seed": seed},
    )
