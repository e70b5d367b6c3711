"""Staff keep the knowledge base as YAML files: the shipped one is complete and cites the law, a valid folder
loads with the department's settings filled in, and every problem in a broken one is reported."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import knowledge
from bot.cli import main
from bot.settings import Settings
from knowledge import KnowledgeBase, KnowledgeBaseError, Problem, check_kb, known_placeholders, load_for_settings

SHIPPED = Path(knowledge.__file__).parent / "data"
ROOT = Path(__file__).resolve().parent.parent

PROCEDURE_IDS = {"2.002311", "2.002312", "2.002313", "2.002314"}
INTERNAL_IDS = {
    f"nb-{action}-{level}"
    for action in ("ky-ket", "sua-doi", "cham-dut")
    for level in ("tinh", "so", "huyen", "xa")
}
FAQ_IDS = {
    "faq-duong-day-nong", "faq-gui-pakn", "faq-tra-cuu-pakn", "faq-thoi-han-pakn", "faq-noi-nop-ho-so",
    "faq-tra-cuu-ho-so", "faq-hop-phap-hoa-lanh-su", "faq-gio-lam-viec", "faq-danh-gia-hai-long",
    "faq-chinh-quyen-2-cap",
}

ENTRY = """\
id: faq-thu
kind: faq
title: Câu hỏi thử
summary: Trả lời thử.
sections:
  - title: Căn cứ pháp lý
    body: Nghị định thử.
updated: 2025-07-01
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_in(folder: Path, settings: Settings) -> list[Problem]:
    return check_kb(folder, known_placeholders(settings))


def all_text(kb: KnowledgeBase) -> list[str]:
    out = []
    for e in kb.entries.values():
        out += [e.title, e.summary, e.code, *e.aliases, *e.keywords]
        out += [part for s in e.sections for part in (s.title, s.body)]
        out += [part for link in e.links for part in (link.title, link.url)]
    return out


# --- the shipped knowledge base


def test_shipped_knowledge_base_has_exactly_the_published_ids(kb: KnowledgeBase) -> None:
    assert set(kb.entries) == PROCEDURE_IDS | INTERNAL_IDS | FAQ_IDS
    assert {e.id for e in kb.entries.values() if e.kind == "faq"} == FAQ_IDS


def test_shipped_knowledge_base_checks_clean(settings: Settings) -> None:
    assert problems_in(SHIPPED, settings) == []


def test_every_entry_cites_its_legal_basis(kb: KnowledgeBase) -> None:
    for entry in kb.entries.values():
        basis = [s.body for s in entry.sections if s.title == "Căn cứ pháp lý"]
        assert basis, entry.id
        assert re.search(r"(Nghị định|Quyết định|Luật|Bộ luật) ", basis[0]), entry.id


def test_published_procedures_carry_their_national_code(kb: KnowledgeBase) -> None:
    for entry_id in PROCEDURE_IDS:
        assert kb.entries[entry_id].code == entry_id


def test_hotline_setting_is_filled_into_answers(settings_factory: Callable[..., Settings]) -> None:
    kb = load_for_settings(settings_factory(ORG_HOTLINE="0225 3 123 456"))
    assert "0225 3 123 456" in kb.entries["faq-duong-day-nong"].summary
    assert "0225 3 123 456" in kb.entries["faq-hop-phap-hoa-lanh-su"].sections[0].body


def test_empty_settings_leave_no_dangling_sentence(settings_factory: Callable[..., Settings]) -> None:
    kb = load_for_settings(settings_factory(ORG_HOTLINE="", ORG_ADDRESS="", ORG_WORKING_HOURS="", ORG_EMAIL="",
                                            ORG_PORTAL_URL="", ORG_PROCEDURES_URL="", ORG_SWITCHBOARD=""))
    for text in all_text(kb):
        assert "{{" not in text and "{%" not in text, text
        assert not re.search(r":\s*[.;,]|\(\s*\)|\s[.,;]|:\s*\Z", text), text
    assert "đang được cập nhật" in kb.entries["faq-duong-day-nong"].summary
    assert all(link.url for e in kb.entries.values() for link in e.links)


