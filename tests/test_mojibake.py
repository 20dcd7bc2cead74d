"""Detection and repair of the shifted-GB2312 punctuation mojibake, on the real gazettes."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from rapidfuzz.distance import Levenshtein

from rag.ingest.mojibake import (
    FORWARD,
    BigramModel,
    blind_inverse,
    canonical_repair_target,
    clean_file_text,
    corrupt,
    is_mojibake,
    mojibake_ratio,
    normalize_punct,
    repair,
    training_texts,
)

CORPUS = Path(__file__).resolve().parent.parent / "data" / "corpus"
CLEAN = "000_d3b6ddc9e5e8e6fc.txt"
MOJIBAKE = "003_0e8310ee3ea63b6f.txt"
EXTERNAL = sorted((CORPUS / "external").iterdir())

# Measured by bench/repair_residual.py: 5 edits held out (000 not in the statistics; 9
# before the cues against 院 read as a colon), 0 in sample, 270 for the blind table, over
# 60440 scored characters. Issue 14 asks for at most 10.
HELD_OUT_MAX = 6
IN_SAMPLE_MAX = 10


def _read(name: str) -> str:
    return (CORPUS / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def source_003() -> str:
    return _read(MOJIBAKE)


@pytest.fixture(scope="module")
def repaired_003(source_003: str) -> str:
    return repair(source_003)


def _scored(text: str) -> str:
    # CJK, punctuation and digits: what the residual counts.
    return "".join(
        ch
        for ch in text
        if ch.isdigit() or unicodedata.category(ch)[0] in "PS" or unicodedata.category(ch) == "Lo"
    )


# --- the table ---------------------------------------------------------------------------


def test_forward_table_follows_the_shifted_encoding() -> None:
    assert FORWARD["，"] == "袁"
    assert FORWARD["。"] == "遥"
    assert FORWARD["、"] == "尧"
    assert FORWARD["（"] + FORWARD["）"] == "渊冤"
    assert FORWARD["〔"] + FORWARD["〕"] == "也页"
    assert FORWARD["％"] == "豫"
    assert FORWARD["．"] == "援"
    assert "".join(FORWARD[d] for d in "０１２３４５６７８９") == "园员圆猿源缘远苑愿怨"
    for src, img in FORWARD.items():
        raw, shifted = src.encode("gbk"), img.encode("gbk")
        assert shifted == bytes([raw[0] + 0x31, raw[1]])
    assert len(set(FORWARD.values())) == len(FORWARD)
    # Full-width letters are left out: their images (增, 则, 在) are common words.
    assert "Ｚ" not in FORWARD and "ｖ" not in FORWARD


def test_corrupt_and_why_a_blind_table_is_not_enough() -> None:
    text = "（一）嘉政发〔2014〕87号，医院、人员。"
    bad = corrupt(text)
    assert bad == "渊一冤嘉政发也2014页87号袁医院尧人员遥"
    assert len(bad) == len(text)
    # The inverse table breaks the real words; repair keeps them.
    assert blind_inverse(bad) == "（一）嘉政发〔2014〕87号，医：、人1。"
    assert repair(bad) == text


# --- detection -----------------------------------------------------------------------------


def test_detection_on_the_real_files() -> None:
    assert is_mojibake(_read(MOJIBAKE))
    assert mojibake_ratio(_read(MOJIBAKE)) > 0.9
    assert not is_mojibake(_read(CLEAN))
    assert mojibake_ratio(_read(CLEAN)) == 0.0
    for path in EXTERNAL:
        text = path.read_text(encoding="utf-8")
        assert not is_mojibake(text), path.name
        assert mojibake_ratio(text) < 0.05, path.name


def test_detection_on_short_pieces(source_003: str) -> None:
    windows = [source_003[i : i + 100] for i in range(0, len(source_003) - 100, 997)]
    assert sum(map(is_mojibake, windows)) >= 0.95 * len(windows)
    for text in [_read(CLEAN)] + [p.read_text(encoding="utf-8") for p in EXTERNAL]:
        for size in (30, 100, 300):
            assert not any(is_mojibake(text[i : i + size]) for i in range(0, len(text), 53))
    assert is_mojibake("一元复始袁 万象更新遥")
    assert not is_mojibake("袁隆平")
    assert not is_mojibake("遥感卫星和遥控飞机")
    assert not is_mojibake("袁某某、袁某")


def test_clean_file_text_leaves_clean_files_alone() -> None:
    for text in [_read(CLEAN)] + [p.read_text(encoding="utf-8") for p in EXTERNAL]:
        assert clean_file_text(text) == text


def test_clean_file_text_repairs_the_mojibake_file(source_003: str, repaired_003: str) -> None:
    assert clean_file_text(source_003) == repaired_003


# --- repair of the real file --------------------------------------------------------------


def test_repair_preserves_length_and_lines(source_003: str, repaired_003: str) -> None:
    assert len(repaired_003) == len(source_003)
    assert [len(line) for line in repaired_003.split("\n")] == [
        len(line) for line in source_003.split("\n")
    ]
    assert all(ch not in "袁遥尧" for ch in repaired_003)


def _at(source: str, repaired: str, pattern: str) -> list[str]:
    """The repaired text at every place where ``pattern`` occurs in the source."""
    return [repaired[m.start() : m.end()] for m in re.finditer(pattern, source)]


def test_document_numbers_and_items(source_003: str, repaired_003: str) -> None:
    assert "嘉政发也2014页87号" in source_003
    assert "嘉政发〔2014〕87号" in repaired_003
    assert set(_at(source_003, repaired_003, "渊一冤")) == {"（一）"}
    assert "渊" not in repaired_003 and "冤" not in repaired_003
    # Every document number 也YYYY页 becomes 〔YYYY〕.
    assert all(re.fullmatch(r"〔\d{4}〕", s) for s in _at(source_003, repaired_003, r"也\d{4}页"))


def test_real_words_survive(source_003: str, repaired_003: str) -> None:
    for word in ("医院", "国务院", "住院", "人员", "委员", "资源", "能源", "幼儿园", "自愿"):
        assert repaired_003.count(word) == source_003.count(word) > 0, word
    for word in ("援助", "姜豫明", "星耀南湖", "裘东耀", "也是", "树叶"):
        assert word in repaired_003, word


def test_digits_dots_and_marks(source_003: str, repaired_003: str) -> None:
    assert set(_at(source_003, repaired_003, "圆园15年")) == {"2015年"}
    assert set(_at(source_003, repaired_003, "在 猿个")) == {"在 3个"}
    # 4援 = "4." and every 援 right after a digit is the item dot.
    assert set(_at(source_003, repaired_003, r"(?m)^4援")) == {"4."}
    assert all(s[-1] == "." for s in _at(source_003, repaired_003, r"\d援"))
    assert "在 98％以上" in repaired_003
    assert "2013～2020" in repaired_003
    assert "光辉历程———" in repaired_003
    assert "▲14日：副市长" in repaired_003
    assert "①尽量乘坐公共交通工具出行" in repaired_003


def test_punctuation_next_to_names(repaired_003: str) -> None:
    # 组长院梁群: the file's own 组长： outweighs 嘉兴学院梁林校区 in the statistics.
    assert "组长院梁" not in repaired_003
    assert "组长：梁群" in repaired_003
    # 梅尧臣 is in jieba's dictionary; 赵树梅尧柴永强 is still two names.
    assert "赵树梅、柴永强" in repaired_003


def test_institutions_ending_in_yuan_are_not_colons(repaired_003: str) -> None:
    # 嘉政发〔2014〕86号: 院 (the colon's image) ends 敬老院, 护理院 and 出入院 here.
    flat = re.sub(r"\s", "", repaired_003)
    assert "镇（街道）敬老院转型为护理型养老机构" in flat
    assert "转型为养老护理院，引导镇（街道）卫" in flat
    assert "完善老年护理院出入院标准" in flat
    # and the colons of the same file stay colons
    assert flat.count("组长：") > 50 and "提出如下意见：" in flat


def test_colon_cues_in_short_texts() -> None:
    for text in (
        "推进嘉兴市妇幼保健院（市妇女儿童医院）建设。",  # a parenthetical, not "：（一）"
        "完善老年护理院出入院标准，在医保配套政策上予以支持。",  # two colons in one clause
        "鼓励部分二级医院转型为老年护理院，引导卫生院发展。",  # no "：，"
    ):
        assert repair(corrupt(text)) == text, text
    assert repair(corrupt("具体要求如下：（一）加强领导。")) == "具体要求如下：（一）加强领导。"


def test_roman_numeral_levels(repaired_003: str) -> None:
    # 嘉政办发〔2014〕99号 grades its emergency responses Ⅳ…Ⅰ; 芋 is the image of Ⅲ.
    flat = re.sub(r"\s", "", repaired_003)
    for n, color in zip("ⅠⅡⅢⅣ", ("红色", "橙色", "黄色", "蓝色"), strict=True):
        assert f"发布{color}预警，启动{n}级应急响应" in flat
        assert f"{n}级响应" in flat
    assert "芋级" not in flat and "郁级" not in flat
    assert "区域" in flat and "待遇" in flat  # the same images as words
    assert repair("加强区域级应急联动，提高待遇水平遥") == "加强区域级应急联动，提高待遇水平。"


def test_heading_brackets_of_the_other_shift(repaired_003: str) -> None:
    assert "【市政府人事任免】（2014年 8月、12月份）" in repaired_003
    assert "穴" not in repaired_003 and "雪" not in repaired_003
    text = "他在雪地里找到一个洞穴袁雪很大遥"
    assert repair(text) == "他在雪地里找到一个洞穴，雪很大。"


def test_bracketed_notes(source_003: str, repaired_003: str) -> None:
    # 嘉政办发〔2014〕98号: "材料也此条款…办法页遥", where 也 (材料也) and 页 (办法页) could be
    # words on their own, is a note in 〔〕 (the image of 〔 is 也, of 〕 页).
    assert source_003.count("结合各自实际制订") == 2
    flat = re.sub(r"\s", "", repaired_003)
    note = "相关材料〔此条款由各县(市、区)结合各自实际制订具体条件和操作办法〕。"
    assert flat.count(note) == 2
    # Every 页 of this file is a bracket image (document numbers and the two notes) ...
    assert "页" not in repaired_003
    # ... and every remaining 也 is the word, next to the notes and elsewhere.
    for phrase in (
        "也是完成",
        "也可与周边医院",
        "也不得用于平衡财政",
        "也可由原土地使用权人",
        "子项目也适用本办法",
        "也可以按约定",
        "部门也应积极配合",
        "部门也应加强巡查",
    ):
        assert phrase in flat, phrase
    assert repaired_003.count("也") == 8


def test_bracketed_notes_and_real_words_in_short_texts() -> None:
    assert (
        repair("其他相关材料也此条款由各县渊市尧区冤结合实际制订办法页遥")
        == "其他相关材料〔此条款由各县（市、区）结合实际制订办法〕。"
    )
    # The 2017 gazette's notes after a sentence, ending a paragraph.
    assert repair("建设遥也牵头单位院市建委袁责任单位院各县渊市尧区冤人民政府页\n\n渊二冤") == (
        "建设。〔牵头单位：市建委，责任单位：各县（市、区）人民政府〕\n\n（二）"
    )
    # 也 the word and 页 the page: a page number, a word (首页, 网页), a clear 也可以.
    for text in (
        "申请人也可以查阅办事指南第5页，了解具体流程。",
        "申请人也可以查阅办事指南第五页的内容。",
        "部门也应积极配合。 详见第3页。",
        "各单位也应落实责任，具体见附件第2页。",
        "企业也要做好首页设计和网页维护，确保信息准确。",
        "我们也将在网站首页公布结果。",
        "市民也能在政府网站首页，查阅有关信息。",
        "各县（市、区）也要抓好落实，并将结果报送网页。",
        "也可以打印页。",
    ):
        assert repair(corrupt(text)) == text, text


def test_repair_of_short_texts() -> None:
    assert repair("一元复始袁 万象更新遥") == "一元复始， 万象更新。"
    assert repair("国务院关于印发计量发展规划的通知") == "国务院关于印发计量发展规划的通知"
    assert repair("各县渊市尧区冤人民政府院") == "各县（市、区）人民政府："
    assert repair("") == ""


# --- synthetic residual --------------------------------------------------------------------


def test_synthetic_residual_on_the_clean_gazette() -> None:
    source = normalize_punct(_read(CLEAN))
    assert len(source) == len(_read(CLEAN))
    reference = canonical_repair_target(source)
    corrupted = corrupt(source)
    held_out = BigramModel(text for _name, text in training_texts(exclude={CLEAN}))
    residual = Levenshtein.distance(_scored(repair(corrupted, held_out)), _scored(reference))
    in_sample = Levenshtein.distance(_scored(repair(corrupted)), _scored(reference))
    blind = Levenshtein.distance(_scored(blind_inverse(corrupted)), _scored(reference))
    assert residual <= HELD_OUT_MAX
    assert in_sample <= IN_SAMPLE_MAX
    assert residual * 4 < blind
    assert residual < 0.001 * len(_scored(reference))


def test_training_texts_exclude_mojibake_and_held_out_files() -> None:
    names = [name for name, _text in training_texts()]
    assert CLEAN in names and MOJIBAKE not in names
    assert CLEAN not in [name for name, _text in training_texts(exclude={CLEAN})]


def test_repair_is_deterministic(source_003: str, repaired_003: str) -> None:
    fresh = BigramModel(text for _name, text in training_texts())
    assert repair(source_003, fresh) == repaired_003
    assert repair(source_003) == repaired_003
