"""Every setting of the bot, declared once: name, type, default and help text.

Values come from the defaults, then a TOML file (``--config FILE`` or ``PAKN_CONFIG``), then environment
variables. A bad value raises :class:`SettingsError` naming the setting and why.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SHIPPED_KB_DIR = Path(__file__).resolve().parent.parent / "knowledge" / "data"

CATEGORIES = ("quy_dinh_hanh_chinh", "hanh_vi_hanh_chinh", "quy_dinh_kinh_doanh")


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"{name}: {why}")
        self.name = name
        self.why = why


@dataclass(frozen=True)
class Setting:
    name: str
    type: str
    default: Any
    help: str
    secret: bool = False
    # The largest sensible value of a number setting (a typo such as 20000 MB is refused).
    maximum: int | None = None


def _parse_str(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError("phải là chuỗi ký tự")
    return raw.strip()


def _parse_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError("phải là số nguyên")
    if isinstance(raw, int):
        return raw
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ValueError(f"phải là số nguyên, nhận được {str(raw)!r}") from None


def _parse_positive_int(raw: Any) -> int:
    value = _parse_int(raw)
    if value < 1:
        raise ValueError(f"phải từ 1 trở lên, nhận được {value}")
    return value


def _parse_count(raw: Any) -> int:
    value = _parse_int(raw)
    if value < 0:
        raise ValueError(f"không được âm, nhận được {value}")
    return value


def _parse_optional_int(raw: Any) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    return _parse_int(raw)


def _split(raw: Any) -> list[str]:
    if isinstance(raw, list | tuple):
        return [str(item).strip() for item in raw if str(item).strip()]
    return [part.strip() for part in str(raw).split(",") if part.strip()]


def _parse_int_list(raw: Any) -> tuple[int, ...]:
    out = []
    for part in _split(raw):
        try:
            out.append(int(part))
        except ValueError:
            raise ValueError(f"phải là các mã số người dùng cách nhau bằng dấu phẩy, nhận được {part!r}") from None
    return tuple(out)


def _parse_date_list(raw: Any) -> tuple[dt.date, ...]:
    out = []
    for part in _split(raw):
        try:
            out.append(dt.date.fromisoformat(part))
        except ValueError:
            raise ValueError(f"phải là các ngày YYYY-MM-DD cách nhau bằng dấu phẩy, nhận được {part!r}") from None
    return tuple(out)


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"phải là true hoặc false, nhận được {raw!r}")


def _parse_path(raw: Any) -> Path:
    return Path(str(raw).strip()).expanduser()


def _parse_optional_path(raw: Any) -> Path | None:
    if raw is None or not str(raw).strip():
        return None
    return _parse_path(raw)


def _parse_timezone(raw: Any) -> str:
    name = _parse_str(raw)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"không có múi giờ {name!r} (ví dụ đúng: Asia/Ho_Chi_Minh)") from None
    return name


def _parse_time(raw: Any) -> dt.time:
    if isinstance(raw, dt.time):
        return raw
    try:
        return dt.time.fromisoformat(str(raw).strip())
    except ValueError:
        raise ValueError(f"phải là giờ dạng HH:MM, nhận được {raw!r}") from None


def _parse_days_by_category(raw: Any) -> dict[str, int]:
    # One number applies to every category.
    if (isinstance(raw, int) and not isinstance(raw, bool)) or (isinstance(raw, str) and raw.strip().isdigit()):
        days = _parse_positive_int(raw)
        return dict.fromkeys(CATEGORIES, days)
    if isinstance(raw, Mapping):
        items = [(str(k), v) for k, v in raw.items()]
    else:
        items = []
        for part in _split(raw):
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"phải có dạng lĩnh_vực=số_ngày hoặc một số cho mọi lĩnh vực, nhận được {part!r}")
            items.append((key.strip(), value.strip()))
    out: dict[str, int] = {}
    for key, value in items:
        if key not in CATEGORIES:
            raise ValueError(f"không có lĩnh vực {key!r} (các lĩnh vực: {', '.join(CATEGORIES)})")
        out[key] = _parse_positive_int(value)
    missing = [c for c in CATEGORIES if c not in out]
    if missing:
        raise ValueError(f"thiếu lĩnh vực: {', '.join(missing)}")
    return out


def _parse_cutoff(raw: Any) -> str:
    value = _parse_str(raw)
    if value not in {"nd09", "calendar"}:
        raise ValueError(f"phải là nd09 hoặc calendar, nhận được {value!r}")
    return value


def _parse_url(raw: Any) -> str:
    value = _parse_str(raw)
    if value and not value.startswith(("http://", "https://")):
        raise ValueError(f"phải bắt đầu bằng http:// hoặc https://, nhận được {value!r}")
    return value


def _parse_https_url(raw: Any) -> str:
    value = _parse_str(raw)
    if value and not value.startswith("https://"):
        raise ValueError(f"phải bắt đầu bằng https:// (Telegram chỉ gửi webhook qua HTTPS), nhận được {value!r}")
    return value


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_WORDS = {
    **{day: n for n, day in enumerate(WEEKDAYS)},
    **{day[:3]: n for n, day in enumerate(WEEKDAYS)},
    "thu hai": 0, "thu ba": 1, "thu tu": 2, "thu nam": 3, "thu sau": 4, "thu bay": 5, "chu nhat": 6,
    "t2": 0, "t3": 1, "t4": 2, "t5": 3, "t6": 4, "t7": 5, "cn": 6,
}


def _parse_weekday(raw: Any) -> int | None:
    """A day of the week (Monday = 0), in English or Vietnamese; empty: never."""
    import unicodedata

    text = unicodedata.normalize("NFD", _parse_str(raw).casefold().replace("đ", "d"))
    text = " ".join("".join(ch for ch in text if not unicodedata.combining(ch)).split())
    if not text:
        return None
    if text not in _WEEKDAY_WORDS:
        raise ValueError(f"phải là một ngày trong tuần (ví dụ thursday hoặc thứ năm), nhận được {raw!r}")
    return _WEEKDAY_WORDS[text]


def _parse_port(raw: Any) -> int:
    value = _parse_int(raw)
    if not 0 <= value <= 65535:
        raise ValueError(f"cổng phải từ 0 đến 65535 (0: một cổng còn trống bất kỳ), nhận được {raw!r}")
    return value


def _parse_log_level(raw: Any) -> str:
    value = _parse_str(raw).upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError(f"phải là DEBUG, INFO, WARNING hoặc ERROR, nhận được {raw!r}")
    return value


PARSERS: dict[str, Callable[[Any], Any]] = {
    "str": _parse_str,
    "url": _parse_url,
    "https url": _parse_https_url,
    "count": _parse_count,
    "int": _parse_int,
    "positive int": _parse_positive_int,
    "optional int": _parse_optional_int,
    "int list": _parse_int_list,
    "date list": _parse_date_list,
    "bool": _parse_bool,
    "path": _parse_path,
    "optional path": _parse_optional_path,
    "timezone": _parse_timezone,
    "time": _parse_time,
    "days by category": _parse_days_by_category,
    "cutoff": _parse_cutoff,
    "log level": _parse_log_level,
    "weekday": _parse_weekday,
    "port": _parse_port,
}

# Settings that were renamed: naming one of them is an error that says the new name, not a silent default.
RENAMED = {"WEBHOOK_LISTEN": "HTTP_LISTEN", "WEBHOOK_PORT": "HTTP_PORT"}

_DEFAULT_DAYS = ",".join(f"{c}=10" for c in CATEGORIES)

SETTINGS: tuple[Setting, ...] = (
    # --- channels
    Setting("TELEGRAM_BOT_TOKEN", "str", "", "Bot token from @BotFather. Empty: no Telegram (`python -m bot run` needs it "
            "or the Zalo OA settings; bare `python -m bot` then starts the console chat).", secret=True),
    Setting("TELEGRAM_BASE_URL", "url", "https://api.telegram.org/bot",
            "Bot API base URL, as python-telegram-bot's `base_url` (e.g. `http://127.0.0.1:8081/bot` for a "
            "self-hosted Bot API server)."),
    Setting("TELEGRAM_BASE_FILE_URL", "url", "",
            "Bot API file URL; empty: derived from `TELEGRAM_BASE_URL` (`.../bot` → `.../file/bot`)."),
    Setting("WEBHOOK_URL", "https url", "", "Public HTTPS URL of the Telegram webhook, served by the HTTP server at "
            "this URL's path. Empty: long polling."),
    Setting("WEBHOOK_SECRET", "str", "", "Secret Telegram sends in `X-Telegram-Bot-Api-Secret-Token`; required "
            "with `WEBHOOK_URL` (1–256 characters A-Z a-z 0-9 _ -).", secret=True),
    Setting("HTTP_LISTEN", "str", "127.0.0.1", "Address of the HTTP server (Telegram webhook, Zalo webhook, "
            "`/healthz`), behind a reverse proxy."),
    Setting("HTTP_PORT", "port", 8080, "Port of the HTTP server (0: any free port, printed at start)."),
    Setting("ZALO_OA_ID", "str", "", "Zalo Official Account id. With the other `ZALO_` secrets set, the bot "
            "runs on the Zalo OA."),
    Setting("ZALO_APP_ID", "str", "", "Id of the Zalo app that manages the OA (developers.zalo.me)."),
    Setting("ZALO_APP_SECRET", "str", "", "The Zalo app's secret key: refreshes access tokens.", secret=True),
    Setting("ZALO_OA_SECRET_KEY", "str", "", "The OA secret key of the app's webhook: signs every webhook event.",
            secret=True),
    Setting("ZALO_REFRESH_TOKEN", "str", "", "The first OA refresh token (the bot then stores and rotates its own).",
            secret=True),
    Setting("ZALO_API_BASE_URL", "url", "https://openapi.zalo.me", "Zalo OA Open API base URL."),
    Setting("ZALO_OAUTH_BASE_URL", "url", "https://oauth.zaloapp.com", "Zalo OAuth base URL (token refresh)."),
    Setting("ZALO_INFO_IMAGE_URL", "url", "", "Image shown on the Zalo card that asks a citizen to share their "
            "contact details (`request_user_info`; Zalo may require one)."),
    Setting("ZALO_VERIFY_SIGNATURE", "bool", True, "Refuse webhook events without a valid `X-ZEvent-Signature`. "
            "Off only while connecting a new OA: bad signatures are then logged loudly and accepted."),
    # --- people
    Setting("STAFF_CHAT_ID", "optional int", None, "Telegram id of the staff group that receives case cards."),
    Setting("ADMIN_IDS", "int list", (), "Comma-separated Telegram user ids of administrators."),
    # --- storage and data
    Setting("PAKN_DB", "path", Path("data/pakn.sqlite3"), "SQLite database file."),
    Setting("PAKN_KB_DIR", "path", SHIPPED_KB_DIR, "Knowledge base folder (default: the shipped one)."),
    Setting("PAKN_TEMPLATES_DIR", "optional path", None,
            "Folder with report templates that override the shipped ones (same file names)."),
    Setting("PAKN_TIMEZONE", "timezone", "Asia/Ho_Chi_Minh", "Time zone for dates, deadlines and reminders."),
    Setting("LOG_LEVEL", "log level", "INFO", "Logging level (personal data is never logged)."),
    # --- organisation facts used in answers
    Setting("ORG_NAME", "str", "Sở Ngoại vụ thành phố Hải Phòng", "Full name of the department."),
    Setting("ORG_SHORT_NAME", "str", "Sở Ngoại vụ", "Short name used in sentences and reports."),
    Setting("ORG_HOTLINE", "str", "", "Department hotline for PAKN (empty until the department sets it)."),
    Setting("ORG_SWITCHBOARD", "str", "1022", "City switchboard that helps with administrative procedures."),
    Setting("ORG_ADDRESS", "str", "", "Office address (empty until the department sets it)."),
    Setting("ORG_WORKING_HOURS", "str", "", "Office working hours (empty until the department sets it)."),
    Setting("ORG_EMAIL", "str", "", "Department e-mail for PAKN (empty until the department sets it)."),
    Setting("ORG_WEBSITE", "url", "https://songoaivu.haiphong.gov.vn", "Department website."),
    Setting("ORG_PROCEDURES_URL", "url", "https://songoaivu.haiphong.gov.vn/thu-tuc-hanh-chinh",
            "Page listing the department's administrative procedures."),
    Setting("ORG_PORTAL_URL", "url", "https://dichvucong.gov.vn",
            "National public-service portal (Cổng Dịch vụ công quốc gia)."),
    # --- PAKN rules
    Setting("PAKN_ANSWER_DAYS", "days by category", _DEFAULT_DAYS,
            "Working days to answer a PAKN, per category. The default 10 is the department's own rule: "
            "Nghị định 20/2008 sets no general answer deadline. One number applies to every category.",
            maximum=365),
    Setting("PAKN_FORWARD_DAYS", "positive int", 5,
            "Working days to forward a PAKN to the competent body (Nghị định 20/2008, Điều 9).", maximum=365),
    Setting("EXTRA_HOLIDAYS", "date list", (), "Extra days off (YYYY-MM-DD, comma-separated), e.g. a new swap."),
    Setting("EXTRA_WORKDAYS", "date list", (), "Weekend days that are worked (YYYY-MM-DD, comma-separated)."),
    Setting("PAKN_IDLE_MINUTES", "positive int", 30,
            "Minutes of silence after which an unfinished PAKN, a staff step or a rating comment expires.",
            maximum=7 * 24 * 60),
    Setting("PAKN_DAILY_LIMIT", "positive int", 5, "New PAKN one citizen may send per day.", maximum=1000),
    Setting("PAKN_MAX_ATTACHMENTS", "count", 5, "Attachments per PAKN (0: none).", maximum=50),
    Setting("PAKN_MAX_ATTACHMENT_MB", "positive int", 20, "Largest attachment accepted, in MB (the Bot API "
            "downloads at most 20 MB; a self-hosted Bot API server up to 2000).", maximum=2000),
    Setting("OUTBOX_KEEP_DAYS", "positive int", 2,
            "Days a delivered (or undeliverable) outbox message is kept before it is deleted with its text.",
            maximum=365),
    Setting("UNANSWERED_KEEP_DAYS", "positive int", 180,
            "Days an unanswered question is kept for staff (/chuahoi) before it is deleted.", maximum=3650),
    Setting("MESSAGES_PER_MINUTE", "positive int", 20,
            "Messages and button presses one person may send per minute; past it they get one warning and the rest "
            "are dropped. Staff are not limited.", maximum=10_000),
    # --- reminders and reports
    Setting("DIGEST_TIME", "time", "08:00", "Time of the daily digest to staff on working days."),
    Setting("REMINDER_DUE_DAYS", "positive int", 2, "Digest lists cases due within this many working days.",
            maximum=60),
    Setting("OVERDUE_CHECK_TIME", "time", "08:05", "Time on working days when newly overdue cases are announced."),
    Setting("REPORT_CUTOFF", "cutoff", "nd09", "Report periods: `nd09` (Nghị định 09/2019, 15th–14th) or `calendar`."),
    Setting("REPORT_MONTHLY", "bool", True, "Send the monthly report to the staff group the day after the cut-off."),
    Setting("REPORT_TIME", "time", "08:00", "Time of the scheduled monthly report."),
    Setting("WEEKLY_SUMMARY_DAY", "weekday", "thursday",
            "Day of the weekly summary to the staff group (received, answered, overdue, due soon); e.g. `thursday` "
            "or `thứ năm`; empty: none. Sent only on a working day."),
    Setting("WEEKLY_SUMMARY_TIME", "time", "16:30", "Time of the weekly summary."),
    # --- web console and public page
    Setting("WEB_BASE_URL", "url", "",
            "Public address of the web console and public page (e.g. `https://pakn.example.gov.vn`); `/web` sign-in "
            "links start with it. Empty: `/web` says the console is not set up. With https the session cookie is "
            "Secure."),
    Setting("BOT_TELEGRAM_LINK", "url", "",
            "Link to the bot on Telegram shown on the home page (e.g. `https://t.me/pakn_bot`)."),
    Setting("BOT_ZALO_LINK", "url", "",
            "Link to the department's Zalo Official Account shown on the home page (e.g. `https://zalo.me/...`)."),
)

_BY_NAME = {s.name: s for s in SETTINGS}
# All of these set: the bot runs on the Zalo OA; some of them: an error naming the first missing one.
ZALO_REQUIRED = ("ZALO_OA_ID", "ZALO_APP_ID", "ZALO_APP_SECRET", "ZALO_OA_SECRET_KEY", "ZALO_REFRESH_TOKEN")


class Settings:
    """Resolved settings; attributes are the lower-case setting names."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name.upper()]
        except KeyError:
            raise AttributeError(name) from None

    def get(self, name: str) -> Any:
        return self._values[name]

    def replace(self, **changes: Any) -> Settings:
        values = dict(self._values)
        for key, raw in changes.items():
            setting = _BY_NAME[key.upper()]
            values[setting.name] = raw if not isinstance(raw, str) else _parse(setting, raw)
        return Settings(values)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self._values["PAKN_TIMEZONE"])

    @property
    def zalo_enabled(self) -> bool:
        return all(self._values[name] for name in ZALO_REQUIRED)

    def org_context(self) -> dict[str, str]:
        """Organisation facts for Jinja2 placeholders in answers (``{{ org.hotline }}``)."""
        return {
            key[4:].lower(): str(value or "") for key, value in self._values.items() if key.startswith("ORG_")
        }