def test_answer_days_come_from_settings(settings_factory: Callable[..., Settings]) -> None:
    same = load_for_settings(settings_factory(
        PAKN_ANSWER_DAYS="quy_dinh_hanh_chinh=15,hanh_vi_hanh_chinh=15,quy_dinh_kinh_doanh=15"))
    assert "15 ngày làm việc" in same.entries["faq-thoi-han-pakn"].summary
    mixed = load_for_settings(settings_factory(
        PAKN_ANSWER_DAYS="quy_dinh_hanh_chinh=10,hanh_vi_hanh_chinh=7,quy_dinh_kinh_doanh=20"))
    summary = mixed.entries["faq-thoi-han-pakn"].summary
    assert "7 ngày làm việc với PAKN về hành vi hành chính" in summary
    assert "20 ngày làm việc với PAKN về quy định kinh doanh" in summary


# --- problems staff make, each reported with file, entry, field and why


def test_valid_folder_loads(tmp_path: Path, settings: Settings) -> None:
    write(tmp_path, "mot.yaml", ENTRY)
    assert problems_in(tmp_path, settings) == []
    assert list(knowledge.load_kb(tmp_path, {"org": settings.org_context()}).entries) == ["faq-thu"]


def test_duplicate_ids_across_files_are_reported(tmp_path: Path, settings: Settings) -> None:
    write(tmp_path, "a.yaml", ENTRY)
    write(tmp_path, "b.yaml", ENTRY)
    assert problems_in(tmp_path, settings) == [
        Problem("b.yaml", "faq-thu", "id", "id 'faq-thu' bị trùng, đã dùng ở a.yaml")
    ]


def test_missing_fields_and_unknown_keys_are_reported(tmp_path: Path, settings: Settings) -> None:
    write(tmp_path, "a.yaml", """\
        id: faq-thu
        kind: faq
        title: Câu hỏi thử
        tittle: lỗi chính tả
        sections:
          - title: Căn cứ
            body: ""
            note: thừa
        updated: 2025-07-01
        """)
    found = {(p.file, p.entry, p.field, p.why.split(" (")[0]) for p in problems_in(tmp_path, settings)}
    assert found == {
        ("a.yaml", "faq-thu", "tittle", "khóa không hợp lệ"),
        ("a.yaml", "faq-thu", "summary", "còn thiếu"),
        ("a.yaml", "faq-thu", "sections[1].note", "khóa không hợp lệ"),
        ("a.yaml", "faq-thu", "sections[1].body", "còn thiếu"),
    }


def test_bad_yaml_is_reported_with_its_line(tmp_path: Path, settings: Settings) -> None:
    write(tmp_path, "hong.yaml", "id: faq-thu\ntitle: [không đóng ngoặc\nkind: faq\n")
    [problem] = problems_in(tmp_path, settings)
    assert problem.file == "hong.yaml"
    assert problem.why.startswith("YAML sai") and "dòng" in problem.why


def test_a_key_written_twice_is_reported(tmp_path: Path, settings: Settings) -> None:
    write(tmp_path, "a.yaml", ENTRY + "title: Lần hai\n")
    [problem] = problems_in(tmp_path, settings)
    assert "được viết hai lần" in problem.why


def test_placeholder_with_no_setting_is_reported(tmp_path: Path, settings: Settings) -> None:
    write(tmp_path, "a.yaml", ENTRY.replace("Trả lời thử.", "Gọi {{ org.fax }} hoặc {{ hotline }}."))
    found = {(p.field, p.why) for p in problems_in(tmp_path, settings)}
    assert found == {
        ("summary", "chỗ điền {{ org.fax }} không có thiết lập tương ứng"),
        ("summary", "chỗ điền {{ hotline }} không có thiết lập tương ứng"),
    }


@pytest.mark.parametrize(
    ("change", "field", "why"),
    [
        (("id: faq-thu", "id: 2.002311"), "id", "phải là văn bản"),
        (("id: faq-thu", "id: Faq Thu"), "id", "phải dài 1–40 ký tự"),
        (("kind: faq", "kind: hỏi đáp"), "kind", "phải là một trong procedure, faq"),
        (("updated: 2025-07-01", "updated: hôm qua"), "updated", "phải là ngày"),
        (("Trả lời thử.", "Gọi {% if org.hotline %}"), "summary", "lỗi mẫu"),
        (("title: Căn cứ pháp lý", "title: " + "Rất dài " * 10), "sections[1].title", "tối đa 60"),
        (("title: Câu hỏi thử", "title: Câu hỏi thử\ncode: 2.002311"), "code", "phải là văn bản"),
    ],
)
def test_wrong_values_are_reported(
    tmp_path: Path, settings: Settings, change: tuple[str, str], field: str, why: str
) -> None:
    write(tmp_path, "a.yaml", ENTRY.replace(*change))
    found = problems_in(tmp_path, settings)
    assert any(p.field == field and p.why.startswith(why) for p in found), found


