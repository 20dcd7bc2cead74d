"""Web app (Gradio Blocks): citizen chat, clerk desk and document list. Presentation only.

Every answer comes from :meth:`rag.answer.service.Assistant.ask_with_hits`; the assistant
and the corpus are loaded lazily, once per process, through the API's :class:`State`, so
the web app and the HTTP API share them. User errors (:class:`RagError`) become a toast
and a visible message in the page, never a stack trace.

The page has four tabs:

* 市民问答 — a chat; each answer carries its citations as chips (``<details>``) that open
  the clause text; follow-ups pass the earlier turns as history; 👍/👎 feedback.
* 坐席 — one question with filters; the answer beside the ranked clauses (scores, query
  words marked), a copy button and a viewer showing the whole document at the cited clause
  (repaired text beside the original source lines).
* 文件 — the document list with a search box and the selected document's clause outline.
* 文档管理 — for clerks (behind the login when ``RAG_API_KEY`` is set): upload a file, see
  what was parsed (文号, title, issuer, date, kind, validity, clause outline, what it
  replaces) before confirming; confirm (stores it and updates the index); retire a
  document; each document's history. The lists refresh after every change.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from rag.answer.service import Turn
from rag.errors import IndexError_, InputError, NotFoundError, RagError
from rag.ingest.store import Corpus
from rag.interfaces.api import State
from rag.interfaces.feedback import FeedbackStore
from rag.interfaces.upload import suffixes as upload_suffixes
from rag.models import Answer, Clause, Document, Hit
from rag.retrieve.hybrid import Filters, normalize_doc_no
from rag.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

UI_DIR = PROJECT_ROOT / "ui"
EXAMPLES_FILE = UI_DIR / "examples.txt"
CSS_FILE = UI_DIR / "style.css"
MAX_HISTORY = 10  # earlier turns passed to the assistant
MAX_SOURCE_LINES = 4000  # cap of the source pane

DOC_HEADERS = ["文号", "标题", "发文机关", "成文日期", "条款数", "状态", "效力"]
KIND_NAMES = {"document": "文件", "personnel": "人事任免", "news": "政务动态"}

# Scroll the document viewer panes to the cited clause (after Svelte has rendered them).
SCROLL_JS = """
() => { setTimeout(() => {
  for (const id of ['cited-clause', 'src-cited']) {
    const el = document.getElementById(id);
    const box = el && el.closest('.viewer-box');
    if (box) box.scrollTop = Math.max(0, el.offsetTop - 60);
  }
}, 150); }
"""
COPY_JS = """
(text) => {
  if (!text) return;
  const fallback = () => {
    const ta = document.createElement('textarea');
    ta.value = text; document.body.appendChild(ta); ta.select();
    try { document.execCommand('copy'); } finally { ta.remove(); }
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).catch(fallback);
  } else { fallback(); }
}
"""


# -- plain presentation helpers (no Gradio; unit-testable) ------------------------------


def load_examples(path: Path = EXAMPLES_FILE) -> list[str]:
    """Example questions: one a line; blank lines and ``#`` comments skipped."""
    if not path.is_file():
        return []
    lines = (ln.strip() for ln in path.read_text(encoding="utf-8").splitlines())
    return [ln for ln in lines if ln and not ln.startswith("#")]


def user_message(exc: BaseException) -> str:
    """A one-line Chinese message for an error the user can cause or fix."""
    msg = str(exc)
    if isinstance(exc, InputError):
        if msg == "empty question":
            return "请输入问题。"
        m = re.match(r"question too long: (\d+) characters \(limit (\d+)\)", msg)
        if m:
            return f"问题太长（{m[1]} 字，上限 {m[2]} 字），请精简后再问。"
        return f"输入有误：{msg}"
    if isinstance(exc, IndexError_):
        return f"检索索引不可用：{msg}。请先运行 `rag ingest` 和 `rag index`。"
    if isinstance(exc, NotFoundError):
        return f"未找到：{msg}"
    if isinstance(exc, RagError):
        return f"出错了：{msg}"
    return "内部错误，请稍后再试。"


def cite_label(doc_no: str, title: str, clause: str) -> str:
    """``嘉政发〔2014〕87号 第十四条``, or ``《title》第十六条`` for a document without 文号."""
    return f"{doc_no} {clause}".strip() if doc_no else f"《{title}》{clause}"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _lines_html(text: str) -> str:
    """Escaped text with ``<br>`` for line breaks (no blank lines: keeps one HTML block)."""
    return "<br>".join(_esc(ln) for ln in text.splitlines() if ln.strip())


def query_words(question: str) -> list[str]:
    """Words of the question worth marking in clauses (jieba, no stopwords, ≥ 2 chars)."""
    from rag.index.tokenize import get_tokenizer

    words = get_tokenizer().words(question)
    long = [w for w in words if len(w) >= 2]
    return sorted(set(long or words), key=len, reverse=True)


def highlight(text: str, words: Iterable[str]) -> str:
    """Escape ``text`` and wrap every occurrence of ``words`` in ``<mark>`` (longest first)."""
    ws = sorted({w for w in words if w}, key=len, reverse=True)
    if not ws:
        return _esc(text)
    pattern = re.compile("|".join(re.escape(w) for w in ws), re.IGNORECASE)
    out, pos = [], 0
    for m in pattern.finditer(text):
        out.append(_esc(text[pos : m.start()]))
        out.append(f"<mark>{_esc(m.group())}</mark>")
        pos = m.end()
    out.append(_esc(text[pos:]))
    return "".join(out)


