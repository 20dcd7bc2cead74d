"""Select: the candidate clauses and answer units of a question, with their features.

The retriever's fused list is the pool (dense clause vectors, BM25, answer-unit vectors,
and the clauses the question names). For every candidate clause and every answer unit of
the best candidates this module computes the evidence the decision model weighs
(rag/answer/decide.py): the retrievers' scores and ranks, how close the asking part is
to each unit, how much of the question's key words the text holds, whether the caller's
facts (职工, 退休, 住院, 三级 …) agree with the clause's facets, whether it gives a
figure of the kind asked, and what today's rule-based answerer would cite. The feature
names are the contract with the weights file: adding one means retraining.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rag.answer.extractive import _ACTS, _DEFINES, _PAPERS, _TAKES_EFFECT, ExtractiveAnswerer
from rag.answer.understand import Understanding
from rag.index.facets import agreement, text_facets
from rag.index.store import LoadedIndex
from rag.ingest.units import unit_spans
from rag.models import Clause, Hit
from rag.retrieve.hybrid import ScoredHit
from rag.retrieve.query import doc_place, place_matches

CLAUSE_FEATURES = (
    "dense",
    "dense_rank",
    "bm25",
    "bm25_rank",
    "unit",
    "unit_rank",
    "asks_unit",
    "asks_clause",
    "fused",
    "lookup",
    "doc_named",
    "doc_other",
    "coverage",
    "asks_coverage",
    "title_only",
    "facet_agree",
    "facet_conflict",
    "place",
    "year",
    "figure",
    "marker",
    "length",
    "legacy",
    "legacy_first",
    "asks_bm25",
    "dense_gap",
    "unit_gap",
    "asks_unit_gap",
)
UNIT_FEATURES = (
    "clause_p",
    "clause_top",
    "cos",
    "asks_cos",
    "asks_coverage",
    "coverage",
    "figure",
    "facet_agree",
    "facet_conflict",
    "marker",
    "first",
    "length",
    "best_unit",
    "facet_extra",
    "asks_gap",
    "cos_gap",
)
ANSWER_FEATURES = (
    "p1",
    "p2",
    "margin",
    "unit_p",
    "asks_coverage",
    "best_asks_coverage",
    "missing_rare",
    "figure_wanted",
    "figure_found",
    "best_figure",
    "facet_conflict",
    "best_conflict",
    "place_missing",
    "year_missing",
    "dense_top",
    "unit_top",
    "asks_top",
    "lookup",
    "legacy_refused",
    "story_share",
)

# what kind of figure answers each kind of question (rag/index/facets.py kinds)
FIGURE_FOR = {
    "ratio": ("ratio",),
    "money": ("money",),
    "amount": ("money", "ratio", "count", "duration"),
    "duration": ("duration", "date"),
    "age": ("age",),
    "count": ("count",),
    "when": ("date",),
}
N_UNIT_CLAUSES = 5  # the best candidates whose units are weighed


@dataclass
class UnitCandidate:
    row: int  # row in the index's units, -1 for a clause that is not indexed
    index: int  # order inside the clause
    text: str
    facets: dict[str, list[str]]
    features: dict[str, float] = field(default_factory=dict)
    p: float = 0.0


@dataclass
class Candidate:
    scored: ScoredHit
    facets: dict[str, list[str]]
    features: dict[str, float] = field(default_factory=dict)
    p: float = 0.0
    units: list[UnitCandidate] = field(default_factory=list)

    @property
    def clause(self) -> Clause:
        return self.scored.hit.clause

    @property
    def hit(self) -> Hit:
        return self.scored.hit


@dataclass
class Selection:
    """The candidates of one question, with what the answer-level features need."""

    understanding: Understanding
    candidates: list[Candidate]
    key_terms: list[str]
    asks_terms: list[str]
    legacy_refused: bool
    legacy_cited: list[str]  # clause ids the rule-based answerer cites, in order
    qv: np.ndarray | None
    av: np.ndarray | None
    answer_features: dict[str, float] = field(default_factory=dict)


def _inv(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / rank


def wanted_kinds(u: Understanding) -> set[str]:
    return {k for w in u.wants for k in FIGURE_FOR.get(w, ())}


def _marker(u: Understanding, text: str) -> float:
    """Whether the text has what a who/bring/definition/when question looks for."""
    checks = []
    if "who" in u.wants:
        checks.append(bool(_ACTS.search(text)))
    if "bring" in u.wants:
        checks.append(bool(_PAPERS.search(text)))
    if "definition" in u.wants:
        checks.append(bool(_DEFINES.search(text)))
    if "when" in u.wants:
        checks.append(bool(_TAKES_EFFECT.search(text)))
    if "consequence" in u.wants:
        checks.append(bool(re.search(r"罚款|处罚|责令|追回|暂停|解除|追究|不予支付", text)))
    if not checks:
        return 0.0
    return 1.0 if any(checks) else -1.0


def _figure(u: Understanding, facets: dict[str, list[str]]) -> float:
    kinds = wanted_kinds(u)
    if not kinds:
        return 0.0
    return 1.0 if kinds & set(facets.get("figures", [])) else -1.0


def _extra(u: Understanding, facets: dict[str, list[str]]) -> float:
    """Categories the text names, on the axes the caller spoke of, that the caller did not
    (a clause about 住院 and 大病 for a caller who spoke of 住院 only)."""
    return float(
        sum(1 for axis, vs in u.facts.items() for v in facets.get(axis, []) if v not in vs)
    )


def _agree(u: Understanding, *facet_sets: dict[str, list[str]]) -> tuple[float, float]:
    """(axes that agree, axes in conflict) between the caller's facts and the text."""
    merged: dict[str, list[str]] = {}
    for f in facet_sets:
        for axis, values in f.items():
            merged.setdefault(axis, [])
            merged[axis] += [v for v in values if v not in merged[axis]]
    a = agreement(u.facts, merged)
    return float(sum(v > 0 for v in a.values())), float(sum(v < 0 for v in a.values()))


