"""Logging that never carries personal data or secrets, at any LOG_LEVEL.

The libraries under the bot log what passes through them at DEBUG and INFO: python-telegram-bot whole updates
and Bot API parameters (names, phones, message texts), httpx and aiohttp every URL (the bot token is part of each
Bot API URL). Their loggers are held at WARNING whatever LOG_LEVEL says (python-telegram-bot's application
keeps its INFO lines, which only say it started and stopped). Every line written, tracebacks included, has the
bot token and the webhook secret replaced by ``***``, so a refused token or a failed URL never shows them.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import Iterable
from types import TracebackType

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log request contents below WARNING.
QUIET_LOGGERS = ("telegram", "httpx", "httpcore", "aiohttp", "tornado", "apscheduler", "hpack", "aiosqlite")
# Lifecycle only ("Application started", "Application.stop() complete").
LIFECYCLE_LOGGERS = ("telegram.ext.Application",)
# Anything shaped like a Bot API token, whether or not it is the configured one.
TOKEN_RE = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{20,}")
MASK = "***"


def setting_secrets(settings: object) -> tuple[str, ...]:
    """The values of every setting declared secret (bot token, webhook secret, Zalo keys)."""
    from bot.settings import SETTINGS

    return tuple(str(getattr(settings, s.name.lower()) or "") for s in SETTINGS if s.secret)


def redact_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the given secrets and anything shaped like a bot token replaced by ``***``."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return TOKEN_RE.sub(MASK, text)


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then masks the secrets anywhere in the line, its traceback and stack included."""

    def __init__(self, fmt: str = FORMAT, secrets: Iterable[str] = ()) -> None:
        super().__init__(fmt)
        self.secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact_secrets(super().format(record), self.secrets)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when the line is written."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def configure_logging(level: str | int = logging.INFO, secrets: Iterable[str] = ()) -> None:
    """The root logger at ``level`` with one redacting handler on stderr; the libraries' loggers held at
    WARNING (their lifecycle lines at INFO); uncaught tracebacks redacted as well."""
    root = logging.getLogger()
    numeric = logging.getLevelName(level) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        numeric = logging.INFO
    root.setLevel(numeric)
    handler = next((h for h in root.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        handler = _StderrHandler()
        root.addHandler(handler)
    if isinstance(handler.formatter, RedactingFormatter):
        # Keep the formatter (and the local-time converter the command line set on it); add the secrets.
        handler.formatter.secrets = tuple(secrets)
    else:
        handler.setFormatter(RedactingFormatter(FORMAT, secrets))
    hidden = tuple(secrets)

    def excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        sys.stderr.write(redact_secrets("".join(traceback.format_exception(kind, value, tb)), hidden))

    sys.excepthook = excepthook
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    for name in LIFECYCLE_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.INFO))
