"""Self-contained HTML report of an evaluation run (no external assets, no JavaScript).

Built from the ``summary.json`` and ``per_item.jsonl`` content, so a report can be
re-rendered from a run directory. Every piece of text is HTML-escaped; the charts are
inline SVG generated here.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from rag.eval.metrics import HEADLINE, LOWER_IS_BETTER, METRICS, Ref, clause_match

CHART_METRICS = (
    "key_fact_recall",
    "citation_doc_precision",
    "citation_clause_recall_lenient",
    "retrieval_recall@3",
)
TABLE_METRICS = (
    "key_fact_recall",
    "char_f1",
    "figure_hallucination",
    "citation_doc_precision",
    "citation_clause_recall_lenient",
    "retrieval_recall@3",
    "mrr@10",
    "refusal_recall",
    "false_refusal_rate",
)
COLORS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2")
N_WORST = 15

_CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;
margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.25em .6em;vertical-align:top;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.headline td{font-weight:600}
.meta td{border:none;padding:.1em .6em}
.item{border:1px solid #ccc;border-radius:4px;margin:1em 0;padding:.6em}
.item h3{margin:.2em 0;font-size:1em}
.pair{width:100%;table-layout:fixed}
.chip{display:inline-block;background:#fde2e1;border-radius:3px;padding:0 .4em;margin-right:.3em;
font-size:.85em}
.ok{color:#1a7f37;font-weight:600}.muted{color:#777;font-size:.9em}
.clause{font-size:.9em;white-space:pre-wrap}
"""


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _f(x: Any, nd: int = 3) -> str:
    if x is None:
        return "–"
    try:
        return f"{float(x):.{nd}f}"
    except (TypeError, ValueError):
        return _e(x)


def _mean(stat: Any) -> float | None:
    if isinstance(stat, Mapping):
        v = stat.get("mean")
        return None if v is None else float(v)
    return None


# --------------------------------------------------------------------------- tables


def _headline_table(summary: Mapping[str, Any]) -> str:
    metrics = summary.get("metrics", {})
    rows = []
    for name in METRICS:
        stat = metrics.get(name)
        if not isinstance(stat, Mapping):
            continue
        ci = stat.get("ci95")
        ci_s = f"[{_f(ci[0])}, {_f(ci[1])}]" if isinstance(ci, list) and len(ci) == 2 else ""
        arrow = " ↓" if name in LOWER_IS_BETTER else ""
        cls = ' class="headline"' if name in HEADLINE else ""
        rows.append(
            f"<tr{cls}><td>{_e(name)}{arrow}</td><td class=num>{_f(stat.get('mean'))}</td>"
            f"<td class=num>{_e(ci_s)}</td><td class=num>{_e(stat.get('n', ''))}</td></tr>"
        )
    return (
        "<table><tr><th>metric</th><th>mean</th><th>95% CI</th><th>n</th></tr>"
        + "".join(rows)
        + "</table><p class=muted>Headline metrics in bold (bootstrap CI); ↓ = lower is "
        "better; n = items the metric applies to.</p>"
    )


def _latency_table(summary: Mapping[str, Any]) -> str:
    lat = summary.get("latency_ms", {})
    if not lat:
        return "<p class=muted>No timings.</p>"
    rows = "".join(
        f"<tr><td>{_e(stage)}</td>"
        + "".join(f"<td class=num>{_f(v.get(k), 1)}</td>" for k in ("p50", "p95", "mean", "max"))
        + f"<td class=num>{_e(v.get('n', ''))}</td></tr>"
        for stage, v in lat.items()
        if isinstance(v, Mapping)
    )
    return (
        "<table><tr><th>stage</th><th>p50 ms</th><th>p95 ms</th><th>mean ms</th>"
        f"<th>max ms</th><th>n</th></tr>{rows}</table>"
    )


def _breakdown_table(groups: Mapping[str, Any], what: str) -> str:
    if not groups:
        return f"<p class=muted>No {_e(what)} breakdown.</p>"
    head = "".join(f"<th>{_e(m)}</th>" for m in TABLE_METRICS)
    rows = []
    for g, data in groups.items():
        ms = data.get("metrics", {}) if isinstance(data, Mapping) else {}
        cells = "".join(f"<td class=num>{_f(_mean(ms.get(m)))}</td>" for m in TABLE_METRICS)
        rows.append(f"<tr><td>{_e(g)}</td><td class=num>{_e(data.get('n', ''))}</td>{cells}</tr>")
    return f"<table><tr><th>{_e(what)}</th><th>n</th>{head}</tr>{''.join(rows)}</table>"


# --------------------------------------------------------------------------- charts


