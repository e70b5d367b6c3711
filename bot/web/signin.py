"""Signing in with the one-time link from ``/web`` (``/dang-nhap/<token>``) and signing out (``/dang-xuat``).

Opening the link shows one button that signs in: link previews and virus scanners that fetch the address do not
use the link up; only the person's click (a POST with the CSRF token) does.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp_session import get_session, new_session

from bot.web import common
from storage import web_auth

T_USED = "Đường dẫn đăng nhập này đã được dùng. Mỗi đường dẫn chỉ dùng được một lần: gõ /web để nhận đường dẫn mới."
T_EXPIRED = "Đường dẫn đăng nhập này đã hết hạn (sau 10 phút). Gõ /web trong trò chuyện riêng với bot để nhận đường dẫn mới."
T_UNKNOWN = "Đường dẫn đăng nhập không hợp lệ. Gõ /web trong trò chuyện riêng với bot để nhận đường dẫn mới."
T_NOT_STAFF = "Tài khoản này không phải cán bộ nên không đăng nhập được."
REFUSALS = {"used": T_USED, "expired": T_EXPIRED, "unknown": T_UNKNOWN}


async def sign_in_page(request: web.Request) -> web.Response:
    """The link's page: one button that signs in, or why the link no longer works."""
    st = common.state(request)
    token = request.match_info["token"]
    found = await web_auth.login_state(st.db, token, st.core.now())
    if found != "valid":
        return await common.error_page(request, 403, REFUSALS[found])
    return await common.render(request, "signin.html", {"token": token})


async def sign_in(request: web.Request) -> web.Response:
    """Use the link up, start the session and go to the case inbox."""
    st = common.state(request)
    token = request.match_info["token"]
    now = st.core.now()
    found = await web_auth.login_state(st.db, token, now)
    if found != "valid":
        return await common.error_page(request, 403, REFUSALS[found])
    used = await web_auth.use_login(st.db, token, now)
    if used is None:
        return await common.error_page(request, 403, T_USED)
    user_id, session_id = used
    if await st.core.role(str(user_id)) is None:
        await web_auth.end_session(st.db, session_id, now)
        return await common.error_page(request, 403, T_NOT_STAFF)
    session = await new_session(request)  # a fresh cookie: nothing from before signing in carries over
    session["sid"] = session_id
    raise common.redirect("/ho-so")


async def sign_out(request: web.Request) -> web.Response:
    """End the session here and on the server."""
    st = common.state(request)
    found = common.viewer(request)
    if found is not None:
        await web_auth.end_session(st.db, found.session_id, st.core.now())
    (await get_session(request)).invalidate()
    raise common.redirect("/")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/dang-nhap/{token}", sign_in_page, name="web_sign_in")
    router.add_post("/dang-nhap/{token}", sign_in)
    router.add_post("/dang-xuat", sign_out, name="web_sign_out")
