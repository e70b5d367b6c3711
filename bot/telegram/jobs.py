"""Scheduled work on python-telegram-bot's JobQueue, in PAKN_TIMEZONE: the staff digest, newly overdue cases,
the monthly report, the expiry of idle PAKN drafts, and housekeeping: handled updates leave the inbox, old
processed update ids and button tokens are forgotten.

Jobs only write to the database and the outbox (in one transaction each); the outbox sender delivers. The
feature functions are imported when a job runs, so this module does not depend on them at import time.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telegram.ext import CallbackContext, JobQueue

from storage import outbox

if TYPE_CHECKING:
    from handlers.core import Core

log = logging.getLogger(__name__)

MONTHLY_REPORT = "monthly_report"
DRAFT_EXPIRY_EVERY = dt.timedelta(minutes=1)
HOUSEKEEPING_EVERY = dt.timedelta(hours=1)


@dataclass(frozen=True)
class JobServices:
    core: Core
    wake_outbox: Callable[[], None]


def schedule_jobs(job_queue: JobQueue[Any], core: Core, wake_outbox: Callable[[], None]) -> None:
    """Register every scheduled job; times are local (PAKN_TIMEZONE), every day (handlers skip days off)."""
    settings = core.settings
    tz = settings.tz
    data = JobServices(core, wake_outbox)
    job_queue.run_daily(daily_digest_job, time=settings.digest_time.replace(tzinfo=tz), data=data,
                        name="daily_digest")
    job_queue.run_daily(overdue_job, time=settings.overdue_check_time.replace(tzinfo=tz), data=data,
                        name="overdue_check")
    if settings.report_monthly:
        job_queue.run_daily(monthly_report_job, time=settings.report_time.replace(tzinfo=tz), data=data,
                            name="monthly_report")
    job_queue.run_repeating(expire_drafts_job, interval=DRAFT_EXPIRY_EVERY, first=DRAFT_EXPIRY_EVERY,
                            data=data, name="expire_drafts")
    job_queue.run_repeating(housekeeping_job, interval=HOUSEKEEPING_EVERY, first=HOUSEKEEPING_EVERY,
                            data=data, name="housekeeping")


def _services(context: CallbackContext[Any, Any, Any, Any]) -> JobServices:
    job = context.job
    if job is None or not isinstance(job.data, JobServices):
        raise RuntimeError("job started without its services")
    return job.data


async def daily_digest_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    """Morning digest to the staff group: new, due soon and overdue cases with their owners."""
    from handlers.staff import daily_digest

    services = _services(context)
    if await daily_digest(services.core):
        services.wake_outbox()


async def overdue_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    """One message per case that has just become overdue, naming its owner."""
    from handlers.staff import announce_overdue

    services = _services(context)
    if await announce_overdue(services.core):
        services.wake_outbox()


async def monthly_report_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    """The monthly report to the staff group on the day after the reporting period's cut-off."""
    from handlers.reports import monthly_report_replies

    services = _services(context)
    if await enqueue_monthly_report(services.core, monthly_report_replies):
        services.wake_outbox()


async def enqueue_monthly_report(core: Core, make_replies: Callable[..., Any]) -> int:
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
            "SELECT 1 FROM outbox WHERE kind = ? AND created_at >= ? LIMIT 1", (MONTHLY_REPORT, day_start.isoformat())
        ):
            log.info("monthly report already queued today")
            return 0
        for reply in replies:
            await outbox.enqueue(tx, destination[0], destination[1], MONTHLY_REPORT, reply, now)
    log.info("monthly report queued (%d messages)", len(replies))
    return len(replies)


async def expire_drafts_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    """Drop PAKN drafts idle longer than PAKN_IDLE_MINUTES, telling each person."""
    from handlers.intake import expire_idle_drafts

    services = _services(context)
    if await expire_idle_drafts(services.core):
        services.wake_outbox()


async def housekeeping_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    """Forget handled updates in the inbox, and processed update ids and button tokens past their time."""
    from bot.telegram.inbox import prune
    from storage.retention import prune_bookkeeping

    services = _services(context)
    now = services.core.now()
    await prune(services.core.db, now)
    pruned = await prune_bookkeeping(services.core.db, now, services.core.settings.unanswered_keep_days)
    if any(pruned.values()):
        log.info("housekeeping: forgot %s", ", ".join(f"{n} {what}" for what, n in pruned.items()))
