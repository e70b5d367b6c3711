"""An IT officer installs the bot with pip: the knowledge base and templates must come with it."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_data_file_in_a_package_is_shipped() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    packages = config["packages"]
    package_data = config["package-data"]
    missing = []
    for package in packages:
        folder = ROOT / package.replace(".", "/")
        for path in folder.iterdir():
            if path.is_dir() or path.suffix in {".py", ".pyc"}:
                continue
            if not any(fnmatch.fnmatch(path.name, pattern) for pattern in package_data.get(package, [])):
                missing.append(str(path.relative_to(ROOT)))
    assert missing == [], f"not shipped in the wheel: {missing}"


def test_every_folder_with_python_or_data_is_a_listed_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for top in ("bot", "handlers", "knowledge", "storage"):
        for folder in [ROOT / top, *(p for p in (ROOT / top).rglob("*") if p.is_dir())]:
            if folder.name == "__pycache__":
                continue
            if any(f.is_file() and f.suffix != ".pyc" for f in folder.iterdir()):
                found.add(".".join(folder.relative_to(ROOT).parts))
    assert found <= listed, f"folders that would be left out of the wheel: {sorted(found - listed)}"


def test_shipped_knowledge_base_is_found_from_the_installed_package() -> None:
    from bot.settings import SHIPPED_KB_DIR

    assert (SHIPPED_KB_DIR / "__init__.py").exists()
    assert len(list(SHIPPED_KB_DIR.glob("*.yaml"))) >= 3
