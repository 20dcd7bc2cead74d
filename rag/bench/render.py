"""Render shipped corpus documents as PDF, Word, HTML and OFD files.

The format tests and the format benchmark need real files of each type holding a known
document. They are made here from the shipped texts: a document's paragraphs (title,
文号, body, signature, attached texts) are typeset on A4 pages with a CJK font, with a
running header and page numbers (and in two columns for the gazette-like PDF), saved as
a Word file with header and footer, wrapped in a government site's page chrome (HTML),
or written as OFD page XML. A scanned PDF is a page image with no text layer.

Needs the dev tools: fpdf2 (PDF), python-docx (Word), Pillow, and a CJK font: Debian's
fonts-noto-cjk (``make test`` installs it), or any font given by ``RAG_CJK_FONT``.
"""

from __future__ import annotations

import functools
import html
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.ingest.gazette import _squash, is_date_line
from rag.ingest.labels import parse_marker
from rag.ingest.outline import is_org_line, join_lines
from rag.models import Document

# TrueType outlines first: fpdf2 subsets them in a fraction of the time CFF outlines
# (Noto CJK) take.
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
PT_MM = 25.4 / 72
PAGE_W, PAGE_H = 210.0, 297.0
RUNNING_HEAD = "嘉兴市人民政府公报"


@dataclass(frozen=True)
class Para:
    """One paragraph to typeset; ``role`` is title, center, right or body."""

    text: str
    role: str = "body"


@dataclass(frozen=True)
class Placed:
    """One typeset line: page, left x and baseline y in mm, font size in pt."""

    page: int
    x: float
    y: float
    text: str
    size: float


def cjk_font() -> Path | None:
    """A CJK font file, or None when none is installed."""
    env = os.environ.get("RAG_CJK_FONT")
    for cand in ([env] if env else []) + list(FONT_CANDIDATES):
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


