"""Builds the shared core: the router with every feature registered, and the Core that runs it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from importlib import import_module
from typing import TYPE_CHECKING, Any

from handlers.core import Core, Router
from storage.db import Database

if TYPE_CHECKING:
    from bot.settings import Settings

# Feature modules, each with ``register(router)``. Order matters only for readability.
FEATURES = (
    "handlers.menu",
    "handlers.qa",
    "handlers.intake",
    "handlers.tracking",
    "handlers.staff",
    "handlers.reports",
    "handlers.privacy",
    "handlers.web_signin",
)


def build_router(features: Iterable[str] = FEATURES) -> Router:
    router = Router()
    for name in features:
        import_module(name).register(router)
    return router


def build_core(
    settings: Settings,
    db: Database,
    *,
    kb: Any = None,
    clock: Callable[[], dt.datetime] | None = None,
    extra_admin_ids: Iterable[str] = (),
) -> Core:
    """The core with every feature; loads the knowledge base from settings when none is given."""
    if kb is None:
        from knowledge import load_for_settings

        kb = load_for_settings(settings)
    return Core(settings, db, build_router(), kb=kb, clock=clock, extra_admin_ids=extra_admin_ids)
