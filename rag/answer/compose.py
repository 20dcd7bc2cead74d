"""Compose: the answer text, led by the answer in the caller's terms.

The first line answers what was asked — the figure for the caller's category, 可以/不可以,
who, when, what to bring — each statement with its citation number, taken verbatim
from the chosen units (a segment of a sentence at the least). Where the caller's
category is still open and the texts differ by it, the line keeps every case and asks
the question that decides it ("您是在职还是退休？"). The verbatim quotes follow under
"依据：", then, for "能报多少" calls with an amount, a worked estimate
(rag/answer/estimate.py). Citations are built from clause metadata, never typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.answer.estimate import ESTIMATE_HEAD, estimate_inpatient
from rag.answer.extractive import _ACTS, _PAPERS, cite_label
from rag.answer.select import Candidate, Selection, UnitCandidate, wanted_kinds
from rag.answer.understand import Understanding
from rag.index.facets import figure_kinds, text_facets
from rag.models import Answer, Citation, Clause, Hit

REFUSAL = "现有文件中没有找到能回答这个问题的条款。以下是最接近的条款，供参考："
QUOTES_HEAD = "依据："
_SEG = re.compile(r"[^，；;。：:！？]+[，；;。：:！？]?")
_NEG = re.compile(r"不予|不得|不纳入|不属于|不能|不可|禁止|不享受|不支付|不再|除外|不列入|严禁")
_POS = re.compile(r"可以|可按|可申请|可享受|准予|允许|纳入|予以|享受")
_CONSEQUENCE = re.compile(r"罚款|处罚|处以|责令|追回|暂停|解除|追究|移送|不予支付|拒付")
# the question that decides an open category, per facet axis
DECIDING = {
    "scheme": "您参加的是职工医保还是城乡居民医保？",
    "status": "您是在职还是退休？",
    "service": "是住院还是门诊？",
    "level": "您是在哪一级医院（一级/社区、二级/县级、三级/市级）就医的？",
}


def segments(text: str) -> list[str]:
    return [m.group(0) for m in _SEG.finditer(text) if m.group(0).strip()]


def _fit(u: Understanding, text: str) -> int:
    """+1 when the text names one of the caller's categories, -1 when on some axis it
    names only other categories than the caller's, 0 when it names none of the axes."""
    named = text_facets(text)
    score = 0
    for axis, values in u.facts.items():
        got = named.get(axis, [])
        if not got:
            continue
        if any(v in got for v in values):
            score = max(score, 1)
        else:
            return -1
    return score


def _open_axes(u: Understanding, texts: Sequence[str]) -> list[str]:
    """Axes the caller left open on which the given texts name different categories."""
    out = []
    for axis in DECIDING:
        if axis in u.facts:
            continue
        seen: set[str] = set()
        for t in texts:
            seen.update(text_facets(t).get(axis, []))
        if len(seen) >= 2:
            out.append(axis)
    return out


