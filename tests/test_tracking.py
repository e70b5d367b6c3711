"""A citizen follows their own PAKN, and nobody else's."""

from __future__ import annotations

import datetime as dt
from typing import Any

from handlers.core import Core
from storage import cases
from storage.db import Database
from tests.conftest import Person
from tests.test_intake import walk


async def _answer(db: Database, code: str, text: str) -> cases.Case:
    case = await cases.get_by_code(db, code)
    assert case is not None
    now = dt.datetime(2025, 7, 9, 3, 0, tzinfo=dt.UTC)
    async with db.transaction() as tx:
        return await cases.transition(tx, case.id, "answer", now=now, actor="telegram:900",
                                      resolved_date=dt.date(2025, 7, 9), changes={"answer": text})


async def test_citizen_lists_and_opens_their_own_cases(core: Core, person: Any) -> None:
    p = person("1001")
    await walk(p)
    await p.send("/tracuu")
    assert "PAKN.20250707.0001" in p.text and "Mới tiếp nhận" in p.text and "21/07/2025" in p.text
    await p.press(p.button_data("PAKN.20250707.0001"))
    assert "Loại: Phản ánh" in p.text


async def test_someone_elses_code_looks_exactly_like_an_unknown_code(core: Core, person: Any) -> None:
    await walk(person("1001"))
    stranger: Person = person("2002")
    await stranger.send("/tracuu PAKN.20250707.0001")
    other = stranger.text
    await stranger.send("/tracuu PAKN.20250707.0099")
    unknown = stranger.text.replace("0099", "0001")
    assert other == unknown
    assert "Nguyễn" not in other and "Mới tiếp nhận" not in other


async def test_malformed_code_gets_the_format_explained(core: Core, person: Any) -> None:
    p = person("1001")
    await p.send("/tracuu <b>abc</b>'; DROP TABLE cases;--")
    assert "PAKN.20250101.0001" in p.text and "YYYYMMDD" not in p.text and "<b>abc" not in p.text


async def test_citizen_with_no_cases_is_told_how_to_send_one(core: Core, person: Any) -> None:
    p = person("1001")
    await p.send("/tracuu")
    assert "/phananh" in p.text


async def test_answer_is_shown_and_citizen_rates_it_once_with_a_comment(core: Core, person: Any, db: Database) -> None:
    p = person("1001")
    await walk(p)
    case = await _answer(db, "PAKN.20250707.0001", "Sở đã chấn chỉnh <cán bộ> & trả kết quả.")
    await p.send("/tracuu PAKN.20250707.0001")
    assert "Đã trả lời" in p.text and "&lt;cán bộ&gt; &amp;" in p.text
    await p.press(f"sat:{case.id}:hai_long")
    assert "Cảm ơn" in p.text
    await p.send("Cán bộ nhiệt tình")
    await p.press(f"sat:{case.id}:khong_hai_long")
    assert "đã được bạn đánh giá" in p.text
    stored = await cases.get_by_id(db, case.id)
    assert stored is not None and stored.satisfaction == "hai_long"
    assert stored.satisfaction_comment == "Cán bộ nhiệt tình"
    actions = [e.action for e in await cases.events(db, case.id)]
    assert actions[-2:] == ["rate", "rate_comment"]


async def test_nobody_can_rate_someone_elses_case(core: Core, person: Any, db: Database) -> None:
    await walk(person("1001"))
    case = await _answer(db, "PAKN.20250707.0001", "Đã xử lý.")
    stranger = person("2002")
    await stranger.press(f"sat:{case.id}:khong_hai_long")
    assert "Không thể đánh giá" in stranger.text
    await stranger.press("sat:abc:xyz")
    assert "Không thể đánh giá" in stranger.text
    stored = await cases.get_by_id(db, case.id)
    assert stored is not None and stored.satisfaction is None


async def test_purge_removes_personal_data_but_keeps_history(core: Core, person: Any, db: Database) -> None:
    from storage.reports import period_counts
    from storage.retention import purge_personal_data

    await walk(person("1001"))
    await walk(person("1002"), content="Kiến nghị đơn giản hóa thủ tục cho phép hội nghị quốc tế.")
    case = await _answer(db, "PAKN.20250707.0001", "Đã xử lý.")
    july = (dt.date(2025, 6, 15), dt.date(2025, 7, 14))
    before = await period_counts(db, *july)
    later = dt.datetime(2026, 7, 10, tzinfo=dt.UTC)
    assert await purge_personal_data(db, older_than_days=400, now=later, actor="test") == 0
    assert await purge_personal_data(db, older_than_days=365, now=later, actor="test") == 1
    stored = await cases.get_by_id(db, case.id)
    assert stored is not None
    assert (stored.name, stored.phone, stored.address, stored.citizen_user_id) == (None, None, None, None)
    assert stored.status == "answered" and stored.received_date == "2025-07-07"
    assert [e.action for e in await cases.events(db, case.id)][-1] == "purge_personal_data"
    assert await period_counts(db, *july) == before
    assert before.group("hanh_chinh").received == 2


async def test_case_title_does_not_say_pakn_twice(core: Core, person: Any, db: Database) -> None:
    p = person("1001")
    await walk(p)
    await p.send("/tracuu PAKN.20250707.0001")
    assert "PAKN PAKN" not in p.text and "<b>PAKN.20250707.0001</b>" in p.text