def subset_font(font: Path, texts: list[str], out: Path) -> Path:
    """A copy of ``font`` with only the characters of ``texts`` (plus ASCII), so that each
    file written with it loads and embeds a small font instead of a 20 MB collection."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    chars = {ord(c) for t in texts for c in t} | set(range(0x20, 0x7F)) | {0x3000}
    opts = subset.Options()
    opts.font_number = 0
    opts.drop_tables += ["BDF", "EBDT", "EBLC", "EBSC"]
    opts.notdef_outline = True
    f = TTFont(str(font), fontNumber=0, lazy=True)
    sub = subset.Subsetter(opts)
    sub.populate(unicodes=chars)
    sub.subset(f)
    f.save(str(out))
    return out


def doc_paragraphs(doc: Document) -> list[Para]:
    """A stored document as paragraphs with their roles, in reading order.

    The body is re-joined where the source broke lines; attached texts' titles, chapter
    headings and the signature keep their own lines.
    """
    lines = doc.text.split("\n")
    start = next((k for k, s in enumerate(lines) if doc.doc_no and doc.doc_no in _squash(s)), -1)
    paras = [Para(doc.title, "title")]
    if doc.doc_no:
        paras.append(Para(doc.doc_no, "center"))
    seg: list[str] = []

    def flush() -> None:
        if seg:
            for p in join_lines(seg).split("\n"):
                paras.append(Para(p, _role(p)))
            seg.clear()

    for s in lines[start + 1 :] if start >= 0 else lines[1:]:
        if _squash(s) in doc.attachments:
            flush()
            paras.append(Para(_squash(s), "title"))
        else:
            seg.append(s)
    flush()
    return paras


def _role(text: str) -> str:
    if is_date_line(text) or (is_org_line(text) and len(text) <= 20):
        return "right"
    m = parse_marker(text)
    if m is not None and m.kind == "chapter" and len(text) <= 20:
        return "center"
    return "body"


# ---------------------------------------------------------------------------------------------
# Typesetting


class _Metrics:
    """Character widths (mm) of the CJK font at a size, through fpdf2."""

    def __init__(self, font: Path) -> None:
        from fpdf import FPDF

        self.pdf = FPDF(unit="mm", format="A4")
        self.pdf.add_font("cjk", fname=str(font))
        self.cache: dict[tuple[str, float], float] = {}

    def width(self, text: str, size: float) -> float:
        total = 0.0
        for ch in text:
            key = (ch, size)
            if key not in self.cache:
                self.pdf.set_font("cjk", size=size)
                self.cache[key] = self.pdf.get_string_width(ch)
            total += self.cache[key]
        return total


@functools.lru_cache(maxsize=4)
def _metrics(font: Path) -> _Metrics:
    return _Metrics(font)


def _wrap(text: str, width: float, first_indent: float, m: _Metrics, size: float) -> list[str]:
    lines: list[str] = []
    cur = ""
    avail = width - first_indent
    for ch in text:
        if cur and m.width(cur + ch, size) > avail:
            lines.append(cur)
            cur = ""
            avail = width
        cur += ch
    if cur:
        lines.append(cur)
    return lines


def typeset(
    paras: list[Para], m: _Metrics, columns: int = 1, size: float = 12.0
) -> tuple[list[Placed], int]:
    """Lay paragraphs out on A4 pages; returns the lines and the number of pages."""
    left, right, top, bottom = 25.0, 25.0, 30.0, 262.0
    gutter = 10.0
    col_w = (PAGE_W - left - right - gutter * (columns - 1)) / columns
    em = size * PT_MM
    lead = em * 1.75
    out: list[Placed] = []
    page, col, y = 0, 0, top

    def advance(height: float) -> None:
        nonlocal page, col, y
        if y + height > bottom:
            col += 1
            if col >= columns:
                col, page = 0, page + 1
            y = top

    for p in paras:
        fs = size * 1.3 if p.role == "title" else size
        fem = fs * PT_MM
        x0 = left + col * (col_w + gutter)
        if p.role == "title":
            wrapped = _wrap(p.text, min(col_w, 22 * fem), 0, m, fs)
            y += em * 0.5
        elif p.role == "body":
            wrapped = _wrap(p.text, col_w, 2 * fem, m, fs)
        else:
            wrapped = _wrap(p.text, col_w, 0, m, fs)
        for k, line in enumerate(wrapped):
            advance(lead)
            x0 = left + col * (col_w + gutter)
            w = m.width(line, fs)
            if p.role in ("title", "center"):
                x = x0 + (col_w - w) / 2
            elif p.role == "right":
                x = x0 + col_w - w - 2 * fem
            else:
                x = x0 + (2 * fem if k == 0 else 0)
            y += lead
            out.append(Placed(page, x, y, line, fs))
        if p.role == "title":
            y += em * 0.5
    return out, page + 1


def _margins(pages: int, size: float) -> list[Placed]:
    """A running header and a page number on every page."""
    out = []
    for n in range(pages):
        out.append(Placed(n, 80.0, 18.0, f"{RUNNING_HEAD}　2014年第12期", size * 0.7))
        out.append(Placed(n, 100.0, 285.0, f"- {n + 1} -", size * 0.7))
    return out


# ---------------------------------------------------------------------------------------------
# Writers


def write_pdf(paras: list[Para], path: Path, font: Path, columns: int = 1) -> Path:
    """A PDF with a text layer: paragraphs typeset, running header and page numbers."""
    from fpdf import FPDF

    m = _metrics(font)
    placed, pages = typeset(paras, m, columns=columns, size=10.5 if columns > 1 else 12.0)
    pdf = FPDF(unit="mm", format="A4")
    pdf.add_font("cjk", fname=str(font))
    pdf.set_auto_page_break(False)
    everything = sorted([*placed, *_margins(pages, 10.5)], key=lambda pl: pl.page)
    for n in range(pages):
        pdf.add_page()
        for pl in everything:
            if pl.page == n:
                pdf.set_font("cjk", size=pl.size)
                pdf.text(pl.x, pl.y, pl.text)
    pdf.output(str(path))
    return path


def write_scanned_pdf(
    paras: list[Para], path: Path, font: Path, dpi: int = 150, size: float = 12.0
) -> Path:
    """A PDF of page images only (no text layer), as a scanner makes it."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw, ImageFont

    m = _metrics(font)
    placed, pages = typeset(paras, m, size=size)
    px = dpi / 25.4
    images = [Image.new("L", (round(PAGE_W * px), round(PAGE_H * px)), 255) for _ in range(pages)]
    fonts: dict[float, Any] = {}
    for pl in [*placed, *_margins(pages, size)]:
        if pl.size not in fonts:
            fonts[pl.size] = ImageFont.truetype(str(font), round(pl.size * PT_MM * px), index=0)
        draw = ImageDraw.Draw(images[pl.page])
        draw.text((pl.x * px, pl.y * px), pl.text, font=fonts[pl.size], fill=0, anchor="ls")
    pdf = FPDF(unit="mm", format="A4")
    for img in images:
        pdf.add_page()
        pdf.image(img, x=0, y=0, w=PAGE_W, h=PAGE_H)
    pdf.output(str(path))
    return path


def write_encrypted_pdf(paras: list[Para], path: Path, font: Path) -> Path:
    """A PDF that opens only with a password."""
    from fpdf import FPDF

    pdf = FPDF(unit="mm", format="A4")
    pdf.add_font("cjk", fname=str(font))
    pdf.set_encryption(owner_password="owner-secret", user_password="user-secret")
    pdf.add_page()
    pdf.set_font("cjk", size=12)
    for k, p in enumerate(paras[:5]):
        pdf.text(25, 30 + 8 * k, p.text[:30])
    pdf.output(str(path))
    return path