def _match_clause(doc_no: str, title: str, label: str, text: str, hits: list[Hit]) -> Clause | None:
    same = [
        h.clause
        for h in hits
        if h.clause.doc_no == doc_no and h.clause.doc_title == title and h.clause.label == label
    ]
    for c in same:
        if c.text == text:
            return c
    return same[0] if same else None


def answer_record(ans: Answer, hits: list[Hit]) -> dict[str, Any]:
    """What the page keeps of one answer: text, refusal, citations with their clause context."""
    cites = []
    for c in ans.citations:
        cl = _match_clause(c.doc_no, c.title, c.clause, c.text, hits)
        d = c.to_json()
        d["label"] = cite_label(c.doc_no, c.title, c.clause)
        d["context"] = cl.context if cl else c.title
        d["source"] = str(cl.span) if cl and cl.span else ""
        cites.append(d)
    return {
        "question": ans.question,
        "answer": ans.answer,
        "refused": ans.refused,
        "mode": ans.mode,
        "citations": cites,
        "notes": list(ans.notes),
        "timings_ms": dict(ans.timings_ms),
        "understood": dict(ans.understood),
    }


# how the clerk console names what was read from a caller's story
_UNDERSTOOD_LABELS = (
    ("asks", "问的是"),
    ("wants", "要的答案"),
    ("scheme", "参保类型"),
    ("status", "人员"),
    ("service", "就医"),
    ("level", "医院级别"),
    ("place", "地点"),
    ("year", "年份"),
    ("age", "年龄"),
    ("amount", "金额（元）"),
    ("docs", "提到的文件"),
)
_WANTS_ZH = {
    "money": "金额",
    "ratio": "比例",
    "amount": "数额",
    "duration": "期限",
    "age": "年龄",
    "count": "数量",
    "when": "时间",
    "who": "由谁",
    "where": "在哪办",
    "bring": "要带什么",
    "consequence": "后果",
    "how": "怎么办",
    "definition": "含义",
    "which": "哪些",
    "yesno": "能不能",
}


def understood_md(rec: dict[str, Any]) -> str:
    """One line of what was read from the question, for the clerk (empty when nothing)."""
    u = rec.get("understood") or {}
    bits = []
    for key, label in _UNDERSTOOD_LABELS:
        v = u.get(key)
        if v in (None, "", []):
            continue
        if key == "wants":
            v = [_WANTS_ZH.get(w, w) for w in (v if isinstance(v, list) else [v])]
        if key == "amount":
            v = [f"{x:g}" for x in (v if isinstance(v, list) else [v])]
        text = "、".join(str(x) for x in v) if isinstance(v, list) else str(v)
        bits.append(f"{label}：{_esc(text)}")
    if "p_answer" in u:
        bits.append(f"有依据的把握：{float(u['p_answer']):.0%}")
    return "<span class='answer-note'>理解为 · " + " · ".join(bits) + "</span>" if bits else ""


def _understood_as(rec: dict[str, Any]) -> str:
    for n in rec.get("notes", []):
        if n.startswith("understood as: "):
            return n.removeprefix("understood as: ")
    return ""


def _other_notes(rec: dict[str, Any], *, for_citizens: bool) -> list[str]:
    """Notes beside "understood as": cases, unanswered parts, a missing clause, an LLM
    fallback. Citizens see the ones written for them (in Chinese); clerks see all."""
    notes = [n for n in rec.get("notes", []) if not n.startswith("understood as: ")]
    if for_citizens:
        notes = [n for n in notes if re.match(r"[\u4e00-\u9fff]", n)]
    return notes


def _source_text(source: str) -> str:
    m = re.match(r"^(.*):(\d+)-(\d+)$", source)
    if not m:
        return source
    a, b = m[2], m[3]
    return f"源文件 {m[1]} 第 {a} 行" if a == b else f"源文件 {m[1]} 第 {a}–{b} 行"


def chat_answer(rec: dict[str, Any]) -> str:
    """The assistant message: the answer, then one clickable chip per citation."""
    parts = []
    if rec["refused"]:
        parts.append("**现有文件没有涉及这个问题。**")
    parts.append(_lines_html(rec["answer"]))
    standalone = _understood_as(rec)
    if standalone:
        parts.append(f'<span class="answer-note">（按“{_esc(standalone)}”理解）</span>')
    for note in _other_notes(rec, for_citizens=True):
        parts.append(f'<span class="answer-note">{_esc(note)}</span>')
    if rec["citations"]:
        title = "出处（点击查看条文）"
        if rec["refused"]:
            title = "最接近的条款（仅供参考，点击查看原文）"
        chips = []
        for c in rec["citations"]:
            src = _source_text(c["source"]) if c.get("source") else ""
            warn = c.get("warning") or ""
            chips.append(
                '<details class="cite-chip">'
                f"<summary>{_esc(c['label'])}{_cite_when(c)}</summary>"
                '<div class="cite-body">'
                + (f'<div class="cite-warning">⚠ {_esc(warn)}</div>' if warn else "")
                + f'<div class="cite-ctx">{_esc(c.get("context") or c["title"])}</div>'
                f'<div class="cite-text">{_lines_html(c["text"])}</div>'
                + (f'<div class="cite-src">{_esc(src)}</div>' if src else "")
                + "</div></details>"
            )
        parts.append(
            f'<div class="cites"><div class="cites-title">{title}</div>{"".join(chips)}</div>'
        )
    return "\n\n".join(parts)


def _cite_when(c: dict[str, Any]) -> str:
    """The citation's document date and status, shown after its label."""
    bits = [b for b in (c.get("date"), c.get("status")) if b]
    return f'<span class="cite-when"> · {_esc(" · ".join(bits))}</span>' if bits else ""


