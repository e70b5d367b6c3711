"""What every page of the web console shares: who is viewing (read again on every request), the session and
CSRF middleware that acts only on the console's own paths, rendering with the base template, and paging."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import Session, get_session, session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from markupsafe import Markup
from wtforms import Form
from wtforms.csrf.core import CSRFTokenField
from wtforms.csrf.session import SessionCSRF

from bot.settings import Settings
from handlers.core import Core
from handlers.workflow import Actor
from storage import web_auth
from storage.db import Database

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

JINJA = web.AppKey("pakn_web_jinja", jinja2.Environment)
COOKIE_NAME = "pakn_web"
PAGE_SIZE = 50

# The console's paths: its middleware leaves every other path of the shared server alone.
PUBLIC_PATHS = ("/cong-khai", "/dang-nhap", "/static/web")
STAFF_PATHS = ("/ho-so", "/bao-cao", "/cau-hoi", "/dang-xuat")
ADMIN_PATHS = ("/can-bo", "/nhat-ky")

T_SIGN_IN = "Vui lòng đăng nhập: gõ /web trong cuộc trò chuyện riêng với bot để nhận đường dẫn đăng nhập."
T_REMOVED = "Tài khoản của anh/chị không còn quyền cán bộ nên đã bị đăng xuất."
T_ADMINS_ONLY = "Trang này chỉ dành cho quản trị viên."
T_CSRF = "Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng tải lại trang rồi thử lại."
T_NOT_FOUND = "Không tìm thấy trang hoặc PAKN này."


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def is_ours(path: str) -> bool:
    return path == "/" or _under(path, PUBLIC_PATHS + STAFF_PATHS + ADMIN_PATHS)


@dataclass
class WebState:
    """Everything the pages need, kept on the application."""

    core: Core
    db: Database
    settings: Settings
    fetch_file: Callable[[str, str], Awaitable[tuple[bytes, str]]] | None = None
    csrf_secret: bytes = b""
    sessions: Any = None  # aiohttp_session's middleware, made at startup once the key is read

    @property
    def secure(self) -> bool:
        return str(self.settings.web_base_url or "").startswith("https://")


STATE = web.AppKey("pakn_web_state", WebState)


def state(request: web.Request) -> WebState:
    return request.app[STATE]


@dataclass(frozen=True)
class Viewer:
    """The signed-in staff member, with the role read on this request."""

    user_id: int
    role: str
    session_id: str
    name: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def actor(self) -> Actor:
        return Actor(str(self.user_id), self.role, "web", "web", self.name)


VIEWER = web.RequestKey("pakn_web_viewer", Viewer)


def viewer(request: web.Request) -> Viewer | None:
    return request.get(VIEWER)


def require(request: web.Request) -> Viewer:
    """The viewer of a staff page (the middleware already refused everyone else)."""
    found = viewer(request)
    if found is None:
        raise web.HTTPForbidden()
    return found


class CsrfForm(Form):
    """Only the CSRF token: WTForms' session CSRF (an HMAC of a per-session secret and a time limit)."""

    class Meta:
        csrf = True
        csrf_class = SessionCSRF
        csrf_time_limit = web_auth.SESSION_IDLE


def csrf_form(request: web.Request, session: Session, formdata: Any = None) -> CsrfForm:
    return CsrfForm(formdata=formdata, meta={"csrf_secret": state(request).csrf_secret, "csrf_context": session})


async def startup(app: web.Application) -> None:
    """Read (or make, once per database) the cookie and CSRF keys."""
    from cryptography.fernet import Fernet

    st = app[STATE]
    cookie_key = await web_auth.key(st.db, "cookie", Fernet.generate_key().decode("ascii"))
    st.csrf_secret = (await web_auth.key(st.db, "csrf", Fernet.generate_key().decode("ascii"))).encode("ascii")
    storage = EncryptedCookieStorage(
        cookie_key, cookie_name=COOKIE_NAME, max_age=int(web_auth.SESSION_IDLE.total_seconds()), httponly=True,
        secure=st.secure, samesite="Lax", path="/",
    )
    st.sessions = session_middleware(storage)


def _headers(response: web.StreamResponse, path: str) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer" if path.startswith("/dang-nhap") else "same-origin")
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    )
    if not path.startswith(("/static/", "/cong-khai")) and path != "/":
        headers.setdefault("Cache-Control", "no-store")


