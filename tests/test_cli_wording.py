"""What department staff read when they run the bot's everyday commands is Vietnamese (option and setting names
stay as they are): the `--help` of run, ask, kb, case and web, and the one line `run` prints when it cannot go on."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from tests.fake_bot_api import DEFAULT_TOKEN, FakeBotApi

REPO = Path(__file__).resolve().parent.parent
# Words of English prose; none of them is an option, a setting or a metavar of these commands.
ENGLISH = re.compile(r"\b(the|and|or|of|with|when|default|show|this|help message|exit|print|run|folder|question|"
                     r"channel|configured|every|problem|knowledge|database|file)\b")


@pytest.mark.parametrize("command", [["run"], ["ask"], ["kb"], ["kb", "check"], ["case"], ["web"]])
def test_the_help_staff_read_is_vietnamese(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([*command, "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "Cách dùng:" in out and "hiện hướng dẫn này rồi thoát" in out
    # Option names, metavars in capitals, setting names and paths are not prose: leave them out before looking.
    prose = re.sub(r"--?[a-z][a-z-]*|\b[A-Z_]{2,}\b|/[a-z]+|\b[a-z]+_[a-z_]+\b|\"[a-z]+\"|python -m bot \w+", " ", out)
    assert not ENGLISH.findall(prose), (command, sorted(set(ENGLISH.findall(prose))), out)
async def test_run_on_a_port_already_taken_says_so_in_vietnamese(api: FakeBotApi, tmp_path: Path) -> None:
    from bot.settings import SETTINGS

    api.add_bot()
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    own = {setting.name for setting in SETTINGS}
    env = {k: v for k, v in os.environ.items() if k not in own and not k.startswith(("TELEGRAM_", "PAKN_"))}
    env.update({"PAKN_DB": str(tmp_path / "pakn.sqlite3"), "PYTHONPATH": str(REPO), "HTTP_LISTEN": "127.0.0.1",
                "HTTP_PORT": str(port), "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_BASE_URL": api.base_url,
                "LOG_LEVEL": "ERROR"})
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=REPO, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        taken.close()
    lines = [line for line in stderr.decode().splitlines() if line.strip()]
    assert process.returncode not in (0, None)
    assert len(lines) == 1 and lines[0].startswith(f"lỗi: không lắng nghe được tại 127.0.0.1:{port}"), lines
