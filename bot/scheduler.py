"""Scheduled work, on one scheduler that belongs to no channel (APScheduler's asyncio scheduler), in
PAKN_TIMEZONE: the staff digest, newly overdue cases, the monthly report, the weekly summary, the expiry of idle PAKN drafts, and
housekeeping: handled updates leave the inbox, old processed update ids, Zalo events, unused stored files and
button tokens are forgotten.

Jobs only write to the database and the outbox (in one transaction each); the channels' outbox senders deliver.
The feature functions are imported when a job runs, so this module does not depend on them at import time.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from storage import outbox

if TYPE_CHECKING:
    from handlers.core import Core

log = logging.getLogger(__name__)

MONTHLY_REPORT = "monthly_report"
WEEKLY_SUMMARY = "weekly_summary"
DRAFT_EXPIRY_EVERY = dt.timedelta(minutes=1)
HOUSEKEEPING_EVERY = dt.timedelta(hours=1)


JobFn = Callable[["Core"], Awaitable[Any]]
# A job that could not run at its time (the machine slept, the loop was busy) still runs within this many seconds.
MISFIRE_GRACE = 3600


class Scheduler:
    """Runs every scheduled job at its local time (every day: the jobs themselves skip days off) and wakes the
    outbox senders when a job queued messages."""

    def __init__(self, core: Core, wake_outbox: Callable[[], None]) -> None:
        self.core = core
        self.wake_outbox = wake_outbox
        settings = core.settings
        self.jobs: dict[str, tuple[JobFn, Any]] = {
            "daily_digest": (daily_digest, _daily(settings.digest_time, settings.tz)),
            "overdue_check": (announce_overdue, _daily(settings.overdue_check_time, settings.tz)),
            "expire_drafts": (expire_drafts, IntervalTrigger(seconds=DRAFT_EXPIRY_EVERY.total_seconds())),
            "housekeeping": (housekeeping, IntervalTrigger(seconds=HOUSEKEEPING_EVERY.total_seconds())),
        }
        if settings.report_monthly:
            self.jobs["monthly_report"] = (monthly_report, _daily(settings.report_time, settings.tz))
        self.jobs["weekly_summary"] = (weekly_summary, _daily(settings.weekly_summary_time, settings.tz))
        self._scheduler: AsyncIOScheduler | None = None

    def start(self) -> None:
        """Start in the running event loop."""
        scheduler = AsyncIOScheduler(timezone=self.core.settings.tz)
        for name, (_, trigger) in self.jobs.items():
            scheduler.add_job(self.run, trigger, args=[name], id=name, name=name, coalesce=True,
                              max_instances=1, misfire_grace_time=MISFIRE_GRACE)
        scheduler.start()
        self._scheduler = scheduler

    def stop(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None

    def next_run(self, name: str) -> dt.datetime | None:
        """When the job runs next (aware, local time), or None when the scheduler is not running."""
        job = self._scheduler.get_job(name) if self._scheduler is not None else None
        return None if job is None else job.next_run_time

    async def run(self, name: str) -> None:
        """Run one job now; an error is logged and the scheduler goes on."""
        job, _ = self.jobs[name]
        try:
            if await job(self.core):
                self.wake_outbox()
        except Exception:
            log.exception("scheduled job %s failed", name)


def _daily(time: dt.time, tz: Any) -> CronTrigger:
    return CronTrigger(hour=time.hour, minute=time.minute, second=time.second, timezone=tz)


async def daily_digest(core: Core) -> Any:
    """Morning digest to the staff group: new, due soon and overdue cases with their owners."""
    from handlers.staff import daily_digest as digest

    return await digest(core)


async def announce_overdue(core: Core) -> Any:
    """One message per case that has just become overdue, naming its owner."""
    from handlers.staff import announce_overdue as announce

    return await announce(core)


async def monthly_report(core: Core) -> int:
    """The monthly report to the staff group on the day after the reporting period's cut-off."""
    from handlers.reports import monthly_report_replies

    return await enqueue_monthly_report(core, monthly_report_replies)


async def weekly_summary(core: Core) -> int:
    """The weekly summary to the staff group on WEEKLY_SUMMARY_DAY."""
    from handlers.reports import weekly_summary_replies

    return await enqueue_monthly_report(core, weekly_summary_replies, kind=WEEKLY_SUMMARY)


async def expire_drafts(core: Core) -> Any:
    """Drop PAKN drafts idle longer than PAKN_IDLE_MINUTES, telling each person."""
    from handlers.intake import expire_idle_drafts

    return await expire_idle_drafts(core)


async def enqueue_monthly_report(core: Core, make_replies: Callable[..., Any], *, kind: str = MONTHLY_REPORT) -> int:
    """Put today's report replies (if today is a report day) in the outbox, once per day; return how many."""
    destination = core.staff_destination()
    if destination is None:
        return 0
    today = core.today()
    replies = await make_replies(core, today)
    if not replies:
        return 0
    now = core.now()
    day_start = dt.datetime.combine(today, dt.time(0), tzinfo=core.settings.tz).astimezone(dt.UTC)
    async with core.db.transaction() as tx:
        if await tx.fetchone(
            "SELECT 1 FROM outbox WHERE kind = ? AND created_at >= ? LIMIT 1", (kind, day_start.isoformat())
        ):
            log.info("%s already queued today", kind)
            return 0
        for reply in replies:
            await outbox.enqueue(tx, destination[0], destination[1], kind, reply, now)
    log.info("%s queued (%d messages)", kind, len(replies))
    return len(replies)


async def housekeeping(core: Core) -> bool:
    """Forget handled updates in the inbox, and processed update ids, Zalo events, unused stored files, button
    tokens, delivered outbox messages and idle conversations past their time; remind staff of erasure requests
    close to their deadline (the only thing it queues)."""
    from bot.channels.telegram.inbox import prune
    from handlers.privacy import remind_due_requests
    from storage.retention import prune_bookkeeping

    now = core.now()
    settings = core.settings
    await prune(core.db, now)
    pruned = await prune_bookkeeping(core.db, now, settings.unanswered_keep_days,
                                     outbox_keep_days=settings.outbox_keep_days,
                                     idle_minutes=settings.pakn_idle_minutes)
    if any(pruned.values()):
        log.info("housekeeping: forgot %s", ", ".join(f"{n} {what}" for what, n in pruned.items()))
    return await remind_due_requests(core) > 0