class Selector:
    """Compute candidates and features over one loaded index."""

    def __init__(
        self,
        index: LoadedIndex,
        lexical: ExtractiveAnswerer,
        *,
        home: str = "",
    ) -> None:
        self.index = index
        self.lex = lexical
        self.home = home

    def _doc_text(self, c: Clause) -> str:
        return re.sub(r"\s+", "", f"{c.doc_no}{c.doc_title}{c.part_title}{''.join(c.headings)}")

    def select(
        self,
        u: Understanding,
        scored: Sequence[ScoredHit],
        *,
        qv: np.ndarray | None,
        av: np.ndarray | None,
        legacy_refused: bool,
        legacy_cited: Sequence[str],
    ) -> Selection:
        """Candidates with clause features (unit features come after the clause model)."""
        idx = self.index
        terms = self.lex.key_terms(u.question)
        asks_terms = self.lex.key_terms(u.asks) if u.asks != u.question else terms
        max_bm25 = max((s.bm25_score or 0.0 for s in scored), default=0.0) or 1.0
        asked_places = u.places or ([self.home] if self.home else [])
        asks_bm25 = self._bm25(u.asks, scored) if u.asks else {}
        max_asks = max(asks_bm25.values(), default=0.0) or 1.0
        cands: list[Candidate] = []
        for s in scored:
            c = s.hit.clause
            pos = s.position
            facets = idx.facets[pos] if pos is not None and idx.facets else text_facets(c.text)
            ctx = idx.context_facets[pos] if pos is not None and idx.context_facets else {}
            head = self._doc_text(c)
            body = re.sub(r"\s+", "", c.text)
            cov = self.lex._covered(terms, head + body) if terms else 0.0
            acov = self.lex._covered(asks_terms, head + body) if asks_terms else 0.0
            body_cov = self.lex._covered(terms, body) if terms else 0.0
            agree, conflict = _agree(u, facets, ctx)
            place = doc_place(s.hit)
            year = 0.0
            if u.years:
                text = head + body
                year = 1.0 if any(str(y) in text for y in u.years) else -1.0
            asks_clause = asks_unit = 0.0
            if pos is not None and av is not None:
                asks_clause = float(np.asarray(idx.vectors[pos]) @ av[0])
                rows = idx.clause_units[pos]
                if rows and idx.unit_vectors is not None:
                    asks_unit = float(np.max(np.asarray(idx.unit_vectors[rows]) @ av[0]))
            named = c.doc_key in u.docs
            f = {
                "dense": s.dense_score or 0.0,
                "dense_rank": _inv(s.dense_rank),
                "bm25": (s.bm25_score or 0.0) / max_bm25,
                "bm25_rank": _inv(s.bm25_rank),
                "unit": s.unit_score or 0.0,
                "unit_rank": _inv(s.unit_rank),
                "asks_unit": asks_unit,
                "asks_clause": asks_clause,
                "fused": s.fused,
                "lookup": 1.0 if "lookup" in s.hit.sources else 0.0,
                "doc_named": 1.0 if named else 0.0,
                "doc_other": 1.0 if u.docs and not named else 0.0,
                "coverage": cov,
                "asks_coverage": acov,
                "title_only": max(0.0, cov - body_cov),
                "facet_agree": agree,
                "facet_conflict": conflict,
                "place": 0.0
                if not place
                else (1.0 if place_matches(place, asked_places) else -1.0),
                "year": year,
                "figure": _figure(u, facets),
                "marker": _marker(u, c.text),
                "length": math.log1p(len(c.text)) / math.log(1000),
                "legacy": 1.0 if c.id in legacy_cited else 0.0,
                "legacy_first": 1.0 if legacy_cited and c.id == legacy_cited[0] else 0.0,
                "facet_extra": _extra(u, facets),
                "asks_bm25": asks_bm25.get(pos, 0.0) / max_asks if pos is not None else 0.0,
            }
            cands.append(Candidate(s, facets, f))
        # how far each is from the best candidate, by each dense signal (per question)
        for name, gap in (
            ("dense", "dense_gap"),
            ("unit", "unit_gap"),
            ("asks_unit", "asks_unit_gap"),
        ):
            top = max((c.features[name] for c in cands), default=0.0)
            for cand in cands:
                cand.features[gap] = top - cand.features[name]
        return Selection(
            understanding=u,
            candidates=cands,
            key_terms=terms,
            asks_terms=asks_terms,
            legacy_refused=legacy_refused,
            legacy_cited=list(legacy_cited),
            qv=qv,
            av=av,
        )

    def _bm25(self, text: str, scored: Sequence[ScoredHit]) -> dict[int, float]:
        """BM25 of ``text`` (the asking part) for each candidate in the index."""
        bm = self.index.bm25
        ids = bm.get_tokens_ids(self.index.tokenizer.tokens(text))
        if not ids:
            return {}
        scores = np.asarray(bm.get_scores_from_ids(ids), dtype=float)
        return {s.position: float(scores[s.position]) for s in scored if s.position is not None}

    def add_units(self, sel: Selection, n_clauses: int = N_UNIT_CLAUSES) -> None:
        """Answer units of the ``n_clauses`` most probable candidates, with features
        (``Candidate.p`` must be set)."""
        idx = self.index
        u = sel.understanding
        for cand in sel.candidates:
            cand.units = []
        order = sorted(range(len(sel.candidates)), key=lambda i: -sel.candidates[i].p)
        top_p = sel.candidates[order[0]].p if order else 0.0
        for rank, i in enumerate(order[:n_clauses]):
            cand = sel.candidates[i]
            pos = cand.scored.position
            c = cand.clause
            units: list[UnitCandidate] = []
            if pos is not None and idx.units:
                for row in idx.clause_units[pos]:
                    iu = idx.units[row]
                    units.append(UnitCandidate(row, iu.index, iu.text, iu.facets))
            else:
                for j, (a, b) in enumerate(unit_spans(c.text)):
                    t = c.text[a:b].strip()
                    units.append(UnitCandidate(-1, j, t, text_facets(t)))
            head = self._doc_text(c)
            texts = [x.text for x in units]
            for j, un in enumerate(units):
                before = (texts[0] if j > 1 else "") + (texts[j - 1] if j else "")
                pool = re.sub(r"\s+", "", head + before + un.text)
                own = re.sub(r"\s+", "", un.text)
                cos = acos = 0.0
                if un.row >= 0 and idx.unit_vectors is not None:
                    vec = np.asarray(idx.unit_vectors[un.row])
                    cos = float(vec @ sel.qv[0]) if sel.qv is not None else 0.0
                    acos = float(vec @ sel.av[0]) if sel.av is not None else 0.0
                agree, conflict = _agree(u, un.facets)
                un.features = {
                    "clause_p": cand.p,
                    "clause_top": 1.0 if rank == 0 else cand.p / (top_p or 1.0),
                    "cos": cos,
                    "asks_cos": acos,
                    "asks_coverage": self.lex._covered(sel.asks_terms, pool)
                    if sel.asks_terms
                    else 0.0,
                    "coverage": self.lex._covered(sel.key_terms, own) if sel.key_terms else 0.0,
                    "figure": _figure(u, un.facets),
                    "facet_agree": agree,
                    "facet_conflict": conflict,
                    "marker": _marker(u, un.text),
                    "first": 1.0 if j == 0 else 0.0,
                    "length": math.log1p(len(un.text)) / math.log(1000),
                    "best_unit": 1.0 if un.row >= 0 and un.row == cand.scored.best_unit else 0.0,
                    "facet_extra": _extra(u, un.facets),
                }
            cand.units = units
        every = [x for c in sel.candidates for x in c.units]
        for name, gap in (("asks_cos", "asks_gap"), ("cos", "cos_gap")):
            top = max((x.features[name] for x in every), default=0.0)
            for x in every:
                x.features[gap] = top - x.features[name]

    def answer_features(self, sel: Selection) -> dict[str, float]:
        """Question-level evidence for answering at all (after clause and unit models)."""
        u = sel.understanding
        cands = sorted(sel.candidates, key=lambda c: -c.p)
        p1 = cands[0].p if cands else 0.0
        p2 = cands[1].p if len(cands) > 1 else 0.0
        top = cands[0] if cands else None
        unit_p = max((x.p for x in top.units), default=0.0) if top else 0.0
        pool = "".join(
            self._doc_text(c.clause) + re.sub(r"\s+", "", c.clause.text) for c in cands[:3]
        )
        # the asking part's words, not the story's: a story names many things no text
        # speaks of (电动车, 双眼皮), which says nothing about whether the ask is answered
        missing = [t for t in sel.asks_terms if not self.lex._found(t, pool)]
        max_rarity = max((self.lex.rarity(t) for t in sel.asks_terms), default=1.0) or 1.0
        rare = max((self.lex.rarity(t) for t in missing), default=0.0) / max_rarity
        kinds = wanted_kinds(u)
        found = 0.0
        if kinds and top:
            found = (
                1.0 if any(kinds & set(x.facets.get("figures", [])) for x in top.units) else -1.0
            )
        best = max((x for x in top.units), key=lambda x: x.p, default=None) if top else None
        best_figure = 0.0
        if kinds and best is not None:
            best_figure = 1.0 if kinds & set(best.facets.get("figures", [])) else -1.0
        every = [x for c in cands for x in c.units]
        places = {doc_place(c.hit) for c in cands[:5]}
        place_missing = 0.0
        if u.places:
            place_missing = 0.0 if any(place_matches(p, u.places) for p in places if p) else 1.0
        return {
            "p1": p1,
            "p2": p2,
            "margin": p1 - p2,
            "unit_p": unit_p,
            "asks_coverage": top.features["asks_coverage"] if top else 0.0,
            "missing_rare": rare,
            "figure_wanted": 1.0 if kinds else 0.0,
            "figure_found": found,
            "facet_conflict": top.features["facet_conflict"] if top else 0.0,
            "place_missing": place_missing,
            "year_missing": 1.0 if top and top.features["year"] < 0 else 0.0,
            "dense_top": max((c.features["dense"] for c in cands), default=0.0),
            "unit_top": max((c.features["unit"] for c in cands), default=0.0),
            "lookup": 1.0 if top and top.features["lookup"] else 0.0,
            "best_figure": best_figure,
            "best_asks_coverage": best.features["asks_coverage"] if best else 0.0,
            "best_conflict": best.features["facet_conflict"] if best else 0.0,
            "asks_top": max((x.features["asks_cos"] for x in every), default=0.0),
            # the rule-based answerer's refusal is strong evidence on short questions and
            # weak on long stories (their words are in no clause): the trees weigh both
            "legacy_refused": 1.0 if sel.legacy_refused else 0.0,
            "story_share": len(u.story) / max(1, len(u.question)),
        }