def _parse(setting: Setting, raw: Any) -> Any:
    try:
        value = PARSERS[setting.type](raw)
    except ValueError as exc:
        raise SettingsError(setting.name, str(exc)) from None
    if setting.maximum is not None:
        numbers = value.values() if isinstance(value, Mapping) else [value]
        too_big = [n for n in numbers if isinstance(n, int) and n > setting.maximum]
        if too_big:
            raise SettingsError(setting.name, f"không được quá {setting.maximum}, nhận được {too_big[0]}")
    return value


def load_settings(
    config_file: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Defaults, then the TOML file, then the environment, then explicit overrides."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {s.name: s.default for s in SETTINGS}
    path = config_file or env.get("PAKN_CONFIG") or None
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise SettingsError("PAKN_CONFIG", f"không đọc được {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError("PAKN_CONFIG", f"{path} không phải tệp TOML hợp lệ: {exc}") from None
        for key, value in data.items():
            name = key.upper()
            if name in RENAMED:
                raise SettingsError(name, f"đã đổi tên thành {RENAMED[name]} (trong {path})")
            if name not in _BY_NAME:
                close = difflib.get_close_matches(name, list(_BY_NAME), n=1, cutoff=0.7)
                hint = f"; có phải ý bạn là {close[0].lower()}?" if close else ""
                raise SettingsError(name, f"không có cài đặt này trong {path}{hint}")
            raw[name] = value
    for old, new in RENAMED.items():
        if old in env:
            raise SettingsError(old, f"đã đổi tên thành {new}")
    for setting in SETTINGS:
        if setting.name in env:
            raw[setting.name] = env[setting.name]
    for key, value in (overrides or {}).items():
        raw[key.upper()] = value
    values: dict[str, Any] = {
        s.name: _parse(s, raw[s.name]) if raw[s.name] is not None else None for s in SETTINGS
    }
    if values["WEBHOOK_URL"] and not values["WEBHOOK_SECRET"]:
        raise SettingsError("WEBHOOK_SECRET", "phải có khi đã đặt WEBHOOK_URL")
    secret = values["WEBHOOK_SECRET"]
    if secret and (len(secret) > 256 or not all(c.isascii() and (c.isalnum() or c in "_-") for c in secret)):
        raise SettingsError("WEBHOOK_SECRET", "phải gồm 1–256 ký tự A-Z a-z 0-9 _ -")
    zalo = [name for name in ZALO_REQUIRED if values[name]]
    if zalo and len(zalo) < len(ZALO_REQUIRED):
        missing = next(name for name in ZALO_REQUIRED if not values[name])
        raise SettingsError(missing, "phải có cùng các cài đặt Zalo OA khác (đã đặt " + ", ".join(zalo) + ")")
    overlap = set(values["EXTRA_HOLIDAYS"]) & set(values["EXTRA_WORKDAYS"])
    if overlap:
        day = min(overlap).isoformat()
        raise SettingsError("EXTRA_WORKDAYS", f"{day} cũng có trong EXTRA_HOLIDAYS")
    return Settings(values)


def written(value: Any) -> str:
    """A value as one writes it in the environment (or a TOML string): ``123,456``, ``08:00``, ``true``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.time):
        return value.strftime("%H:%M") if not value.second else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return ",".join(f"{k}={written(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ",".join(written(v) for v in value)
    return str(value)


def settings_table() -> str:
    """The Markdown table of settings, as the README shows it."""
    lines = ["| Setting | Type | Default | Meaning |", "| --- | --- | --- | --- |"]
    for s in SETTINGS:
        kind = s.type if s.maximum is None else f"{s.type} ≤ {s.maximum}"
        lines.append(f"| `{s.name}` | {kind} | {_show_default(s)} | {s.help} |")
    return "\n".join(lines)


def _show_default(setting: Setting) -> str:
    value = setting.default
    if setting.name == "PAKN_KB_DIR":
        return "shipped `knowledge/data`"
    if value is None or value == "" or value == ():
        return "(empty)"
    return f"`{value}`"
