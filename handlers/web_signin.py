"""``/web``: a staff member asks, in a private chat, for a one-time link that signs them in to the web console."""

from __future__ import annotations

from handlers.core import TEXT_NOT_STAFF, Core, Router, esc, numeric_id
from handlers.types import Button, Event, Reply
from storage import web_auth

T_PRIVATE_ONLY = "Vì an toàn, hãy gõ /web trong cuộc trò chuyện riêng với bot (không gõ trong nhóm)."
T_NOT_SET_UP = (
    "Trang quản trị trên web chưa được cấu hình (thiếu địa chỉ WEB_BASE_URL). Vui lòng báo quản trị viên hệ thống."
)
T_LINK = (
    "🔐 Đường dẫn đăng nhập trang quản trị PAKN của anh/chị:\n{url}\n\n"
    "Đường dẫn chỉ dùng được <b>một lần</b> trong <b>10 phút</b>. Không chuyển đường dẫn này cho người khác."
)


async def web_command(core: Core, event: Event) -> list[Reply]:
    """/web: a one-time sign-in link (staff, private chat)."""
    if not event.is_private:
        return [Reply(T_PRIVATE_ONLY)]
    base = str(core.settings.web_base_url or "").rstrip("/")
    if not base:
        return [Reply(T_NOT_SET_UP)]
    user_id = numeric_id(event.user_id)
    # The router checked the role too; it is read again at this moment.
    if user_id is None or await core.role(event.user_id) is None:
        return [Reply(TEXT_NOT_STAFF)]
    token = await web_auth.new_login(core.db, user_id, core.now())
    url = f"{base}/dang-nhap/{token}"
    return [Reply(T_LINK.format(url=esc(url)), [[Button("Mở trang quản trị", url=url)]])]


def register(router: Router) -> None:
    router.command("web", "Đăng nhập trang quản trị trên web", staff_only=True)(web_command)