def chat_messages(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Chatbot messages (user, assistant) for every answered question, in order."""
    out: list[dict[str, str]] = []
    for r in records:
        out.append({"role": "user", "content": html.escape(r["question"], quote=False)})
        out.append({"role": "assistant", "content": chat_answer(r)})
    return out


def copy_text(rec: dict[str, Any]) -> str:
    """Answer and citations as plain text (for the clerk's copy button)."""
    lines = [f"问：{rec['question']}", f"答：{rec['answer']}"]
    if rec["citations"]:
        lines.append("最接近的条款：" if rec["refused"] else "出处：")
        for i, c in enumerate(rec["citations"], 1):
            title = f"《{c['title']}》" if c.get("doc_no") else ""
            lines.append(f"[{i}] {c['label']} {title}".rstrip())
    return "\n".join(lines)


def clerk_answer_md(rec: dict[str, Any]) -> str:
    out = []
    if rec["refused"]:
        out.append("**⚠️ 现有文件没有涉及这个问题**，以下为最接近的条款，仅供参考。")
    out.append(_lines_html(rec["answer"]))
    standalone = _understood_as(rec)
    if standalone:
        out.append(f"*按“{_esc(standalone)}”理解*")
    line = understood_md(rec)
    if line:
        out.append(line)
    for note in _other_notes(rec, for_citizens=False):
        out.append(f"<span class='answer-note'>{_esc(note)}</span>")
    if rec["citations"]:
        cites = "\n".join(
            f"{i}. **{_esc(c['label'])}**"
            + (f"　《{_esc(c['title'])}》" if c.get("doc_no") else "")
            + _cite_when(c)
            + (f"　⚠ {_esc(c['warning'])}" if c.get("warning") else "")
            for i, c in enumerate(rec["citations"], 1)
        )
        out.append(("**最接近的条款**\n\n" if rec["refused"] else "**出处**\n\n") + cites)
    t = rec.get("timings_ms") or {}
    if t:
        out.append(
            f"<span class='answer-note'>检索 {t.get('retrieve', 0):.0f} ms · "
            f"作答 {t.get('answer', 0):.0f} ms · 模式 {rec.get('mode', '')}</span>"
        )
    return "\n\n".join(out)


def hits_html(hits: list[Hit], words: list[str], cited: set[tuple[str, str, str]]) -> str:
    """Ranked clauses with scores, retrievers, and the query words marked."""
    if not hits:
        return '<div class="hits"><i>没有检索到条款。</i></div>'
    rows = []
    for i, h in enumerate(hits, 1):
        c = h.clause
        is_cited = (c.doc_no, c.doc_title, c.label) in cited
        badge = '<span class="badge">已引用</span>' if is_cited else ""
        rows.append(
            f'<div class="hit{" cited" if is_cited else ""}">'
            '<div class="hit-head">'
            f'<span class="hit-rank">#{i}</span>'
            f"<b>{_esc(cite_label(c.doc_no, c.doc_title, c.label))}</b>"
            f'<span class="hit-score" title="融合得分">{h.score:.4f}</span>'
            f'<span class="hit-sources">{_esc(" + ".join(h.sources))}</span>{badge}'
            "</div>"
            f'<div class="hit-ctx">{_esc(c.context)}</div>'
            f'<div class="hit-text">{highlight(c.text, words)}</div>'
            "</div>"
        )
    return '<div class="hits">' + "".join(rows) + "</div>"


def _hit_ref(h: Hit) -> dict[str, Any]:
    c = h.clause
    return {"doc_key": c.doc_key, "part": c.part, "seq": c.seq, "label": c.label}


def _find_doc(corpus: Corpus, key: str) -> Document | None:
    return next((d for d in corpus.documents if d.key == key), None)


def viewer_html(corpus: Corpus, ref: dict[str, Any] | None) -> tuple[str, str]:
    """The whole document at the cited clause: (repaired text pane, original source pane)."""
    if not ref:
        empty = '<div class="viewer-box"><i>选择一个条款以查看全文。</i></div>'
        return empty, empty
    doc = _find_doc(corpus, ref["doc_key"])
    if doc is None:
        missing = f'<div class="viewer-box">未找到文件：{_esc(ref["doc_key"])}</div>'
        return missing, missing
    target = next(
        (c for c in doc.clauses if c.part == ref["part"] and c.seq == ref["seq"]), None
    ) or next((c for c in doc.clauses if c.label == ref["label"]), None)
    return _repaired_pane(doc, target), _source_pane(corpus, doc, target)


def _validity_text(doc: Document, as_of: date | None) -> str:
    """The document's status as of ``as_of`` (today), marked when set by hand."""
    status = doc.status_on(as_of or date.today())
    return status + ("（人工标注）" if doc.status_mark else "")


def _doc_meta(doc: Document, as_of: date | None = None) -> str:
    bits = [doc.doc_no, doc.issuer, doc.date, KIND_NAMES.get(doc.kind, doc.kind)]
    if not doc.printed:
        bits.append("仅列目录，正文未刊登")
    else:
        bits.append("效力：" + _validity_text(doc, as_of))
    return " · ".join(_esc(b) for b in bits if b)


def _with_section_marks(doc: Document, *, indent: bool) -> Iterator[tuple[Clause, list[str]]]:
    """Each clause with the HTML of the part title and headings that open before it."""
    part_title: str | None = None
    headings: list[str] = []
    for c in doc.clauses:
        marks: list[str] = []
        if c.part_title != part_title:
            part_title = c.part_title
            if c.part and part_title:
                marks.append(f'<div class="v-part">{_esc(part_title)}</div>')
            headings = []
        for i, h in enumerate(c.headings):
            if i >= len(headings) or headings[i] != h:
                style = f' style="margin-left:{i}em"' if indent else ""
                marks.append(f'<div class="v-heading"{style}>{_esc(h)}</div>')
        headings = list(c.headings)
        yield c, marks


def _repaired_pane(doc: Document, target: Clause | None) -> str:
    out = [
        '<div class="viewer-box" id="viewer-repaired">',
        f'<div class="viewer-title">{_esc(doc.title)}</div>',
        f'<div class="viewer-meta">修复后文本（阅读顺序） · {_doc_meta(doc)}</div>',
    ]
    for c, marks in _with_section_marks(doc, indent=False):
        out.extend(marks)
        is_target = target is not None and c is target
        attrs = ' class="v-clause cited" id="cited-clause"' if is_target else ' class="v-clause"'
        tag = (
            "" if c.text.startswith(c.label) else f'<span class="v-label">[{_esc(c.label)}]</span>'
        )
        out.append(f"<div{attrs}>{tag}{_esc(c.text)}</div>")
    if not doc.clauses:
        out.append(f'<div class="v-clause">{_esc(doc.text) or "（正文未刊登）"}</div>')
    out.append("</div>")
    return "".join(out)


def _source_pane(corpus: Corpus, doc: Document, target: Clause | None) -> str:
    span = doc.span or (target.span if target else None)
    src = corpus.sources.get(span.file) if span else None
    if span is None or src is None:
        return '<div class="viewer-box"><i>没有源文件记录。</i></div>'
    lines = src.raw_text.splitlines()
    start = max(1, span.start_line)
    end = min(len(lines), span.end_line, start + MAX_SOURCE_LINES - 1)
    hl_from, hl_to = 0, -1
    if target is not None and target.span is not None:
        hl_from, hl_to = target.span.start_line, target.span.end_line
    where = f"第 {hl_from}–{hl_to} 行" if hl_to >= hl_from else ""
    out = [
        '<div class="viewer-box" id="viewer-source">',
        f'<div class="viewer-title">源文件原文：{_esc(span.file)}</div>',
        f'<div class="viewer-meta">第 {start}–{end} 行（未经修复）'
        + (f" · 引用条款在{where}" if where else "")
        + "</div>",
    ]
    first = True
    for n in range(start, end + 1):
        hl = hl_from <= n <= hl_to
        attrs = ' class="src-line hl"' if hl else ' class="src-line"'
        if hl and first:
            attrs += ' id="src-cited"'
            first = False
        line = _esc(lines[n - 1])
        out.append(f'<div{attrs}><span class="ln">{n}</span><span>{line}</span></div>')
    out.append("</div>")
    return "".join(out)


def doc_rows(
    corpus: Corpus, query: str = "", as_of: date | None = None
) -> tuple[list[list[Any]], list[str]]:
    """Rows of the document table matching ``query`` (文号 in any bracket style, title,
    issuer, date), and the documents' keys in the same order."""
    q = query.strip()
    qn = normalize_doc_no(q)
    rows, keys = [], []
    for d in corpus.documents:
        hay = (d.doc_no, d.title, d.issuer, d.date)
        if q and not (any(q in h for h in hay) or (d.doc_no and qn in normalize_doc_no(d.doc_no))):
            continue
        status = KIND_NAMES.get(d.kind, d.kind)
        if not d.printed:
            status = "仅列目录（正文未刊登）"
        valid = _validity_text(d, as_of) if d.printed else ""
        rows.append([d.doc_no or "—", d.title, d.issuer, d.date, len(d.clauses), status, valid])
        keys.append(d.key)
    return rows, keys


def outline_html(doc: Document, as_of: date | None = None) -> str:
    """The clause outline of a document: parts, headings, and each clause (click to open)."""
    out = [
        '<div class="outline">',
        f'<div class="viewer-title">{_esc(doc.title)}</div>',
        f'<div class="viewer-meta">{_doc_meta(doc, as_of)} · {len(doc.clauses)} 个条款</div>',
    ]
    if not doc.printed:
        out.append("<p>本文件只在目录中列出，正文未刊登，没有可引用的条款。</p>")
    for c, marks in _with_section_marks(doc, indent=True):
        out.extend(marks)
        snippet = c.text.replace("\n", " ")
        if snippet.startswith(c.label):
            snippet = snippet[len(c.label) :].strip()
        snippet = snippet[:40] + ("…" if len(snippet) > 40 else "")
        out.append(
            f'<details style="margin-left:{len(c.headings)}em"><summary>'
            f'<span class="o-label">{_esc(c.label)}</span>'
            f'<span class="o-snip">{_esc(snippet)}</span></summary>'
            f'<div class="o-text">{_esc(c.text)}</div></details>'
        )
    out.append("</div>")
    return "".join(out)


def _citations_for_feedback(rec: dict[str, Any]) -> list[dict[str, Any]]:
    keys = ("doc_no", "clause", "title", "text", "score")
    return [{k: c.get(k) for k in keys} for c in rec["citations"]]


def doc_choices(corpus: Corpus) -> list[tuple[str, str]]:
    """(label, key) of every document, for the documents view's picker."""
    return [(f"{d.doc_no or '（无文号）'} 《{d.title}》", d.key) for d in corpus.documents]


ACTION_NAMES = {"add": "新增", "replace": "替换已有文件", "unchanged": "已存在，无变化"}
# Document.to_json() fields shown as such in the preview; any further field (validity:
# effective, expires, trial, status …) is listed under them as it is
_BASE_FIELDS = {
    "doc_no",
    "title",
    "issuer",
    "date",
    "kind",
    "printed",
    "source",
    "attachments",
    "n_clauses",
    "clause_labels",
    "action",
    "replaces",
    "outline",
}


def preview_html(result: dict[str, Any], *, stored: bool = False) -> str:
    """What an uploaded file holds (from :func:`rag.interfaces.upload.result_json`)."""
    head = "已导入" if stored else "解析结果（尚未导入，确认后才会保存）"
    out = [
        '<div class="upload-preview">',
        f'<div class="viewer-title">{head}：{_esc(result["file"])}</div>',
    ]
    if result["status"] == "unchanged":
        out.append("<p>该文件已导入过，内容相同，无需再次导入。</p>")
    for d in result["documents"]:
        action = ACTION_NAMES.get(d["action"], d["action"])
        rep = d.get("replaces")
        if rep:
            old = rep["doc_no"] or f"《{rep['title']}》"
            action += f"：{old}（{rep['date'] or '无日期'}，来自 {rep['source']}）"
        rows = [
            ("文号", d["doc_no"] or "（无文号）"),
            ("标题", d["title"]),
            ("发文机关", d["issuer"] or "—"),
            ("成文日期", d["date"] or "—"),
            ("类别", KIND_NAMES.get(d["kind"], d["kind"])),
            ("条款数", str(d["n_clauses"])),
            ("导入后", action),
        ]
        rows += [(k, str(v)) for k, v in d.items() if k not in _BASE_FIELDS]
        out.append('<table class="preview-doc">')
        out += [f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows]
        out.append("</table>")
        items = "".join(
            f'<li><span class="o-label">{_esc(c["clause"] or "—")}</span> '
            f'<span class="o-snip">{_esc(c["text"])}</span></li>'
            for c in d["outline"]
        )
        out.append(f"<details open><summary>条款目录</summary><ol>{items}</ol></details>")
    if result.get("removed"):
        out.append(
            "<p>该文件的旧版本中有、新版本中没有的文件将被移除："
            + _esc("、".join(result["removed"]))
            + "</p>"
        )
    for w in result.get("warnings", []):
        out.append(f'<div class="answer-note">提示：{_esc(w)}</div>')
    out.append("</div>")
    return "".join(out)


def history_html(events: list[dict[str, Any]]) -> str:
    """A document's history as a table (newest last)."""
    names = {"ingest": "导入", "replace": "替换", "remove": "撤销/移除", "status-set": "设定状态"}
    if not events:
        return "<i>没有记录（该文件在开始记录历史之前导入）。</i>"
    rows = "".join(
        f"<tr><td>{_esc(e['at'])}</td><td>{_esc(names.get(e['action'], e['action']))}</td>"
        f"<td>{_esc(e['source'])}</td><td>{_esc(e['source_sha256'][:12])}</td>"
        f"<td>{_esc(e['actor'])}</td><td>{_esc(e['detail'])}</td></tr>"
        for e in events
    )
    return (
        '<table class="history"><tr><th>时间 (UTC)</th><th>操作</th><th>来源文件</th>'
        f"<th>SHA-256</th><th>途径</th><th>说明</th></tr>{rows}</table>"
    )


# -- the Gradio app ----------------------------------------------------------------------


def build_ui(settings: Settings | None = None, state: State | None = None) -> gr.Blocks:
    """The Gradio Blocks app. Share ``state`` with the API so the assistant loads once."""
    settings = settings or Settings()
    st = state or State(settings)
    examples = load_examples()
    private: dict[str, Any] = {"api_visibility": "private"}

    def feedback_store() -> FeedbackStore:
        return FeedbackStore(settings.feedback_db)

    def show_error(exc: BaseException) -> Any:
        if not isinstance(exc, RagError):
            log.exception("web app error")
        msg = user_message(exc)
        gr.Warning(msg)
        return gr.Markdown(value=f"⚠️ {msg}", visible=True)

    def no_error() -> Any:
        return gr.Markdown(value="", visible=False)

    def save_feedback(rec: dict[str, Any] | None, verdict: str, comment: str) -> str:
        if not rec:
            gr.Warning("还没有可以评价的回答。")
            return ""
        try:
            fid = feedback_store().add(
                rec["question"],
                rec["answer"],
                _citations_for_feedback(rec),
                verdict,
                (comment or "").strip()[:2000],
            )
        except Exception:  # the page must keep working when the feedback file is unwritable
            log.exception("cannot store feedback")
            gr.Warning("反馈保存失败，请稍后再试。")
            return ""
        word = "有帮助" if verdict == "helpful" else "有错误"
        return f"已记录反馈 #{fid}（{word}），谢谢！"

    with gr.Blocks(title="政策文件问答", analytics_enabled=False) as demo:
        gr.Markdown(
            "# 政策文件问答\n回答均摘自政府文件原文，并注明文号和条款；"
            "文件中没有的内容会如实说明。",
            elem_classes=["app-header"],
        )
        with gr.Tabs():
            # ---------------------------------------------------------------- citizen
            with gr.Tab("市民问答", id="citizen"):
                records = gr.State([])
                chatbot = gr.Chatbot(
                    label="对话",
                    height=600,
                    elem_id="citizen-chat",
                    placeholder="**您好！** 请用中文提问，例如医保待遇、缴费年限、文件条款。",
                    examples=[{"text": q} for q in examples[:6]],
                    latex_delimiters=[],
                    feedback_options=("Like", "Dislike"),
                    buttons=["copy"],
                )
                with gr.Row():
                    question = gr.Textbox(
                        placeholder="输入您的问题，例如：住院起付标准是多少？",
                        show_label=False,
                        scale=8,
                        elem_id="citizen-question",
                    )
                    send = gr.Button("提问", variant="primary", scale=1, elem_id="citizen-send")
                citizen_err = gr.Markdown(visible=False, elem_classes=["error-box"])
                with gr.Row():
                    comment = gr.Textbox(
                        label="对最新回答的意见（可选）",
                        placeholder="哪里不对？正确的说法或条款是什么？",
                        scale=6,
                        elem_id="citizen-comment",
                    )
                    up = gr.Button("👍 有帮助", scale=1, elem_id="citizen-helpful")
                    down = gr.Button("👎 有错误", scale=1, elem_id="citizen-wrong")
                    clear = gr.Button("清空对话", scale=1)
                citizen_fb = gr.Markdown(elem_classes=["feedback-status"], elem_id="citizen-fb")

            # ---------------------------------------------------------------- clerk
            with gr.Tab("坐席", id="clerk"):
                clerk_rec = gr.State(None)
                clerk_hits = gr.State([])
                with gr.Row():
                    with gr.Column(scale=2):
                        cq = gr.Textbox(label="问题", lines=2, elem_id="clerk-question")
                        with gr.Row():
                            f_doc = gr.Dropdown(
                                label="文号",
                                choices=[],
                                value=None,
                                allow_custom_value=True,
                                elem_id="clerk-docno",
                            )
                            f_issuer = gr.Dropdown(
                                label="发文机关",
                                choices=[],
                                value=None,
                                allow_custom_value=True,
                                elem_id="clerk-issuer",
                            )
                        with gr.Row():
                            f_from = gr.Textbox(label="日期从", placeholder="2014-01-01")
                            f_to = gr.Textbox(label="日期至", placeholder="2014-12-31")
                            k = gr.Slider(1, 20, value=settings.k, step=1, label="条款数")
                        with gr.Row():
                            cask = gr.Button("检索并回答", variant="primary", elem_id="clerk-ask")
                            creset = gr.Button("清除筛选")
                        if examples:
                            gr.Examples([[q] for q in examples], inputs=[cq], label="示例问题")
                        clerk_err = gr.Markdown(visible=False, elem_classes=["error-box"])
                        canswer = gr.Markdown(elem_id="clerk-answer", latex_delimiters=[])
                        ccopy = gr.Textbox(
                            label="答案及出处（纯文本）",
                            lines=5,
                            max_lines=12,
                            interactive=False,
                            elem_id="clerk-copy-text",
                        )
                        with gr.Row():
                            copy_btn = gr.Button("📋 复制答案及出处", elem_id="clerk-copy")
                            cup = gr.Button("👍 有帮助")
                            cdown = gr.Button("👎 有错误")
                        ccomment = gr.Textbox(label="意见（可选）", lines=1)
                        clerk_fb = gr.Markdown(elem_classes=["feedback-status"])
                    with gr.Column(scale=3):
                        gr.Markdown("### 检索到的条款（按相关度排序）")
                        chits = gr.HTML(
                            '<div class="hits"><i>提问后在此列出条款。</i></div>',
                            elem_id="clerk-hits",
                        )
                gr.Markdown("### 文件查看：在引用条款处打开全文")
                pick = gr.Dropdown(label="条款", choices=[], value=None, elem_id="clerk-pick")
                with gr.Row(equal_height=False):
                    v_repaired = gr.HTML(elem_id="viewer-repaired-pane")
                    v_source = gr.HTML(elem_id="viewer-source-pane")

            # ---------------------------------------------------------------- documents
            with gr.Tab("文件", id="docs"):
                doc_keys = gr.State([])
                dsearch = gr.Textbox(
                    label="搜索文件", placeholder="文号（如 嘉政发[2014]87号）、标题或发文机关"
                )
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        dtable = gr.Dataframe(
                            headers=DOC_HEADERS,
                            interactive=False,
                            wrap=True,
                            max_height=640,
                            column_widths=["16%", "40%", "16%", "10%", "6%", "12%"],
                            elem_id="doc-table",
                        )
                    with gr.Column(scale=2):
                        doutline = gr.HTML("<i>点击表格中的文件查看条款目录。</i>")

            # ---------------------------------------------------------------- clerks' files
            with gr.Tab("文档管理", id="manage"):
                gr.Markdown(
                    "上传政策文件：先查看解析结果，确认后才会导入并更新检索索引。"
                    "文号相同（或标题与发文机关相同）的已有文件会被替换。"
                )
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2):
                        mfile = gr.File(
                            label="上传文件",
                            file_types=list(upload_suffixes()),
                            type="filepath",
                            elem_id="manage-file",
                        )
                        mconfirm = gr.Button(
                            "确认导入",
                            variant="primary",
                            interactive=False,
                            elem_id="manage-confirm",
                        )
                        mstatus = gr.Markdown(elem_id="manage-status")
                        manage_err = gr.Markdown(visible=False, elem_classes=["error-box"])
                        gr.Markdown("### 撤销文件")
                        mdoc = gr.Dropdown(
                            label="选择文件", choices=[], value=None, elem_id="manage-doc"
                        )
                        mretire = gr.Button("撤销该文件", variant="stop", elem_id="manage-retire")
                    with gr.Column(scale=3):
                        mpreview = gr.HTML(
                            "<i>上传文件后在此显示解析结果。</i>", elem_id="manage-preview"
                        )
                        mhistory = gr.HTML(elem_id="manage-history")

        # ---------------------------------------------------------------- handlers
        def citizen_ask(q: str, recs: list[dict[str, Any]]) -> tuple[Any, ...]:
            history = [Turn(r["question"], r["answer"]) for r in recs[-MAX_HISTORY:]]
            try:
                ans, hits = st.assistant.ask_with_hits(q, history=history)
            except Exception as e:
                return gr.skip(), gr.skip(), gr.skip(), show_error(e), gr.skip()
            recs = [*recs, answer_record(ans, hits)]
            return "", chat_messages(recs), recs, no_error(), ""

        citizen_outputs = [question, chatbot, records, citizen_err, citizen_fb]
        send.click(citizen_ask, [question, records], citizen_outputs, **private)
        question.submit(citizen_ask, [question, records], citizen_outputs, **private)

        def pick_example(evt: gr.SelectData) -> str:
            v = evt.value
            return str(v.get("text", "")) if isinstance(v, dict) else str(v)

        chatbot.example_select(pick_example, None, question, **private).then(
            citizen_ask, [question, records], citizen_outputs, **private
        )

        def on_like(recs: list[dict[str, Any]], note: str, evt: gr.LikeData) -> tuple[str, str]:
            idx = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            if evt.liked not in (True, False) or not 0 <= idx // 2 < len(recs):
                return gr.skip(), gr.skip()
            verdict = "helpful" if evt.liked else "wrong"
            return save_feedback(recs[idx // 2], verdict, note), ""

        chatbot.like(on_like, [records, comment], [citizen_fb, comment], **private)

        def citizen_feedback(verdict: str) -> Any:
            def fn(recs: list[dict[str, Any]], note: str) -> tuple[str, str]:
                return save_feedback(recs[-1] if recs else None, verdict, note), ""

            return fn

        up.click(citizen_feedback("helpful"), [records, comment], [citizen_fb, comment], **private)
        down.click(citizen_feedback("wrong"), [records, comment], [citizen_fb, comment], **private)

        def reset_chat() -> tuple[Any, ...]:
            return [], [], "", no_error()

        clear.click(reset_chat, None, [chatbot, records, citizen_fb, citizen_err], **private)
        chatbot.clear(reset_chat, None, [chatbot, records, citizen_fb, citizen_err], **private)

        def clerk_ask(
            q: str, doc_no: str | None, issuer: str | None, dfrom: str, dto: str, kk: float
        ) -> tuple[Any, ...]:
            try:
                filters = Filters(
                    doc_no=(doc_no or "").strip() or None,
                    issuer=(issuer or "").strip() or None,
                    date_from=(dfrom or "").strip() or None,
                    date_to=(dto or "").strip() or None,
                )
                ans, hits = st.assistant.ask_with_hits(q, k=int(kk), filters=filters)
                words = query_words(ans.question)
                corpus = st.corpus
            except Exception as e:
                return (show_error(e), *([gr.skip()] * 9))
            rec = answer_record(ans, hits)
            cited = {(c.doc_no, c.title, c.clause) for c in ans.citations}
            refs = [_hit_ref(h) for h in hits]
            choices = [
                (f"#{i + 1} {cite_label(c.doc_no, c.doc_title, c.label)}", str(i))
                for i, c in enumerate(h.clause for h in hits)
            ]
            first = next(
                (
                    i
                    for i, h in enumerate(hits)
                    if (h.clause.doc_no, h.clause.doc_title, h.clause.label) in cited
                ),
                0,
            )
            rep, src = viewer_html(corpus, refs[first] if refs else None)
            return (
                no_error(),
                clerk_answer_md(rec),
                copy_text(rec),
                hits_html(hits, words, cited),
                rec,
                refs,
                gr.Dropdown(choices=choices, value=str(first) if choices else None),
                rep,
                src,
                "",
            )

        clerk_outputs = [
            clerk_err,
            canswer,
            ccopy,
            chits,
            clerk_rec,
            clerk_hits,
            pick,
            v_repaired,
            v_source,
            clerk_fb,
        ]
        clerk_inputs = [cq, f_doc, f_issuer, f_from, f_to, k]
        for trigger in (cask.click, cq.submit):
            trigger(clerk_ask, clerk_inputs, clerk_outputs, **private).then(
                None, None, None, js=SCROLL_JS
            )

        def clerk_reset() -> tuple[Any, ...]:
            return None, None, "", ""

        creset.click(clerk_reset, None, [f_doc, f_issuer, f_from, f_to], **private)

        def open_hit(choice: str | None, refs: list[dict[str, Any]]) -> tuple[str, str]:
            try:
                ref = refs[int(choice)] if choice is not None else None
            except (ValueError, IndexError):
                ref = None
            return viewer_html(st.corpus, ref)

        pick.input(open_hit, [pick, clerk_hits], [v_repaired, v_source], **private).then(
            None, None, None, js=SCROLL_JS
        )
        copy_btn.click(None, [ccopy], None, js=COPY_JS)

        def clerk_feedback(verdict: str) -> Any:
            def fn(rec: dict[str, Any] | None, note: str) -> tuple[str, str]:
                return save_feedback(rec, verdict, note), ""

            return fn

        cup.click(clerk_feedback("helpful"), [clerk_rec, ccomment], [clerk_fb, ccomment], **private)
        cdown.click(clerk_feedback("wrong"), [clerk_rec, ccomment], [clerk_fb, ccomment], **private)

        def list_docs(query: str) -> tuple[Any, list[str]]:
            try:
                rows, keys = doc_rows(st.corpus, query, settings.as_of_date)
            except Exception as e:
                show_error(e)
                return gr.skip(), []
            return pd.DataFrame(rows, columns=DOC_HEADERS), keys

        dsearch.change(list_docs, [dsearch], [dtable, doc_keys], **private)

        def show_outline(keys: list[str], evt: gr.SelectData) -> str:
            idx = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            if not 0 <= idx < len(keys):
                return gr.skip()
            doc = _find_doc(st.corpus, keys[idx])
            return outline_html(doc, settings.as_of_date) if doc else gr.skip()

        dtable.select(show_outline, [doc_keys], [doutline], **private)

        def clerk_check(request: gr.Request | None) -> None:
            # the login page guards the whole app when a key is set; refuse anyone else
            if settings.api_key and not getattr(request, "username", None):
                raise InputError("文档管理需要登录（RAG_API_KEY）")

        def refreshed(query: str) -> tuple[Any, ...]:
            st.refresh()
            corpus = st.corpus
            rows, keys = doc_rows(corpus, query or "", settings.as_of_date)
            return (
                pd.DataFrame(rows, columns=DOC_HEADERS),
                keys,
                gr.Dropdown(choices=doc_choices(corpus), value=None),
            )

        def manage_preview(path: str | None, request: gr.Request) -> tuple[Any, ...]:
            from rag.index.lifecycle import preview_upload
            from rag.interfaces.upload import copied_upload, result_json

            if not path:
                return (
                    "<i>上传文件后在此显示解析结果。</i>",
                    gr.Button(interactive=False),
                    no_error(),
                )
            try:
                clerk_check(request)
                with copied_upload(Path(path), settings.max_upload_bytes) as p:
                    summary, parsed, before = preview_upload(settings, p)
                result = result_json(summary, parsed, before, stored=False)
            except Exception as e:
                return gr.skip(), gr.Button(interactive=False), show_error(e)
            ready = result["status"] != "unchanged"
            return preview_html(result), gr.Button(interactive=ready), no_error()

        # upload and clear are the user's actions; emptying the box after an import is not
        mfile.upload(manage_preview, [mfile], [mpreview, mconfirm, manage_err], **private)
        mfile.clear(manage_preview, [mfile], [mpreview, mconfirm, manage_err], **private)

        def manage_confirm(path: str | None, query: str, request: gr.Request) -> tuple[Any, ...]:
            from rag.index.lifecycle import add_upload
            from rag.interfaces.api import API_LOCK_TIMEOUT
            from rag.interfaces.upload import copied_upload, result_json

            try:
                clerk_check(request)
                if not path:
                    raise InputError("请先上传文件")
                with copied_upload(Path(path), settings.max_upload_bytes) as p:
                    outcome, summary, parsed = add_upload(
                        settings,
                        p,
                        actor="web",
                        embedder=st.embedder_if_loaded(),
                        lock_timeout=API_LOCK_TIMEOUT,
                    )
                lists = refreshed(query)
            except Exception as e:
                return (show_error(e), *([gr.skip()] * 7))
            result = result_json(summary, parsed, outcome.before or outcome.corpus, stored=True)
            bits = [f"新增 {len(summary.added)} 件"] if summary.added else []
            bits += [f"替换 {len(summary.replaced)} 件"] if summary.replaced else []
            msg = f"已导入 {summary.file}：" + ("，".join(bits) or "没有变化")
            if outcome.index is not None:
                msg += f"；索引已更新（新嵌入 {outcome.index.n_embedded} 个条款）"
            elif outcome.index_note:
                msg += f"；{outcome.index_note}"
            return (
                no_error(),
                msg,
                preview_html(result, stored=True),
                gr.Button(interactive=False),
                None,
                *lists,
            )

        mconfirm.click(
            manage_confirm,
            [mfile, dsearch],
            [manage_err, mstatus, mpreview, mconfirm, mfile, dtable, doc_keys, mdoc],
            **private,
        )

        def manage_retire(key: str | None, query: str, request: gr.Request) -> tuple[Any, ...]:
            from rag.index.lifecycle import remove
            from rag.interfaces.api import API_LOCK_TIMEOUT

            try:
                clerk_check(request)
                if not key:
                    raise InputError("请先选择要撤销的文件")
                outcome, d = remove(
                    settings,
                    key,
                    actor="web",
                    embedder=st.embedder_if_loaded(),
                    lock_timeout=API_LOCK_TIMEOUT,
                )
                lists = refreshed(query)
            except Exception as e:
                return (show_error(e), *([gr.skip()] * 5))
            name = d.doc_no or f"《{d.title}》"
            msg = f"已撤销 {name}（{len(d.clauses)} 个条款已移出检索索引）"
            if outcome.index is None and outcome.index_note:
                msg = f"已撤销 {name}；{outcome.index_note}"
            return no_error(), msg, "", *lists

        mretire.click(
            manage_retire,
            [mdoc, dsearch],
            [manage_err, mstatus, mhistory, dtable, doc_keys, mdoc],
            **private,
        )

        def manage_history(key: str | None) -> str:
            from rag.ingest.changes import history_of

            if not key:
                return ""
            try:
                events = history_of(st.corpus, key)
            except Exception as e:
                show_error(e)
                return ""
            return history_html([e.to_json() for e in events])

        mdoc.change(manage_history, [mdoc], [mhistory], **private)

        def on_load() -> tuple[Any, ...]:
            try:
                corpus = st.corpus
            except Exception as e:
                show_error(e)
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            rows, keys = doc_rows(corpus, "", settings.as_of_date)
            if not rows:
                gr.Warning("还没有导入任何文件：请先运行 `rag ingest` 和 `rag index`。")
            doc_nos = sorted({d.doc_no for d in corpus.printed() if d.doc_no})
            issuers = sorted({d.issuer for d in corpus.printed() if d.issuer})
            return (
                pd.DataFrame(rows, columns=DOC_HEADERS),
                keys,
                gr.Dropdown(choices=doc_nos),
                gr.Dropdown(choices=issuers),
                gr.Dropdown(choices=doc_choices(corpus)),
            )

        demo.load(on_load, None, [dtable, doc_keys, f_doc, f_issuer, mdoc], **private)

    demo.queue(default_concurrency_limit=4)
    return demo
