"""Citizens ask about procedures in the chat; staff see what the bot could not answer and reload the
knowledge base without a restart."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import knowledge
from bot.cli import main
from bot.settings import Settings
from handlers import menu, qa
from handlers.core import TEXT_NOT_STAFF, Core, Router
from handlers.types import Reply
from knowledge import KnowledgeBase, Section, load_for_settings
from storage.db import Database
from tests.conftest import Clock, Person
from tests.telegram_html import assert_valid_reply, visible_text

SHIPPED = Path(knowledge.__file__).parent / "data"
ROOT = Path(__file__).resolve().parent.parent
STAFF = "900"  # ADMIN_IDS of the test settings


def q_and_a_core(settings: Settings, db: Database, clock: Clock, kb: Any) -> Core:
    """The menu and the Q&A alone, so these stories do not depend on the other features."""
    router = Router()
    menu.register(router)
    qa.register(router)
    return Core(settings, db, router, kb=kb, clock=clock)


@pytest.fixture
def core(settings: Settings, db: Database, clock: Clock, kb: KnowledgeBase) -> Core:
    return q_and_a_core(settings, db, clock, kb)


def buttons(replies: list[Reply]) -> list[str]:
    return [b.data or b.url or "" for r in replies for row in r.buttons for b in row]


def check(replies: list[Reply]) -> str:
    """Every reply is something Telegram accepts; returns what the person reads."""
    assert replies
    for reply in replies:
        assert_valid_reply(reply)
    return "\n".join(visible_text(r.text) for r in replies)


async def unanswered(db: Database) -> list[tuple[str, str, str]]:
    rows = await db.fetchall("SELECT question, normalized, channel FROM unanswered_questions ORDER BY id")
    return [(r["question"], r["normalized"], r["channel"]) for r in rows]


# --- citizens


async def test_citizen_without_diacritics_gets_permit_procedure(person: Callable[..., Person]) -> None:
    citizen = person()
    seen = check(await citizen.send("xin phep to chuc hoi nghi quoc te tham quyen chu tich ubnd thanh pho"))
    assert "Cho phép tổ chức hội nghị, hội thảo quốc tế không thuộc thẩm quyền" in seen
    assert "Mã thủ tục: 2.002312" in seen
    assert "kb:2.002312|3" in buttons(citizen.last)

    seen = check(await citizen.press(citizen.button_data("Thành phần hồ sơ")))
    assert "Thành phần hồ sơ" in seen and "Đề án tổ chức theo Mẫu 01" in seen
    assert "kb:2.002312" in buttons(citizen.last)  # back to the overview


async def test_citizen_reads_the_legal_basis(person: Callable[..., Person]) -> None:
    citizen = person()
    await citizen.send("Hợp pháp hóa lãnh sự giấy tờ ở đâu?")
    assert "không còn thực hiện" in check(citizen.last)
    seen = check(await citizen.press(citizen.button_data("Căn cứ pháp lý")))
    assert "Quyết định 1260/QĐ-UBND ngày 17/04/2024" in seen


async def test_unsure_question_offers_choices(person: Callable[..., Person]) -> None:
    citizen = person()
    seen = check(await citizen.send("ký kết thỏa thuận quốc tế"))
    assert seen.startswith("Có phải bạn muốn hỏi…")
    choices = [d for d in buttons(citizen.last) if d.startswith("kb:")]
    assert set(choices) == {"kb:nb-ky-ket-tinh", "kb:nb-ky-ket-so", "kb:nb-ky-ket-huyen", "kb:nb-ky-ket-xa"}
    labels = [b.label for r in citizen.last for row in r.buttons for b in row]
    assert len(set(labels)) == len(labels) and not any(label[:1].isdigit() for label in labels)

    seen = check(await citizen.press("kb:nb-ky-ket-xa"))
    assert "xã biên giới" in seen


async def test_question_silent_on_who_permits_gets_the_usual_procedure_and_the_other_one_offered(
    person: Callable[..., Person],
) -> None:
    citizen = person()
    seen = check(await citizen.send("chủ trương đăng cai hội nghị hội thảo quốc tế"))
    assert "Mã thủ tục: 2.002314" in seen  # almost every event is not the Prime Minister's
    assert "kb:2.002313" in buttons(citizen.last)
    labels = [b.label for r in citizen.last for row in r.buttons for b in row]
    assert len(set(labels)) == len(labels)


async def test_unknown_question_falls_back_and_is_kept_for_staff(person: Callable[..., Person], db: Database) -> None:
    citizen = person()
    seen = check(await citizen.send("Lịch chiếu phim cuối tuần?"))
    assert "chưa tìm được câu trả lời" in seen
    assert "Tổng đài 1022" in seen
    assert "pakn:start" in buttons(citizen.last)
    assert await unanswered(db) == [("Lịch chiếu phim cuối tuần?", "lich chieu phim cuoi tuan", "telegram")]


async def test_fallback_gives_the_hotline_once_it_is_set(
    settings_factory: Callable[..., Settings], db: Database, clock: Clock
) -> None:
    settings = settings_factory(ORG_HOTLINE="0225 3 123 456")
    citizen = Person(q_and_a_core(settings, db, clock, load_for_settings(settings)), "1001")
    assert "đường dây nóng của Sở Ngoại vụ: 0225 3 123 456" in check(await citizen.send("lịch chiếu phim cuối tuần"))


@pytest.mark.parametrize(("hotline", "label"), [("", "☎️ Liên hệ"), ("0225 3 123 456", "☎️ Liên hệ, đường dây nóng")])
async def test_the_contact_button_names_a_hotline_only_when_one_is_set(
    settings_factory: Callable[..., Settings], db: Database, clock: Clock, hotline: str, label: str
) -> None:
    settings = settings_factory(ORG_HOTLINE=hotline)
    citizen = Person(q_and_a_core(settings, db, clock, load_for_settings(settings)), "1001")

    def contact_labels() -> list[str]:
        return [b.label for r in citizen.last for row in r.buttons for b in row if b.data == "menu:contact"]

    for ask in ("/start", "lịch chiếu phim cuối tuần", "làm hộ chiếu ở đâu", "/huy"):
        check(await citizen.send(ask))
        assert contact_labels() == [label], (ask, contact_labels())
    seen = check(await citizen.press("menu:contact"))
    assert ("Đường dây nóng" in seen) == bool(hotline)


async def test_greeting_gets_the_menu_not_an_answer(person: Callable[..., Person], db: Database) -> None:
    citizen = person()
    seen = check(await citizen.send("Xin chào!"))
    assert "Xin chào" in seen
    assert "pakn:start" in buttons(citizen.last)
    assert not any(d.startswith("kb:") for d in buttons(citizen.last))
    assert await unanswered(db) == []


@pytest.mark.parametrize(
    "data", ["kb:nonexistent|99", "kb:", "kb:|", "kb:2.002312|99", "kb:2.002312|0", "kb:2.002312|x", "kb:💥|1",
             "kb:2.002312|1|2", "kb:" + "a" * 200],
)
async def test_forged_or_stale_buttons_get_a_polite_reply(person: Callable[..., Person], data: str) -> None:
    seen = check(await person().press(data))
    assert "Xin lỗi" in seen or "không còn" in seen or "Mã thủ tục" in seen


async def test_every_answer_fits_telegram(kb: KnowledgeBase) -> None:
    for entry in kb.entries.values():
        replies = qa.entry_replies(entry)
        for number in range(1, len(entry.sections) + 1):
            replies += qa.section_replies(entry, number)
        check(replies)


def test_long_sections_are_split_at_paragraphs(kb: KnowledgeBase) -> None:
    paragraph = "Đoạn văn dài <có ký tự & đặc biệt> " * 40
    entry = dataclasses.replace(
        kb.entries["2.002312"], title="<b>Tiêu đề</b> & thử",
        sections=(Section("Thành phần hồ sơ", "\n\n".join([paragraph] * 12)),),
    )
    replies = qa.section_replies(entry, 1)
    assert len(replies) > 1
    assert all(not r.buttons for r in replies[:-1]) and replies[-1].buttons
    seen = check(replies)
    assert "<b>Tiêu đề</b> & thử" in seen and "<có ký tự & đặc biệt>" in seen


# --- staff


async def test_staff_sees_most_frequent_unanswered_questions(person: Callable[..., Person], clock: Clock) -> None:
    citizen, other, staff = person("1001"), person("1002"), person(STAFF)
    await citizen.send("Lịch chiếu phim cuối tuần")
    clock.advance(minutes=5)
    await other.send("lich chieu phim cuoi tuan ạ")  # the same question: the latest wording is shown
    await other.send("cách nấu phở bò")
    await other.send("giá vàng hôm nay")  # another body's business: listed apart
    seen = check(await staff.send("/chuahoi"))
    first, second = seen.index("lich chieu phim cuoi tuan ạ"), seen.index("cách nấu phở bò")
    assert first < second
    assert "2 lần, 2 người hỏi, gần nhất 07/07/2025" in seen
    assert "giá vàng" not in seen
    assert "giá vàng hôm nay" in check(await staff.send("/chuahoi khac"))
    clock.advance(days=10)
    assert "Trong 7 ngày qua không có câu hỏi nào" in check(await staff.send("/chuahoi 7"))
    assert "Câu hỏi chưa trả lời được (30 ngày qua)" in check(await staff.send("/chuahoi"))
    assert "Cách dùng" in check(await staff.send("/chuahoi bảy"))


async def test_no_unanswered_questions_is_said_plainly(person: Callable[..., Person]) -> None:
    assert "không có câu hỏi nào" in check(await person(STAFF).send("/chuahoi"))


@pytest.mark.parametrize("command", ["/chuahoi", "/napkb"])
async def test_citizens_cannot_use_staff_commands(person: Callable[..., Person], command: str) -> None:
    assert check(await person("1001").send(command)) == TEXT_NOT_STAFF


@pytest.fixture
def editable_kb(tmp_path: Path, settings_factory: Callable[..., Settings]) -> tuple[Path, Settings]:
    folder = tmp_path / "kb"
    shutil.copytree(SHIPPED, folder)
    return folder, settings_factory(PAKN_KB_DIR=str(folder))


async def test_staff_reloads_the_knowledge_base_without_restart(
    editable_kb: tuple[Path, Settings], db: Database, clock: Clock
) -> None:
    folder, settings = editable_kb
    core = q_and_a_core(settings, db, clock, load_for_settings(settings))
    citizen, staff = Person(core, "1001"), Person(core, STAFF)
    assert "thuộc lĩnh vực của cơ quan khác" in check(await citizen.send("lệ phí cấp thị thực ngoại giao"))
    (folder / "thi-thuc.yaml").write_text(
        "id: faq-thi-thuc-ngoai-giao\nkind: faq\ntitle: Thị thực ngoại giao\n"
        "aliases: [lệ phí cấp thị thực ngoại giao]\nsummary: Nội dung thử.\n"
        "sections: [{title: Căn cứ pháp lý, body: Thông tư thử.}]\nupdated: 2025-07-01\n",
        encoding="utf-8",
    )
    seen = check(await staff.send("/napkb"))
    assert "Đã nạp lại cơ sở tri thức: 27 mục (16 thủ tục, 11 hỏi đáp)" in seen
    assert "Thêm mới: faq-thi-thuc-ngoai-giao" in seen
    assert "Thị thực ngoại giao" in check(await citizen.send("lệ phí cấp thị thực ngoại giao"))


async def test_broken_knowledge_base_is_refused_and_the_old_one_stays(
    editable_kb: tuple[Path, Settings], db: Database, clock: Clock
) -> None:
    folder, settings = editable_kb
    core = q_and_a_core(settings, db, clock, load_for_settings(settings))
    old = core.kb
    (folder / "hoi-dap.yaml").write_text("- id: faq-x\n  title: [hỏng\n", encoding="utf-8")
    (folder / "hoi-nghi-hoi-thao-quoc-te.yaml").write_text(
        (SHIPPED / "hoi-nghi-hoi-thao-quoc-te.yaml").read_text("utf-8").replace("{{ org.hotline }}", "{{ org.fax }}"),
        encoding="utf-8",
    )
    seen = check(await Person(core, STAFF).send("/napkb"))
    assert "Không nạp được cơ sở tri thức mới" in seen and "được giữ nguyên" in seen
    assert "hoi-dap.yaml: YAML sai" in seen
    assert "hoi-nghi-hoi-thao-quoc-te.yaml: 2.002311: sections[6].body: chỗ điền {{ org.fax }} không có thiết lập tương ứng" in seen
    assert core.kb is old
    assert "Mã thủ tục: 2.002312" in check(await Person(core, "1001").send("hoi thao quoc te khong thuoc tham quyen ttg"))


async def test_intake_can_offer_related_procedures(core: Core) -> None:
    found = await qa.search_procedures(core, "thủ tục cấp phép hội thảo quốc tế bị chậm")
    assert found and found[0].id in {"2.002311", "2.002312"}
    assert all(e.kind == "procedure" for e in found)


# --- `python -m bot ask`


def test_ask_prints_what_a_citizen_sees(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "thủ tục 2.002311"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Cho phép tổ chức hội nghị, hội thảo quốc tế thuộc thẩm quyền")
    assert "<b>" not in out and "[Thành phần hồ sơ]" in out


def test_ask_json_prints_the_decision(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--json", "số điện thoại đường dây nóng"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result) == ["question", "mode", "top", "candidates", "scores", "section"]
    assert result["question"] == "số điện thoại đường dây nóng"
    assert (result["mode"], result["top"], result["candidates"]) == ("answer", "faq-duong-day-nong",
                                                                      ["faq-duong-day-nong"])
    assert len(result["scores"]) == 1 and 0 < result["scores"][0] <= 100


def test_ask_batch_prints_one_json_line_per_question(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "never.sqlite3"
    monkeypatch.setenv("PAKN_DB", str(database))
    questions = tmp_path / "q.txt"
    questions.write_text("xin chào\n\nký kết thỏa thuận quốc tế\ngiá vàng\nhồ sơ xin phép hội thảo quốc tế gồm những gì\n",
                         encoding="utf-8")
    assert main(["ask", "--json", "--batch", str(questions)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["mode"] for r in lines] == ["smalltalk", "choose", "fallback", "answer"]
    assert lines[1]["top"] is None and len(lines[1]["candidates"]) == len(lines[1]["scores"]) == 4
    assert (lines[3]["top"], lines[3]["section"]) == ("2.002312", "ho_so")
    assert [r["section"] for r in lines[:3]] == [None, None, None]
    assert not database.exists()  # asking never writes to the database


def test_ask_a_tracking_code_is_looked_up_not_matched(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--json", "pakn 20261202 0001"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["mode"], result["top"], result["candidates"]) == ("tracking", None, [])
    assert main(["ask", "PAKN.20261202.0001"]) == 0
    assert "/tracuu" in capsys.readouterr().out


def test_ask_needs_a_question(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask"]) == 2
    assert "CÂU_HỎI" in capsys.readouterr().err


def test_ask_json_from_the_shell() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", "HNHT QT thẩm quyền TTg"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["mode"] in ("answer", "choose") and "2.002311" in decision["candidates"]


# --- issue 17: the part asked, other bodies' business, tracking codes, browsing, learning


async def test_citizen_asking_for_the_dossier_reads_the_dossier_first(person: Callable[..., Person]) -> None:
    citizen = person()
    seen = check(await citizen.send("cho em hỏi xin phép hội thảo quốc tế thì hồ sơ gồm những gì ạ"))
    assert seen.startswith("Cho phép tổ chức hội nghị, hội thảo quốc tế không thuộc thẩm quyền")
    assert "Thành phần hồ sơ" in seen and "Đề án tổ chức theo Mẫu 01" in seen
    data = buttons(citizen.last)
    assert "kb:2.002312" in data  # the overview
    assert "kb:2.002312|3" not in data and "kb:2.002312|4" in data  # the other sections, not the one shown
    assert "kb:2.002311|3" in data  # the Prime Minister's procedure, should the event be one
    labels = [b.label for r in citizen.last for row in r.buttons for b in row]
    assert len(set(labels)) == len(labels)


async def test_a_part_the_procedure_does_not_describe_is_left_to_the_department(person: Callable[..., Person]) -> None:
    seen = check(await person().send("ký thỏa thuận quốc tế nhân danh sở có mất lệ phí không"))
    assert seen.startswith("Ký kết thỏa thuận quốc tế nhân danh cơ quan cấp Sở")
    assert "chưa có thông tin chính thức về phí, lệ phí" in seen and "hướng dẫn cụ thể" in seen


async def test_pasted_tracking_code_is_looked_up_like_tracuu(
    settings: Settings, db: Database, clock: Clock, kb: KnowledgeBase
) -> None:
    from handlers.app import build_core
    from tests.test_tracking import walk

    citizen = Person(build_core(settings, db, kb=kb, clock=clock), "1001")
    await walk(citizen)
    for typed in ("PAKN.20250707.0001", " pakn 20250707 0001 ", "Pakn.20250707.0001"):
        seen = check(await citizen.send(typed))
        assert seen.startswith("PAKN.20250707.0001") and "Trạng thái" in seen, typed
    stranger = Person(citizen.core, "2002")
    assert "Không tìm thấy PAKN mã PAKN.20250707.0001" in check(await stranger.send("PAKN.20250707.0001"))
    assert await unanswered(db) == []


async def test_other_bodies_business_is_referred_and_kept_apart(person: Callable[..., Person], db: Database) -> None:
    citizen = person()
    seen = check(await citizen.send("cho em hỏi làm hộ chiếu lần đầu ở đâu ạ"))
    assert "thuộc lĩnh vực của cơ quan khác (Hộ chiếu, thị thực, xuất nhập cảnh)" in seen
    assert "Cổng Dịch vụ công quốc gia: https://dichvucong.gov.vn" in seen
    assert "https://dichvucong.gov.vn" in buttons(citizen.last)
    assert "bổ sung" not in seen and "ghi lại" not in seen  # nothing promised on staff's behalf
    rows = await db.fetchall("SELECT kind, topic, sender FROM unanswered_questions")
    assert [tuple(r) for r in rows] == [("out_of_scope", "Hộ chiếu, thị thực, xuất nhập cảnh", "telegram:1001")]


async def test_unknown_question_promises_nothing(person: Callable[..., Person], db: Database) -> None:
    seen = check(await person().send("cách nấu phở bò"))
    assert "chưa tìm được câu trả lời" in seen and "bổ sung" not in seen
    rows = await db.fetchall("SELECT kind FROM unanswered_questions")
    assert [r["kind"] for r in rows] == ["unanswered"]


async def test_citizen_browses_the_procedures_by_group(person: Callable[..., Person]) -> None:
    citizen = person()
    await citizen.send("/start")
    assert "menu:procs" in buttons(citizen.last)
    seen = check(await citizen.press("menu:procs"))
    assert "Hội nghị, hội thảo quốc tế (4)" in [b.label for r in citizen.last for row in r.buttons for b in row]
    seen = check(await citizen.press(citizen.button_data("Hội nghị, hội thảo quốc tế")))
    assert "Cho chủ trương đăng cai tổ chức hội nghị, hội thảo quốc tế không thuộc thẩm quyền" in seen
    labels = [b.label for r in citizen.last for row in r.buttons for b in row]
    assert len(set(labels)) == len(labels)  # 2.002313 and 2.002314 no longer read the same
    assert not any(label[:1].isdigit() and label[1:3] == ". " for label in labels)
    assert {"kb:2.002311", "kb:2.002312", "kb:2.002313", "kb:2.002314"} <= set(buttons(citizen.last))
    assert "Mã thủ tục: 2.002313" in check(await citizen.press("kb:2.002313"))
    assert "Danh sách thủ tục vừa được cập nhật" in check(await citizen.press("menu:g:99"))


def test_button_labels_that_cut_to_the_same_text_are_told_apart(kb: KnowledgeBase) -> None:
    entries = [kb.get("2.002313"), kb.get("2.002314")]
    labels = menu.unique_labels([(e.title, e.code) for e in entries if e is not None])
    assert len(set(labels)) == 2 and all(len(label) <= 60 for label in labels)
    assert "không thuộc" in labels[1] and "2.002314" in labels[1]


async def test_staff_teach_the_bot_an_unanswered_question_and_it_stays_learned(
    editable_kb: tuple[Path, Settings], db: Database, clock: Clock, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, settings = editable_kb
    core = q_and_a_core(settings, db, clock, load_for_settings(settings))
    citizen, staff = Person(core, "1001"), Person(core, STAFF)
    question = "cái giấy cho phép họp với người Nhật xin chỗ nào"
    assert "chưa tìm được" in check(await citizen.send(question))
    row = await db.fetchone("SELECT id FROM unanswered_questions")
    assert row is not None
    assert f"[#{row['id']}]" in check(await staff.send("/chuahoi"))
    assert "Không có mục «khong-co»" in check(await staff.send(f"/chuahoi gan #{row['id']} khong-co"))
    seen = check(await staff.send(f"/chuahoi gan #{row['id']} 2.002312"))
    assert "Đã gắn «cái giấy cho phép họp với người Nhật xin chỗ nào» vào mục 2.002312" in seen
    assert await unanswered(db) == []
    assert "Mã thủ tục: 2.002312" in check(await citizen.send("Cái giấy cho phép họp với người Nhật xin chỗ nào ạ?"))

    # After a restart (a new knowledge base object) and after /napkb, it is still answered.
    restarted = q_and_a_core(settings, db, clock, load_for_settings(settings))
    assert "Mã thủ tục: 2.002312" in check(await Person(restarted, "1002").send(question))
    assert "Đã nạp lại" in check(await Person(restarted, STAFF).send("/napkb"))
    assert "Mã thủ tục: 2.002312" in check(await Person(restarted, "1002").send(question))

    # The web console calls the same function; `kb check` lists what was learned.
    await qa.learn_alias(restarted, "giấy phép họp với đối tác Hàn", "2.002312", "web:7")
    monkeypatch.setenv("PAKN_DB", str(settings.pakn_db))
    assert main(["kb", "check", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "cách hỏi đã học: 2" in out
    assert "«cái giấy cho phép họp với người Nhật xin chỗ nào» → 2.002312 (bởi telegram:900" in out
    assert "ghi chú: referrals.yaml: Hộ chiếu, thị thực, xuất nhập cảnh: chưa nêu cơ quan có thẩm quyền" in out

    alias = await db.fetchone("SELECT id FROM learned_aliases WHERE created_by = 'web:7'")
    assert alias is not None
    assert "Đã bỏ" in check(await Person(restarted, STAFF).send(f"/chuahoi bo #{alias['id']}"))
    assert "Mã thủ tục" not in check(await Person(restarted, "1003").send("giấy phép họp với đối tác Hàn"))


async def test_personal_data_typed_as_a_message_is_not_kept_as_a_question(
    person: Callable[..., Person], db: Database
) -> None:
    citizen = person()
    for typed in ("Nguyễn Văn An 0912 345 678", "Nguyễn Thị Bình", "an.nguyen@example.com", "+84 912345678"):
        await citizen.send(typed)
    assert await unanswered(db) == []


async def test_one_sender_cannot_fill_the_unanswered_list(person: Callable[..., Person], db: Database) -> None:
    from storage.unanswered import PER_SENDER_PER_DAY

    spammer = person("1001")
    for n in range(PER_SENDER_PER_DAY + 5):
        await spammer.send(f"câu hỏi lạ số {n} về nấu ăn")
    await person("1002").send("cách nấu phở bò")
    counts = await db.fetchall("SELECT sender, COUNT(*) AS n FROM unanswered_questions GROUP BY sender")
    assert {r["sender"]: r["n"] for r in counts} == {"telegram:1001": PER_SENDER_PER_DAY, "telegram:1002": 1}


async def test_unanswered_questions_expire_with_the_hourly_housekeeping(
    person: Callable[..., Person], db: Database, clock: Clock
) -> None:
    from storage.retention import prune_bookkeeping

    await person().send("cách nấu phở bò")
    clock.advance(days=100)
    await person("1002").send("cách làm nem rán")
    assert (await prune_bookkeeping(db, clock(), unanswered_keep_days=180))["unanswered_questions"] == 0
    clock.advance(days=90)
    assert (await prune_bookkeeping(db, clock(), unanswered_keep_days=180))["unanswered_questions"] == 1
    assert [q for q, _, _ in await unanswered(db)] == ["cách làm nem rán"]


async def test_purge_removes_the_citizens_unanswered_questions(
    settings: Settings, db: Database, clock: Clock, kb: KnowledgeBase
) -> None:
    import datetime as dt

    from handlers.app import build_core
    from storage.retention import purge_personal_data
    from tests.test_tracking import _answer, walk

    core = build_core(settings, db, kb=kb, clock=clock)
    citizen, other = Person(core, "1001"), Person(core, "1002")
    await citizen.send("cách nấu phở bò")
    await other.send("cách làm nem rán")
    await walk(citizen)
    await _answer(db, "PAKN.20250707.0001", "Đã xử lý.")
    later = dt.datetime(2026, 7, 10, tzinfo=dt.UTC)
    assert await purge_personal_data(db, older_than_days=365, now=later, actor="test") == 1
    assert [q for q, _, _ in await unanswered(db)] == ["cách làm nem rán"]


async def test_name_and_phone_typed_after_the_daily_limit_are_not_kept(
    settings_factory: Callable[..., Settings], db: Database, clock: Clock
) -> None:
    from handlers.app import build_core
    from tests.test_tracking import walk

    settings = settings_factory(PAKN_DAILY_LIMIT="1")
    citizen = Person(build_core(settings, db, kb=load_for_settings(settings), clock=clock), "1001")
    await walk(citizen)
    assert "mức tối đa" in check(await citizen.send("/phananh"))
    await citizen.send("Nguyễn Văn An")
    await citizen.send("0912 345 678")
    await citizen.send("Số 5 Lê Lợi, Ngô Quyền")
    assert await unanswered(db) == []