@dataclass
class Composer:
    """Turn a decided selection into an answer."""

    max_units: int = 4
    max_chars: int = 420
    second_clause: float = 0.7  # cite another clause when its p is this share of the best
    other_doc: float = 0.9  # the same, for a clause of another document than the best's
    unit_share: float = 0.3  # keep units whose p is this share of the best unit's
    read_out: int = 800  # characters of a clause named by number, read out whole

    # ------------------------------------------------------------------ choosing
    def choose(self, sel: Selection) -> list[tuple[Candidate, list[UnitCandidate]]]:
        """The clauses and units that answer, in citation order."""
        cands = sorted(sel.candidates, key=lambda c: -c.p)
        if not cands or not cands[0].units:
            return []
        pinned = [c for c in cands if c.features.get("lookup")]
        if pinned and sel.understanding.docs:
            return [(c, list(c.units)) for c in pinned if c.units][:3]
        first = cands[0]
        chosen = [first] + [
            c
            for c in cands[1:3]
            if c.units
            and c.p
            >= (self.second_clause if c.clause.doc_key == first.clause.doc_key else self.other_doc)
            * first.p
        ]
        best = max(x.p for c in chosen for x in c.units)
        out: list[tuple[Candidate, list[UnitCandidate]]] = []
        total = n = 0
        pool = sorted(
            ((c, x) for c in chosen for x in c.units), key=lambda cx: (-cx[1].p, cx[1].index)
        )
        picked: dict[int, list[UnitCandidate]] = {}
        for c, x in pool:
            if n >= self.max_units or x.p < self.unit_share * best:
                break
            if total + len(x.text) > self.max_chars and n:
                continue
            picked.setdefault(id(c), []).append(x)
            total += len(x.text)
            n += 1
        for c in chosen:
            units = sorted(picked.get(id(c), []), key=lambda x: x.index)
            if units:
                out.append((c, units))
        return out

    # ------------------------------------------------------------------ direct line
    def direct(
        self, u: Understanding, chosen: list[tuple[Candidate, list[UnitCandidate]]], num: list[int]
    ) -> list[str]:
        """The lines that answer first (empty when nothing shorter than the quotes answers)."""
        units = [(x, num[i]) for i, (_c, xs) in enumerate(chosen) for x in xs]
        if not units:
            return []
        by_p = sorted(units, key=lambda xn: -xn[0].p)
        kinds = wanted_kinds(u)
        lines: list[str] = []
        if kinds:
            lines = self._figure_line(u, by_p, kinds)
        elif "yesno" in u.wants:
            lines = self._yes_no(u, by_p)
        else:
            for want, pattern in (
                ("who", _ACTS),
                ("bring", _PAPERS),
                ("consequence", _CONSEQUENCE),
            ):
                if want in u.wants:
                    lines = self._matching(by_p, pattern)
                    break
        quotes = sum(len(x.text) for x, _n in units)
        if lines and sum(len(line) for line in lines) >= 0.9 * quotes:
            return []  # the quotes say it as briefly
        return lines

    def _figure_line(
        self, u: Understanding, by_p: list[tuple[UnitCandidate, int]], kinds: set[str]
    ) -> list[str]:
        # the kind asked for first ("多少年" → a duration), a kind that may stand in for
        # it (a date) only when no chosen unit gives the first
        asked = {w for w in u.wants if w in kinds} or kinds
        tiers = [asked, kinds] if asked != kinds else [kinds]
        for tier in tiers:
            line = self._figure_tier(u, by_p, tier)
            if line:
                return line
        return []

    def _figure_tier(
        self, u: Understanding, by_p: list[tuple[UnitCandidate, int]], kinds: set[str]
    ) -> list[str]:
        for x, n in by_p:
            every = segments(x.text)
            segs = [s for s in every if kinds & set(figure_kinds(s))]
            if not segs:
                continue
            # a segment is read under the lead-in it follows ("（二）退休人员：75周岁…160元")
            heads = {}
            head = ""
            for seg in every:
                heads[seg] = head
                if seg.rstrip().endswith(("：", ":")):
                    head = seg
            fits = [(s, _fit(u, heads.get(s, "") + s)) for s in segs]
            keep = [s for s, f in fits if f >= 0] or []
            if any(f > 0 for _s, f in fits):
                keep = [s for s, f in fits if f > 0] + [s for s, f in fits if f == 0 and s in keep]
                keep = sorted(keep, key=segs.index)
            if not keep:
                continue
            parts = [self._quote(every, keep[:4], n)]
            # a modifier for the caller's category elsewhere ("退休人员…增加5个百分点")
            # of the kind asked; a condition ("…前退休的，") is quoted with what follows it
            for y, m in by_p:
                ysegs = segments(y.text)
                for i, s in enumerate(ysegs):
                    if s in keep or not kinds & set(figure_kinds(s)) or _fit(u, s) <= 0:
                        continue
                    run = [s]
                    if s.rstrip("，, ").endswith("的") and i + 1 < len(ysegs):
                        run.append(ysegs[i + 1])
                    parts.append(f"{self._tidy(''.join(run))}[{m}]")
                    break
            line = "；".join(parts[:3])
            open_axes = _open_axes(u, keep)
            if open_axes:
                line += "（" + "".join(DECIDING[a] for a in open_axes[:1]) + "）"
            return [line]
        return []

    def _yes_no(self, u: Understanding, by_p: list[tuple[UnitCandidate, int]]) -> list[str]:
        x, n = by_p[0]
        segs = segments(x.text)
        neg = [s for s in segs if _NEG.search(s)]
        if neg:
            return [f"按规定不可以：{self._quote(segs, neg[:2], n)}"]
        pos = [s for s in segs if _POS.search(s)]
        if pos:
            return [f"可以：{self._quote(segs, pos[:2], n)}"]
        return []

    def _matching(
        self, by_p: list[tuple[UnitCandidate, int]], pattern: re.Pattern[str]
    ) -> list[str]:
        for x, n in by_p:
            all_segs = segments(x.text)
            segs = [s for s in all_segs if pattern.search(s)]
            if segs:
                return [self._quote(all_segs, segs[:2], n)]
        return []

    def _quote(self, segs: list[str], keep: list[str], n: int) -> str:
        """The kept segments, verbatim: each run of neighbouring segments is quoted as it
        stands in the text, with citation ``n`` after it (a gap starts a new quote)."""
        idx = sorted({segs.index(s) for s in keep})
        runs: list[list[int]] = []
        for i in idx:
            if runs and i == runs[-1][-1] + 1:
                runs[-1].append(i)
            else:
                runs.append([i])
        return "".join(f"{self._tidy(''.join(segs[i] for i in run))}[{n}]" for run in runs)

    @staticmethod
    def _tidy(text: str) -> str:
        """A segment as quoted: verbatim, without its trailing comma or colon."""
        return text.strip().rstrip("，,；;：:、").strip()

    # ------------------------------------------------------------------ answer
    def compose(
        self,
        sel: Selection,
        *,
        doc_clauses: Callable[[str], list[Clause]] | None = None,
        mode: str = "extractive",
    ) -> Answer:
        u = sel.understanding
        chosen = self.choose(sel)
        if not chosen:
            return self.refuse(sel, "没有足够相关的条款", mode=mode)
        citations: list[Citation] = []
        cite: dict[str, int] = {}
        num: list[int] = []
        for c, _xs in chosen:
            cl = c.clause
            if cl.id not in cite:
                citations.append(Citation(cl.doc_no, cl.label, cl.doc_title, cl.text, c.p))
                cite[cl.id] = len(citations)
            num.append(cite[cl.id])
        lines = self.direct(u, chosen, num)
        quotes = "".join(
            f"{x.text.rstrip()}[{num[i]}]" for i, (_c, xs) in enumerate(chosen) for x in xs
        )
        if lines:
            lines.append(QUOTES_HEAD + quotes)
        else:
            first = citations[0]
            where = cite_label(first.doc_no, first.clause, first.title)
            head = f"根据《{first.title}》（{where}）：" if first.doc_no else f"根据{where}："
            lines.append(head + quotes)
        notes: list[str] = []
        est = self._estimate(u, chosen, cite, doc_clauses)
        if est:
            est_lines, extra = est
            for cl in extra:
                if not any((x.doc_no, x.clause) == (cl.doc_no, cl.label) for x in citations):
                    citations.append(Citation(cl.doc_no, cl.label, cl.doc_title, cl.text, 0.0))
            lines.append(ESTIMATE_HEAD + "\n" + "\n".join(est_lines))
            notes.append("含估算：按所引条款的起付标准、支付比例计算，仅供参考")
        return Answer(
            question=u.question,
            answer="\n".join(lines),
            refused=False,
            mode=mode,
            citations=citations,
            notes=notes,
        )

    def _estimate(
        self,
        u: Understanding,
        chosen: list[tuple[Candidate, list[UnitCandidate]]],
        cite: dict[str, int],
        doc_clauses: Callable[[str], list[Clause]] | None,
    ) -> tuple[list[str], list[Clause]] | None:
        if not (u.amounts and "money" in u.wants and doc_clauses):
            return None
        if "住院" not in u.facts.get("service", []) and not re.search(r"住院|住了", u.question):
            return None
        doc = chosen[0][0].clause.doc_key
        levels = u.facts.get("level", [])
        status = u.facts.get("status", [])
        # the cited clauses' numbers are kept; clauses holding the other parameters are
        # cited after them, numbered on
        numbers = dict(cite)
        est = estimate_inpatient(
            u.amounts[0],
            doc_clauses(doc),
            level=levels[0] if len(levels) == 1 else None,
            retired=None if len(status) != 1 else status[0] == "退休",
            cite=numbers,
        )
        if est is None:
            return None
        extra = sorted((c for c in est.clauses if c.id not in cite), key=lambda c: numbers[c.id])
        return est.lines, extra

    def refuse(
        self,
        sel: Selection | None,
        reason: str,
        *,
        hits: Sequence[Hit] = (),
        mode: str = "extractive",
    ) -> Answer:
        """A refusal that says why in one line and shows the nearest clauses."""
        if sel is not None and not hits:
            hits = [c.hit for c in sorted(sel.candidates, key=lambda c: -c.p)]
        near = [
            Citation(h.clause.doc_no, h.clause.label, h.clause.doc_title, h.clause.text, h.score)
            for h in list(hits)[:3]
        ]
        question = sel.understanding.question if sel is not None else ""
        text = (
            REFUSAL
            if not reason
            else f"现有文件中没有找到能回答这个问题的条款（{reason}）。以下是最接近的条款，供参考："
        )
        return Answer(question=question, answer=text, refused=True, mode=mode, citations=near)