async def _viewer_of(request: web.Request, session: Session) -> tuple[Viewer | None, bool]:
    """(the viewer, whether a session was refused because its owner is no longer staff)."""
    sid = session.get("sid")
    if not isinstance(sid, str):
        return None, False
    st = state(request)
    user_id = await web_auth.session_user(st.db, sid, st.core.now())
    if user_id is None:
        session.invalidate()
        return None, False
    role = await st.core.role(str(user_id))
    if role is None:
        await web_auth.end_session(st.db, sid, st.core.now())
        session.invalidate()
        return None, True
    row = await st.db.fetchone("SELECT name FROM staff WHERE user_id = ?", (user_id,))
    return Viewer(user_id, role, sid, str(row["name"]) if row is not None and row["name"] else ""), False


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sessions, the viewer, CSRF on every POST and the page's access rule — on the console's paths only."""
    path = request.path
    if not is_ours(path):
        return await handler(request)
    st = state(request)

    async def inner(req: web.Request) -> web.StreamResponse:
        session = await get_session(req)
        found, removed = await _viewer_of(req, session)
        if found is not None:
            req[VIEWER] = found
        if req.method == "POST":
            form = csrf_form(req, session, await req.post())
            if not form.validate():
                return await error_page(req, 403, T_CSRF)
        if _under(path, STAFF_PATHS + ADMIN_PATHS):
            if found is None:
                return await error_page(req, 403, T_REMOVED if removed else T_SIGN_IN)
            if _under(path, ADMIN_PATHS) and not found.is_admin:
                return await error_page(req, 403, T_ADMINS_ONLY)
        try:
            return await handler(req)
        except web.HTTPNotFound:
            return await error_page(req, 404, T_NOT_FOUND)

    try:
        response = await st.sessions(request, inner)
    except web.HTTPException as exc:
        _headers(exc, path)
        raise
    _headers(response, path)
    return response


async def error_page(request: web.Request, status: int, message: str) -> web.Response:
    response = await render(request, "error.html", {"message": message, "status": status})
    response.set_status(status)
    return response


async def flash(request: web.Request, text: str, ok: bool = True) -> None:
    """A message (safe HTML from the workflow) shown once on the next page."""
    session = await get_session(request)
    messages = list(session.get("flash", []))
    messages.append([bool(ok), text])
    session["flash"] = messages[-5:]


async def render(request: web.Request, template: str, context: Mapping[str, Any]) -> web.Response:
    st = state(request)
    session = await get_session(request)
    messages = session.pop("flash", []) if "flash" in session else []
    token = str(cast(CSRFTokenField, csrf_form(request, session)["csrf_token"]).current_token)
    settings = st.settings
    base = {
        "viewer": viewer(request),
        "org": settings.org_context(),
        "settings": settings,
        "csrf_token": token,
        "csrf_field": Markup('<input type="hidden" name="csrf_token" value="{}">').format(token),
        "messages": [(ok, Markup(text)) for ok, text in messages],
        "path": request.path,
    }
    return aiohttp_jinja2.render_template(template, request, {**base, **context}, app_key=JINJA)


def redirect(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


@dataclass(frozen=True)
class Pages:
    """Page numbers for a list: the current one, how many, and links that keep the other query parameters."""

    page: int
    count: int
    total: int
    query: dict[str, str]

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE

    def link(self, page: int) -> str:
        return "?" + urlencode({**self.query, "trang": str(page)})


def page_number(request: web.Request) -> int:
    """The page asked for (``?trang=``), 1 when missing or not a number."""
    raw = request.query.get("trang", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 7 else 1


def pages(request: web.Request, total: int, size: int = PAGE_SIZE) -> Pages:
    count = max(1, math.ceil(total / size))
    page = page_number(request)
    query = {k: v for k, v in request.query.items() if k != "trang" and v}
    return Pages(min(max(page, 1), count), count, total, query)


def local(settings: Settings, instant: str | None) -> str:
    if not instant:
        return ""
    return dt.datetime.fromisoformat(instant).astimezone(settings.tz).strftime("%H:%M %d/%m/%Y")


def day(value: str | dt.date | None) -> str:
    if not value:
        return ""
    date = dt.date.fromisoformat(value) if isinstance(value, str) else value
    return date.strftime("%d/%m/%Y")