def test_empty_or_missing_folder_is_a_problem(tmp_path: Path, settings: Settings) -> None:
    assert "trống" in problems_in(tmp_path, settings)[0].why
    assert "không tìm thấy" in problems_in(tmp_path / "khong-co", settings)[0].why


def test_loading_a_broken_folder_raises_with_every_problem(tmp_path: Path, settings: Settings) -> None:
    write(tmp_path, "a.yaml", ENTRY.replace("kind: faq", "kind: x").replace("id: faq-thu\n", ""))
    with pytest.raises(KnowledgeBaseError) as caught:
        knowledge.load_kb(tmp_path, {"org": settings.org_context()})
    assert {p.field for p in caught.value.problems} == {"id", "kind"}
    assert "cơ sở tri thức không hợp lệ" in str(caught.value)


# --- `python -m bot kb check`


def test_kb_check_prints_ok_for_the_shipped_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Đạt: 26 mục (16 thủ tục, 10 câu hỏi thường gặp)")


def test_kb_check_lists_every_problem_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "a.yaml", ENTRY.replace("kind: faq", "kind: x"))
    write(tmp_path, "b.yaml", "id: [\n")
    assert main(["kb", "check", str(tmp_path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "a.yaml: faq-thu: kind: phải là một trong procedure, faq, nhưng là 'x'"
    assert lines[1].startswith("b.yaml: YAML sai")
    assert lines[2] == f"2 lỗi trong {tmp_path}"


def test_kb_check_help_works(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["kb", "check", "--help"])
    assert caught.value.code == 0
    assert "id trùng" in capsys.readouterr().out


def test_kb_check_exit_status_from_the_shell(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "- id: x\n")
    result: Any = subprocess.run(
        [sys.executable, "-m", "bot", "kb", "check", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert "a.yaml: x: kind: còn thiếu" in result.stdout


# --- section kinds and facets (issue 17)


def test_section_kinds_and_facets_outside_the_vocabulary_are_reported(tmp_path: Path, settings: Settings) -> None:
    write(tmp_path, "a.yaml", """\
        id: tt-thu
        kind: procedure
        title: Thủ tục thử
        summary: Tóm tắt.
        facets: {family: hoi_thao, authority: bo_truong, mau: xanh}
        sections:
          - title: Hồ sơ
            kind: giay_to
            body: Một.
          - title: Thời hạn
            kind: thoi_han
            body: Hai.
          - title: Thời gian
            kind: thoi_han
            body: Ba.
        updated: 2025-07-01
        """)
    found = {(p.field, p.why.split(" (")[0]) for p in problems_in(tmp_path, settings)}
    assert found == {
        ("sections[1].kind", "phải là một trong trinh_tu, ho_so, thoi_han, noi_nop, le_phi, can_cu, tham_quyen, "
                             "ket_qua, doi_tuong, nhưng là 'giay_to'"),
        ("sections[3].kind", "'thoi_han' đã là loại của một phần khác"),
        ("facets", "giá trị 'bo_truong' của khía cạnh 'authority' không có trong danh sách"),
        ("facets", "khía cạnh 'mau' không có trong danh sách"),
    }


def test_every_shipped_procedure_section_about_a_part_has_its_kind(kb: KnowledgeBase) -> None:
    for entry in kb.entries.values():
        if entry.kind != "procedure":
            continue
        assert entry.facets, entry.id
        kinds = {s.title: s.kind for s in entry.sections}
        for title, kind in [("Trình tự thực hiện", "trinh_tu"), ("Thành phần hồ sơ", "ho_so"), ("Thời hạn", "thoi_han"),
                            ("Căn cứ pháp lý", "can_cu")]:
            assert kinds.get(title) == kind, (entry.id, title)
