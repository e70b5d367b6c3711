"""``python -m bot SUBCOMMAND``: the command line of the bot.

Each subcommand lives in a ``bot/cmd_<name>.py`` module with ``add_parser(subparsers)`` and ``run(args)``.
Errors are one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from bot.settings import Settings, SettingsError, load_settings

SUBCOMMANDS = (
    "run", "chat", "backup", "ask", "kb", "deadline", "report", "import", "export", "purge", "settings",
)


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _modules() -> dict[str, ModuleType]:
    found = {}
    for name in SUBCOMMANDS:
        try:
            found[name] = importlib.import_module(f"bot.cmd_{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bot.cmd_{name}":
                raise
    return found


def build_parser(modules: dict[str, ModuleType]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="PAKN bot: procedure Q&A, citizen feedback (PAKN) intake, staff triage and reports.",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML settings file (or set PAKN_CONFIG)")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")
    for module in modules.values():
        module.add_parser(sub)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings for a subcommand; a bad value becomes a one-line error with exit status 2."""
    try:
        return load_settings(getattr(args, "config", None))
    except SettingsError as exc:
        raise CliError(f"Invalid setting {exc.name}: {exc.why}", code=2) from None


def main(argv: Sequence[str] | None = None) -> int:
    modules = _modules()
    parser = build_parser(modules)
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args([*(sys.argv[1:] if argv is None else argv), "run"])
        # No subcommand: without any channel configured, the console chat starts (see bot/cmd_run.py).
        args.implicit = True
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        result: int = modules[args.command].run(args)
        return result
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