_ARTICLE_LIST = (
    '<w:abstractNum xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
    'w:abstractNumId="90"><w:multiLevelType w:val="singleLevel"/><w:lvl w:ilvl="0">'
    '<w:start w:val="1"/><w:numFmt w:val="chineseCounting"/><w:lvlText w:val="第%1条"/>'
    '<w:suff w:val="space"/></w:lvl></w:abstractNum>'
)
_ARTICLE_NUM = (
    '<w:num xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
    'w:numId="90"><w:abstractNumId w:val="90"/></w:num>'
)


def write_docx(paras: list[Para], path: Path, auto_numbers: bool = False) -> Path:
    """A Word file: paragraphs with alignment and indent, running header, page numbers.

    With ``auto_numbers`` the 第X条 of the articles are not typed but generated by a Word
    list (``第%1条`` in Chinese counting), as many Word files number their articles.
    """
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Pt

    d = docx.Document()
    section = d.sections[0]
    section.header.paragraphs[0].text = RUNNING_HEAD
    footer = section.footer.paragraphs[0]
    run = footer.add_run()
    for kind, text in (("begin", None), (None, "PAGE"), ("end", None)):
        if kind:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
        else:
            el = OxmlElement("w:instrText")
            el.text = text
        run._r.append(el)
    align = {
        "title": WD_ALIGN_PARAGRAPH.CENTER,
        "center": WD_ALIGN_PARAGRAPH.CENTER,
        "right": WD_ALIGN_PARAGRAPH.RIGHT,
    }
    if auto_numbers:
        from docx.oxml import parse_xml

        numbering = d.part.numbering_part.element
        numbering.insert(0, parse_xml(_ARTICLE_LIST))
        numbering.append(parse_xml(_ARTICLE_NUM))
    for p in paras:
        para = d.add_paragraph()
        text = p.text
        m = parse_marker(text) if auto_numbers and p.role == "body" else None
        if m is not None and m.kind == "article":
            text = m.rest.strip()
            ppr = para._p.get_or_add_pPr()
            numpr = OxmlElement("w:numPr")
            for tag, val in (("w:ilvl", "0"), ("w:numId", "90")):
                el = OxmlElement(tag)
                el.set(qn("w:val"), val)
                numpr.append(el)
            ppr.append(numpr)
        r = para.add_run(text)
        if p.role == "title":
            r.bold = True
            r.font.size = Pt(16)
        para.alignment = align.get(p.role, WD_ALIGN_PARAGRAPH.JUSTIFY)
        if p.role == "body":
            para.paragraph_format.first_line_indent = Pt(24)
    d.save(str(path))
    return path


_CHROME_TOP = """<div class="top"><div class="logo"><img src="logo.png" alt="{site}"></div>
<ul class="nav"><li><a href="/">首页</a></li><li><a href="/zwgk/">政务公开</a></li>
<li><a href="/bsfw/">政务服务</a></li><li><a href="/hdjl/">互动交流</a></li>
<li><a href="/zjjx/">走进嘉兴</a></li></ul>
<form class="search"><input name="q" placeholder="请输入关键字"><button>搜索</button></form></div>
<div class="crumb">当前位置：<a href="/">首页</a> &gt; <a href="/zwgk/">政务公开</a> &gt;
<a href="/zwgk/zcwj/">政策文件</a> &gt; 正文</div>"""
_CHROME_BOTTOM = """<div class="share">分享到：<a href="#">微信</a> <a href="#">微博</a>
<a href="#">QQ空间</a></div>
<div class="tools"><a href="javascript:window.print()">【打印本页】</a>
<a href="javascript:window.close()">【关闭窗口】</a></div></div>
<div class="related"><h3>相关文件</h3><ul>
<li><a href="/a.html">嘉兴市人民政府关于进一步做好城乡居民基本医疗保险工作的通知</a></li>
<li><a href="/b.html">嘉兴市人民政府办公室关于调整市本级医疗保险有关政策的通知</a></li>
<li><a href="/c.html">关于做好2015年度职工基本医疗保险缴费工作的通知</a></li></ul></div>
<div class="footer"><p><a href="/about">关于我们</a> | <a href="/map">网站地图</a> |
<a href="/contact">联系我们</a></p>
<p>主办：{site}办公室　承办：嘉兴市大数据发展管理局</p>
<p>浙ICP备05001234号　浙公网安备33040202000123号　网站标识码：3304000001</p></div>"""