def bar_chart_svg(
    groups: Mapping[str, Mapping[str, float | None]], metrics: Sequence[str] = CHART_METRICS
) -> str:
    """Horizontal grouped bar chart (values in [0, 1]) as an inline SVG element.

    Args:
        groups: Group name (a tag) → metric → value (None draws no bar).
        metrics: The metrics drawn for each group, one colour each.
    """
    if not groups:
        return "<p class=muted>No groups to chart.</p>"
    bar_h, gap, label_w, plot_w, legend_h = 10, 10, 170, 480, 22 * len(metrics)
    group_h = bar_h * len(metrics) + gap
    height = legend_h + group_h * len(groups) + 30
    width = label_w + plot_w + 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="metrics by tag" '
        'font-family="sans-serif" font-size="11">'
    ]
    for i, m in enumerate(metrics):
        y = 4 + i * 20
        col = COLORS[i % len(COLORS)]
        parts.append(f'<rect x="{label_w}" y="{y}" width="12" height="12" fill="{col}"/>')
        parts.append(f'<text x="{label_w + 18}" y="{y + 10}">{_e(m)}</text>')
    top = legend_h + 4
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = label_w + t * plot_w
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 20}" stroke="#ddd"/>'
            f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle">{t:g}</text>'
        )
    for gi, (name, vals) in enumerate(groups.items()):
        y0 = top + gi * group_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y0 + bar_h * len(metrics) / 2 + 4:.1f}" '
            f'text-anchor="end">{_e(name)}</text>'
        )
        for mi, m in enumerate(metrics):
            v = vals.get(m)
            y = y0 + mi * bar_h
            if v is None:
                parts.append(f'<text x="{label_w + 3}" y="{y + bar_h - 1}" fill="#999">–</text>')
                continue
            w = max(0.0, min(1.0, float(v))) * plot_w
            col = COLORS[mi % len(COLORS)]
            parts.append(
                f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 1}" fill="{col}">'
                f"<title>{_e(name)} {_e(m)} = {float(v):.3f}</title></rect>"
                f'<text x="{label_w + w + 3:.1f}" y="{y + bar_h - 1}" font-size="9">'
                f"{float(v):.2f}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def histogram_svg(values: Sequence[float], *, bins: int = 20, unit: str = "ms") -> str:
    """Histogram of ``values`` as an inline SVG element (empty note when there are none)."""
    vals = sorted(float(v) for v in values)
    if not vals:
        return "<p class=muted>No timings to chart.</p>"
    lo, hi = vals[0], vals[-1]
    span = hi - lo
    nb = bins if span > 0 else 1
    counts = [0] * nb
    for v in vals:
        i = min(nb - 1, int((v - lo) / span * nb)) if span > 0 else 0
        counts[i] += 1
    width, height, left, bottom, top = 640, 220, 40, 30, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    cmax = max(counts)
    bw = plot_w / nb
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="latency histogram" '
        'font-family="sans-serif" font-size="11">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#333"/>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{cmax}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    for i, c in enumerate(counts):
        h = c / cmax * plot_h if cmax else 0
        b_lo = lo + i * span / nb
        b_hi = lo + (i + 1) * span / nb
        parts.append(
            f'<rect x="{left + i * bw + 1:.1f}" y="{top + plot_h - h:.1f}" '
            f'width="{max(bw - 2, 1):.1f}" height="{h:.1f}" fill="{COLORS[0]}">'
            f"<title>{b_lo:.0f}–{b_hi:.0f} {_e(unit)}: {c}</title></rect>"
        )
    parts.append(
        f'<text x="{left}" y="{height - 8}">{lo:.0f} {_e(unit)}</text>'
        f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end">{hi:.0f} {_e(unit)}</text>'
    )
    for q, label in ((0.5, "p50"), (0.95, "p95")):
        idx = q * (len(vals) - 1)
        f = int(idx)
        v = vals[f] + (vals[min(f + 1, len(vals) - 1)] - vals[f]) * (idx - f)
        x = left + ((v - lo) / span * plot_w if span > 0 else plot_w / 2)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="#e45756" '
            f'stroke-dasharray="4 3"/><text x="{x + 3:.1f}" y="{top + 10}" fill="#e45756">'
            f"{label} {v:.0f}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def reliability_svg(items: Sequence[Mapping[str, Any]], *, bins: int = 10) -> str:
    """Reliability diagram of the refusal model: per bin of the predicted probability that
    the texts answer (``understood.p_answer``), the share of gold items that are
    answerable. A calibrated model lies on the diagonal; the bar labels give the counts."""
    pairs = [
        (float(it["understood"]["p_answer"]), 1.0 if it.get("answerable") else 0.0)
        for it in items
        if isinstance(it.get("understood"), Mapping) and "p_answer" in it["understood"]
    ]
    if not pairs:
        return "<p class=muted>No answer probabilities in this run (rules answerer).</p>"
    size, pad = 300, 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size + 2 * pad}" '
        f'height="{size + 2 * pad}" role="img" aria-label="reliability diagram" '
        'font-family="sans-serif" font-size="11">',
        f'<rect x="{pad}" y="{pad}" width="{size}" height="{size}" fill="none" stroke="#333"/>',
        f'<line x1="{pad}" y1="{pad + size}" x2="{pad + size}" y2="{pad}" stroke="#aaa" '
        'stroke-dasharray="4 3"/>',
        f'<text x="{pad + size / 2}" y="{pad + size + 28}" text-anchor="middle">'
        "predicted probability of answering</text>",
        f'<text x="12" y="{pad + size / 2}" transform="rotate(-90 12 {pad + size / 2})" '
        'text-anchor="middle">observed share answerable</text>',
    ]
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        sel = [y for p, y in pairs if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        if not sel:
            continue
        obs = sum(sel) / len(sel)
        x = pad + lo * size
        h = obs * size
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{pad + size - h:.1f}" width="{size / bins - 4:.1f}" '
            f'height="{h:.1f}" fill="{COLORS[0]}" fill-opacity="0.7">'
            f"<title>{lo:.1f}–{hi:.1f}: {obs:.2f} of {len(sel)}</title></rect>"
            f'<text x="{x + size / bins / 2:.1f}" y="{pad + size - h - 3:.1f}" '
            f'text-anchor="middle">{len(sel)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------- worst items


def badness(item: Mapping[str, Any]) -> float:
    """How wrong an item is, for picking the worst ones (0 = nothing wrong)."""
    if item.get("error"):
        return 10.0
    m = item.get("metrics", {})
    b = 0.0
    if item.get("answerable"):
        if item.get("refused"):
            b += 3.0
        for name in ("key_fact_recall", "citation_clause_recall_lenient", "citation_doc_precision"):
            v = m.get(name)
            if v is not None:
                b += 1.0 - float(v)
    elif not item.get("refused"):
        b += 3.0
    v = m.get("figure_hallucination")
    if v:
        b += float(v)
    return b


def worst_items(items: Sequence[Mapping[str, Any]], n: int = N_WORST) -> list[Mapping[str, Any]]:
    """The ``n`` items with the highest :func:`badness` above 0 (ties by id)."""
    scored = [(badness(it), str(it.get("id", "")), it) for it in items]
    scored = [s for s in scored if s[0] > 0]
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [it for _, _, it in scored[:n]]


def _reasons(item: Mapping[str, Any]) -> list[str]:
    m = item.get("metrics", {})
    out = []
    if item.get("error"):
        out.append(f"error: {item['error']}")
    if item.get("answerable") and item.get("refused"):
        out.append("false refusal")
    if not item.get("answerable") and not item.get("refused"):
        out.append("answered an unanswerable question")
    for name, label in (
        ("key_fact_recall", "key facts"),
        ("citation_clause_recall_lenient", "clause recall"),
        ("citation_doc_precision", "doc precision"),
    ):
        v = m.get(name)
        if v is not None and v < 1:
            out.append(f"{label} {float(v):.2f}")
    v = m.get("figure_hallucination")
    if v:
        out.append(f"unsupported figures {float(v):.2f}")
    return out


def _cite_list(cites: Sequence[Mapping[str, Any]]) -> str:
    if not cites:
        return "<span class=muted>(none)</span>"
    lis = []
    for c in cites:
        doc = c.get("doc_no") or f"《{c.get('title', '')}》"
        lis.append(f"<li>{_e(doc)} {_e(c.get('clause', '') or '(whole document)')}</li>")
    return "<ul>" + "".join(lis) + "</ul>"


def _retrieved_list(item: Mapping[str, Any]) -> str:
    gold = [
        Ref.of(str(c.get("doc_no", "")), str(c.get("title", "")), str(c.get("clause", "")))
        for c in item.get("gold_citations", [])
    ]
    rows = []
    for r in item.get("retrieved", []):
        ref = Ref.of(str(r.get("doc_no", "")), str(r.get("title", "")), str(r.get("clause", "")))
        hit = any(
            g.doc == ref.doc and clause_match(g.clause, ref.clause, lenient=True) for g in gold
        )
        mark = "<span class=ok>✓</span>" if hit else ""
        text = str(r.get("text", ""))
        if len(text) > 400:
            text = text[:400] + "…"
        rows.append(
            f"<tr><td class=num>{_e(r.get('rank', ''))}</td><td>{mark}</td>"
            f"<td>{_e(r.get('doc_no') or r.get('title', ''))}</td><td>{_e(r.get('clause', ''))}"
            f"</td><td class=num>{_f(r.get('score'))}</td>"
            f"<td>{_e(','.join(r.get('sources', [])))}</td><td class=clause>{_e(text)}</td></tr>"
        )
    if not rows:
        return "<p class=muted>Nothing retrieved.</p>"
    return (
        "<table><tr><th>#</th><th>gold</th><th>文号/title</th><th>clause</th><th>score</th>"
        "<th>sources</th><th>text</th></tr>" + "".join(rows) + "</table>"
    )


def _item_card(item: Mapping[str, Any]) -> str:
    chips = "".join(f"<span class=chip>{_e(r)}</span>" for r in _reasons(item))
    tags = ", ".join(item.get("tags", []))
    facts = "、".join(item.get("key_facts", []))
    return (
        f"<div class=item><h3>{_e(item.get('id', ''))} · {_e(item.get('persona', ''))}"
        f" · <span class=muted>{_e(tags)}</span></h3><div>{chips}</div>"
        f"<p><b>Q:</b> {_e(item.get('question', ''))}</p>"
        "<table class=pair><tr><th>gold</th><th>system</th></tr><tr>"
        f"<td>{_e(item.get('gold_answer', ''))}<p class=muted>key facts: {_e(facts or '–')}</p>"
        f"{_cite_list(item.get('gold_citations', []))}</td>"
        f"<td>{'<b>[refused]</b> ' if item.get('refused') else ''}{_e(item.get('answer', ''))}"
        f"{_cite_list(item.get('citations', []))}</td></tr></table>"
        f"<details open><summary>retrieved clauses</summary>{_retrieved_list(item)}</details>"
        "</div>"
    )


# --------------------------------------------------------------------------- page


def _meta(manifest: Mapping[str, Any] | None, summary: Mapping[str, Any]) -> str:
    m = manifest or {}
    gold = m.get("gold", {}) if isinstance(m.get("gold"), Mapping) else {}
    rows = [
        ("created", m.get("created_at", "")),
        ("commit", m.get("git_commit", "")),
        ("mode", m.get("mode", "")),
        ("k", m.get("k", "")),
        ("embedder", m.get("embedder", "")),
        ("model", m.get("model", "")),
        ("corpus hash", str(m.get("corpus_hash", ""))[:16]),
        ("gold", f"{gold.get('path', '')} (sha256 {str(gold.get('sha256', ''))[:12]})"),
        (
            "items",
            f"{summary.get('n_items', '')} ({summary.get('n_answerable', '')} answerable, "
            f"{summary.get('n_unanswerable', '')} unanswerable, "
            f"{summary.get('n_errors', '')} errors)",
        ),
    ]
    return (
        "<table class=meta>"
        + "".join(f"<tr><td class=muted>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows if v)
        + "</table>"
    )


def render_report(
    summary: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    *,
    manifest: Mapping[str, Any] | None = None,
    title: str = "Policy QA evaluation",
) -> str:
    """The report page.

    Args:
        summary: ``summary.json`` content.
        items: ``per_item.jsonl`` records.
        manifest: ``manifest.json`` content, for the run's provenance.
        title: Page title.

    Returns:
        A complete HTML document.
    """
    by_tag = summary.get("by_tag", {})
    chart_groups = {
        tag: {m: _mean(data.get("metrics", {}).get(m)) for m in CHART_METRICS}
        for tag, data in by_tag.items()
        if isinstance(data, Mapping)
    }
    totals = [
        float(it["timings_ms"]["total"])
        for it in items
        if isinstance(it.get("timings_ms"), Mapping) and it["timings_ms"].get("total") is not None
    ]
    worst = worst_items(items)
    body = [
        f"<h1>{_e(title)}</h1>",
        _meta(manifest, summary),
        "<h2>Metrics</h2>",
        _headline_table(summary),
        "<h2>Latency</h2>",
        _latency_table(summary),
        histogram_svg(totals),
        "<h2>By persona</h2>",
        _breakdown_table(summary.get("by_persona", {}), "persona"),
        "<h2>By tag</h2>",
        _breakdown_table(by_tag, "tag"),
        bar_chart_svg(chart_groups),
        "<h2>Refusal model: reliability</h2>",
        reliability_svg(items),
        f"<h2>Worst items ({len(worst)})</h2>",
        "".join(_item_card(it) for it in worst) or "<p class=muted>No failing items.</p>",
    ]
    return (
        "<!DOCTYPE html>\n<html lang=zh-CN><head><meta charset=utf-8>"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
