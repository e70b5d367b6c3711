"""What a Zalo citizen reads: the core's replies as Zalo messages, and Zalo's events as the core's events."""

from __future__ import annotations

import json

import pytest

from bot.channels.zalo import inbound
from bot.channels.zalo.outbound import MAX_TEXT, plain_text, render
from bot.settings import SettingsError, load_settings
from handlers.types import Button, Document, Reply
from tests.fake_zalo import APP_ID, OA_SECRET_KEY, sign


def test_html_becomes_plain_text_with_link_targets_kept() -> None:
    text = 'Xem <b>thủ tục</b> tại <a href="https://dichvucong.gov.vn/p?a=1&amp;b=2">Cổng DVC</a> &lt;ngay&gt;'
    assert plain_text(text) == "Xem thủ tục tại Cổng DVC (https://dichvucong.gov.vn/p?a=1&b=2) <ngay>"


def test_a_long_answer_is_split_at_paragraphs_under_2000_characters() -> None:
    paragraphs = [f"Đoạn {n}: " + "nội dung thủ tục " * 40 for n in range(12)]
    rendered = render(Reply("\n\n".join(paragraphs), [[Button("Thành phần hồ sơ", "qa:1")]]))
    texts = [m["text"] for m in rendered.messages]
    assert len(texts) > 1 and all(len(t) <= MAX_TEXT for t in texts)
    assert all(t.startswith("Đoạn ") for t in texts)
    # The buttons ride on the last piece only.
    assert [bool(m.get("attachment")) for m in rendered.messages] == [False] * (len(texts) - 1) + [True]


def test_five_buttons_stay_buttons_and_more_become_a_numbered_list() -> None:
    five = render(Reply("Chọn:", [[Button(f"Mục {n}", f"x:{n}")] for n in range(5)]))
    buttons = five.messages[0]["attachment"]["payload"]["buttons"]
    assert [b["payload"] for b in buttons] == [f"#x:{n}" for n in range(5)]
    assert all(b["type"] == "oa.query.hide" for b in buttons) and five.choices == []

    seven = render(Reply("Chọn:", [[Button(f"Mục {n}", f"x:{n}")] for n in range(6)] + [[Button("Hủy", "x:cancel")]]))
    text = seven.messages[0]["text"]
    assert "1. Mục 0" in text and "7. Hủy" in text
    shown = seven.messages[0]["attachment"]["payload"]["buttons"]
    assert len(shown) == 5 and shown[-1]["title"] == "Hủy"
    assert seven.choices == [f"x:{n}" for n in range(6)] + ["x:cancel"]


def test_links_become_open_url_buttons_and_documents_are_never_sent() -> None:
    rendered = render(Reply("Tra cứu", [[Button("Cổng DVC", url="https://dichvucong.gov.vn")]]))
    assert rendered.messages[0]["attachment"]["payload"]["buttons"] == [
        {"title": "Cổng DVC", "type": "oa.open.url", "payload": {"url": "https://dichvucong.gov.vn"}}]
    assert render(Reply(document=Document("bc.xlsx", b"x"))).messages == []


def test_the_contact_step_asks_with_request_user_info() -> None:
    rendered = render(Reply("Số điện thoại?", request_contact=True))
    template = rendered.messages[-1]["attachment"]["payload"]
    assert template["template_type"] == "request_user_info" and len(template["elements"]) == 1


def _event(name: str, **fields: object) -> dict[str, object]:
    return {"app_id": APP_ID, "event_name": name, "timestamp": "1733130000000", "sender": {"id": "5123"},
            "recipient": {"id": "oa"}, **fields}


def test_the_signature_is_checked_in_both_forms() -> None:
    data = _event("user_send_text", message={"msg_id": "a", "text": "hi"})
    body = json.dumps(data).encode()
    good = sign(body, APP_ID, "1733130000000")
    assert inbound.signature_ok(good, body, data, OA_SECRET_KEY)
    assert inbound.signature_ok(good[4:], body, data, OA_SECRET_KEY)
    assert not inbound.signature_ok(good, body + b" ", data, OA_SECRET_KEY)
    assert not inbound.signature_ok(None, body, data, OA_SECRET_KEY)


def test_events_map_to_the_cores_events_with_string_ids() -> None:
    big_id = "98765432109876543210987"  # more digits than any integer column holds
    text = _event("user_send_text", sender={"id": big_id}, message={"msg_id": "m1", "text": "#t:abc"})
    event = inbound.to_event(text, chat_id=7, update_id=1)
    assert event is not None and event.button == "t:abc" and event.user_id == big_id
    number = inbound.to_event(_event("user_send_text", message={"msg_id": "m2", "text": " 2 "}), chat_id=7,
                              update_id=2, choices=["a:1", "a:2"])
    assert number is not None and number.button == "a:2"
    info = inbound.to_event(_event("user_submit_info", info={"name": "An", "phone": "84912345678"}), chat_id=7,
                            update_id=3)
    assert info is not None and info.contact is not None and info.contact.phone == "0912345678"
    audio = inbound.to_event(_event("user_send_audio", message={"msg_id": "m3"}), chat_id=7, update_id=4)
    assert audio is not None and audio.attachment is not None and audio.attachment.kind == "audio"
    follow = {"app_id": APP_ID, "event_name": "follow", "follower": {"id": "5123"}, "timestamp": "1"}
    assert inbound.event_key(follow) == "follow:5123:1"
    assert inbound.user_of({"event_name": "oa_send_text", "sender": {"id": "oa"}}) is None


@pytest.mark.parametrize("old,new", [("WEBHOOK_PORT", "HTTP_PORT"), ("WEBHOOK_LISTEN", "HTTP_LISTEN")])
def test_the_old_webhook_listener_settings_name_their_replacement(old: str, new: str) -> None:
    with pytest.raises(SettingsError, match=new):
        load_settings(environ={old: "8443"})


def test_half_configured_zalo_names_the_missing_setting() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"ZALO_OA_ID": "1", "ZALO_APP_ID": "2"})
    assert caught.value.name == "ZALO_APP_SECRET"