def write_html(paras: list[Para], path: Path, encoding: str = "utf-8") -> Path:
    """A page as saved from a government site: the text inside navigation, breadcrumbs,
    an info line, share links, related links and a footer."""
    site = "嘉兴市人民政府"
    style = {"title": "", "center": "text-align:center", "right": "text-align:right"}
    body = []
    for p in paras[1:]:
        css = style.get(p.role, "text-indent:2em")
        body.append(f'<p style="{css}">{html.escape(p.text)}</p>')
    page = (
        f'<!DOCTYPE html><html><head><meta charset="{encoding}">'
        f"<title>{html.escape(paras[0].text)}_{site}</title></head><body>"
        + _CHROME_TOP.format(site=site)
        + f'<div class="article"><h1 class="title">{html.escape(paras[0].text)}</h1>'
        + '<div class="info">发布时间：2015-01-05 10:30　来源：市政府办公室　浏览次数：1024'
        + "　【字体：大 中 小】</div>"
        + '<div class="TRS_Editor" id="zoom">'
        + "\n".join(body)
        + "</div>"
        + _CHROME_BOTTOM.format(site=site)
        + "</body></html>"
    )
    path.write_bytes(page.encode(encoding))
    return path


_OFD_NS = "http://www.ofdspec.org/2016"


def write_ofd(paras: list[Para], path: Path, font: Path) -> Path:
    """An OFD file (GB/T 33190): one TextObject per typeset line, glyph advances in DeltaX,
    and a page template holding the running header (templates are page furniture)."""
    m = _metrics(font)
    placed, pages = typeset(paras, m)

    def text_object(i: int, pl: Placed) -> str:
        mm = pl.size * PT_MM
        deltas = " ".join(f"{m.width(ch, pl.size):.3f}" for ch in pl.text[:-1])
        w = m.width(pl.text, pl.size)
        return (
            f'<ofd:TextObject ID="{i}" Boundary="{pl.x:.3f} {pl.y - mm:.3f} {w:.3f} {mm * 1.2:.3f}"'
            f' Font="1" Size="{mm:.3f}"><ofd:TextCode X="0" Y="{mm:.3f}" DeltaX="{deltas}">'
            f"{html.escape(pl.text)}</ofd:TextCode></ofd:TextObject>"
        )

    files: dict[str, str] = {
        "OFD.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="{_OFD_NS}" '
            'Version="1.0" DocType="OFD"><ofd:DocBody><ofd:DocInfo><ofd:DocID>1</ofd:DocID>'
            "</ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>"
        )
    }
    page_refs = "".join(
        f'<ofd:Page ID="{100 + n}" BaseLoc="Pages/Page_{n}/Content.xml"/>' for n in range(pages)
    )
    files["Doc_0/Document.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:Document xmlns:ofd="{_OFD_NS}">'
        "<ofd:CommonData><ofd:MaxUnitID>9999</ofd:MaxUnitID><ofd:PageArea>"
        f"<ofd:PhysicalBox>0 0 {PAGE_W} {PAGE_H}</ofd:PhysicalBox></ofd:PageArea>"
        '<ofd:PublicRes>PublicRes.xml</ofd:PublicRes><ofd:TemplatePage ID="2" '
        'BaseLoc="Tpls/Tpl_0/Content.xml"/></ofd:CommonData>'
        f"<ofd:Pages>{page_refs}</ofd:Pages></ofd:Document>"
    )
    files["Doc_0/PublicRes.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:Res xmlns:ofd="{_OFD_NS}" BaseLoc="Res">'
        '<ofd:Fonts><ofd:Font ID="1" FontName="Noto Serif CJK SC"/></ofd:Fonts></ofd:Res>'
    )
    head = Placed(0, 80.0, 18.0, RUNNING_HEAD, 9.0)
    files["Doc_0/Tpls/Tpl_0/Content.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:Page xmlns:ofd="{_OFD_NS}"><ofd:Content>'
        f'<ofd:Layer ID="3">{text_object(4, head)}</ofd:Layer></ofd:Content></ofd:Page>'
    )
    ident = 1000
    for n in range(pages):
        objs = []
        for pl in [p for p in placed if p.page == n] + [
            Placed(n, 100.0, 285.0, f"- {n + 1} -", 9.0)
        ]:
            ident += 1
            objs.append(text_object(ident, pl))
        files[f"Doc_0/Pages/Page_{n}/Content.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8"?><ofd:Page xmlns:ofd="{_OFD_NS}">'
            '<ofd:Template TemplateID="2"/><ofd:Content><ofd:Layer ID="5">'
            + "".join(objs)
            + "</ofd:Layer></ofd:Content></ofd:Page>"
        )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            z.writestr(name, text)
    return path


WRITERS: dict[str, Callable[..., Path]] = {
    "pdf": write_pdf,
    "docx": write_docx,
    "html": write_html,
    "ofd": write_ofd,
}


def safe_name(doc_no: str) -> str:
    """A file-name stem for a document number."""
    return re.sub(r"[^0-9A-Za-z\u4e00-\u9fff]+", "_", doc_no).strip("_")
