"""The web app's rendering of one answer (the browser test covers the page itself)."""

from __future__ import annotations

from rag.interfaces.web import chat_answer, clerk_answer_md

REC = {
    "question": "在嘉兴看门诊，医保能报多少？",
    "answer": (
        "问题没有说明是哪一类，分别是：\n城乡居民医保：报销比例为50%[1]\n职工医保：<起付标准>500元[2]"
    ),
    "refused": False,
    "mode": "extractive",
    "citations": [],
    "notes": [
        "分情况作答：城乡居民医保、职工医保",
        "understood as: 门诊报销",
        "llm: figure 3人 not in cited clauses; extractive answer",
    ],
}


def test_case_lines_stay_lines_and_text_is_escaped() -> None:
    for html_out in (chat_answer(REC), clerk_answer_md(REC)):
        assert "分别是：<br>城乡居民医保：报销比例为50%[1]<br>职工医保：" in html_out
        assert "&lt;起付标准&gt;" in html_out and "<起付标准>" not in html_out


def test_citizens_see_the_chinese_notes_and_clerks_all() -> None:
    citizen, clerk = chat_answer(REC), clerk_answer_md(REC)
    assert "分情况作答：城乡居民医保、职工医保" in citizen
    assert "figure 3人" not in citizen
    assert "分情况作答" in clerk and "figure 3人 not in cited clauses" in clerk
    # "understood as" is shown as the rewritten question, not as a raw note
    assert "understood as" not in citizen and "门诊报销" in citizen


def test_citations_show_date_status_and_warning() -> None:
    cite = {
        "doc_no": "嘉政发〔2014〕87号",
        "clause": "第二十六条",
        "title": "嘉兴市人民政府关于印发嘉兴市职工基本医疗保险暂行办法的通知",
        "text": "第二十六条 …暂定为20万元。",
        "score": 0.5,
        "date": "2014-12-24",
        "status": "已被废止",
        "warning": "该文件已于2017年1月1日被嘉政发〔2016〕120号废止，请以现行文件为准",
        "label": "嘉政发〔2014〕87号 第二十六条",
        "context": "",
        "source": "",
    }
    rec = {**REC, "citations": [cite], "notes": []}
    for html_out in (chat_answer(rec), clerk_answer_md(rec)):
        assert "2014-12-24 · 已被废止" in html_out
        assert "⚠ 该文件已于2017年1月1日被嘉政发〔2016〕120号废止" in html_out
