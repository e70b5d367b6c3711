"""``python -m bot SUBCOMMAND``: the command line of the bot.

Each subcommand lives in a ``bot/cmd_<name>.py`` module with ``add_parser(subparsers)`` and ``run(args)``.
Errors are one clear line on stderr and a non-zero exit, never a traceback. What department staff read (help,
errors, results) is Vietnamese; option names stay as they are.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from bot.logs import configure_logging, redact_secrets
from bot.settings import Settings, SettingsError, load_settings

SUBCOMMANDS = (
    "run", "chat", "backup", "ask", "kb", "deadline", "report", "import", "export", "purge", "settings", "web",
    "case",
)


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# argparse's own messages, in Vietnamese (patterns over its English wording).
_ARGPARSE_MESSAGES = (
    (re.compile(r"the following arguments are required: (.+)"), r"thiếu tham số bắt buộc: \1"),
    (re.compile(r"unrecognized arguments: (.+)"), r"tham số không nhận ra: \1"),
    (re.compile(r"argument (\S+): invalid choice: (.+?) \(choose from (.+)\)"),
     r"tham số \1: giá trị \2 không hợp lệ (chọn một trong: \3)"),
    (re.compile(r"argument (\S+): expected one argument"), r"tham số \1 cần một giá trị"),
    (re.compile(r"argument (\S+): not allowed with argument (\S+)"), r"tham số \1 không dùng cùng \2"),
    (re.compile(r"argument (\S+): invalid (\w+) value: (.+)"), r"tham số \1: \3 không phải giá trị hợp lệ"),
    (re.compile(r"one of the arguments (.+) is required"), r"cần một trong các tham số \1"),
    (re.compile(r"ambiguous option: (.+)"), r"tùy chọn chưa rõ: \1"),
)


def vietnamese_argparse_message(message: str) -> str:
    for pattern, replacement in _ARGPARSE_MESSAGES:
        if pattern.fullmatch(message):
            return pattern.sub(replacement, message)
    return message


class _Formatter(argparse.HelpFormatter):
    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, prefix="Cách dùng: " if prefix is None else prefix)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help and errors are in Vietnamese."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        add_help = kwargs.get("add_help", True)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self._positionals.title = "tham số"
        self._optionals.title = "tùy chọn"
        if add_help:
            self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS,
                              help="hiện hướng dẫn này rồi thoát")

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"lỗi: {vietnamese_argparse_message(message)}\n")


def _modules() -> dict[str, ModuleType]:
    found = {}
    for name in SUBCOMMANDS:
        try:
            found[name] = importlib.import_module(f"bot.cmd_{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bot.cmd_{name}":
                raise
    return found


CONFIG_HELP = "tệp cài đặt TOML (hoặc đặt biến PAKN_CONFIG)"


def build_parser(modules: dict[str, ModuleType]) -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m bot",
        description="Bot PAKN: hỏi đáp thủ tục, tiếp nhận phản ánh, kiến nghị (PAKN), xử lý của cán bộ và báo cáo.",
    )
    parser.add_argument("--config", metavar="TỆP", help=CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="LỆNH", title="lệnh")
    for module in modules.values():
        module.add_parser(sub)
    # --config works after the subcommand too (``python -m bot report --config f.toml …``).
    for subparser in sub.choices.values():
        subparser.add_argument("--config", metavar="TỆP", default=argparse.SUPPRESS, help=CONFIG_HELP)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings for a subcommand; a bad value becomes a one-line error with exit status 2."""
    try:
        settings = load_settings(getattr(args, "config", None))
    except SettingsError as exc:
        raise CliError(f"Cài đặt {exc.name} không hợp lệ: {exc.why}", code=2) from None
    _log_in_local_time(settings.tz)
    return settings


def _log_in_local_time(tz: Any) -> None:
    """Log lines (on stderr) carry the department's local time (PAKN_TIMEZONE), whatever the server's zone."""

    def converter(seconds: float | None) -> time.struct_time:
        return dt.datetime.fromtimestamp(seconds or time.time(), tz).timetuple()

    for handler in logging.getLogger().handlers:
        if handler.formatter is not None:
            handler.formatter.converter = converter


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass


@contextmanager
def progress_bar(total: int, label: str, *, enabled: bool) -> Iterator[Any]:
    """A progress bar on stderr when it is a terminal (tqdm); nothing at all otherwise."""
    if not enabled:
        yield _NoBar()
        return
    from tqdm import tqdm

    with tqdm(total=total or None, desc=label, unit=" dòng", file=sys.stderr, leave=False, dynamic_ncols=True) as bar:
        yield bar


def write_private(out: Path, content: bytes) -> None:
    """Write a file readable by its owner only (mode 0600: exports and reports hold personal data), whole or
    not at all: through ``FILE.partial``, renamed once complete."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
    tmp.replace(out)


def main(argv: Sequence[str] | None = None) -> int:
    modules = _modules()
    parser = build_parser(modules)
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args([*(sys.argv[1:] if argv is None else argv), "run"])
        # No subcommand: without any channel configured, the console chat starts (see bot/cmd_run.py).
        args.implicit = True
    configure_logging(logging.INFO)
    try:
        result: int = modules[args.command].run(args)
        return result
    except CliError as exc:
        print(f"lỗi: {redact_secrets(str(exc))}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError) as exc:
        print(f"lỗi: {redact_secrets(str(exc))}", file=sys.stderr)
        return 1
