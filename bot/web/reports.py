"""``/bao-cao``: the report of any period and cut-off — the department's sentences (with a copy button), the
counts table, charts, and the DOCX, XLSX and CSV files — rendered by ``bot/reports.py`` as chat and CLI do."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot import periods
from bot import reports as rendering
from bot.web import charts, common
from storage import cases
from storage.reports import CATEGORIES

KIND_LABELS = {"month": "Tháng", "quarter": "Quý", "half": "6 tháng", "nine_months": "9 tháng", "year": "Năm",
               "custom": "Từ ngày … đến ngày"}
CUTOFF_LABELS = {"nd09": "Theo Nghị định 09/2019 (15 tháng trước – 14 tháng này)", "calendar": "Theo tháng dương lịch"}
DOWNLOADS = {"docx": "Word (DOCX)", "xlsx": "Excel (XLSX)", "csv": "CSV"}
T_BAD_PERIOD = "Kỳ báo cáo không hợp lệ: {why}. Đang hiển thị kỳ mặc định."

WEEKS_SQL = """
    SELECT strftime('%Y-%m-%d', received_date, 'weekday 1', '-7 days') AS week, category, COUNT(*) AS n
    FROM cases WHERE received_date BETWEEN ? AND ? GROUP BY week, category ORDER BY week
"""


class _Problem(ValueError):
    """A period the form cannot give, in words for the page."""


def _period(request: web.Request, today: dt.date, default_cutoff: str) -> tuple[periods.Period, dict[str, str], str]:
    """The period asked for in the query (or the current month), the form's values, and any problem."""
    q = request.query
    cutoff = q.get("moc", default_cutoff)
    kind = q.get("ky", "month")
    form = {"ky": kind, "moc": cutoff, "nam": q.get("nam", ""), "so": q.get("so", ""), "tu": q.get("tu", ""),
            "den": q.get("den", "")}
    try:
        if cutoff not in periods.CUTOFFS or kind not in periods.KINDS:
            raise _Problem("chọn kỳ và mốc trong danh sách")
        if kind == "custom":
            start, end = dt.date.fromisoformat(form["tu"]), dt.date.fromisoformat(form["den"])
            if (end - start).days > 3660:
                raise _Problem("dài tối đa 10 năm")
            return periods.custom(start, end, cutoff), form, ""
        if not form["nam"]:
            return periods.current(kind, today, cutoff), form, ""
        year = int(form["nam"])
        number = int(form["so"] or "1")
        maker = {"month": lambda: periods.month(year, number, cutoff),
                 "quarter": lambda: periods.quarter(year, number, cutoff),
                 "half": lambda: periods.half(year, number, cutoff),
                 "nine_months": lambda: periods.nine_months(year, cutoff),
                 "year": lambda: periods.year(year, cutoff)}[kind]
        return maker(), form, ""
    except (ValueError, KeyError) as exc:
        why = str(exc) if isinstance(exc, _Problem) else "ngày, năm hoặc số kỳ không đúng"
        return periods.current("month", today, default_cutoff), form, T_BAD_PERIOD.format(why=why)


async def _weeks(request: web.Request, period: periods.Period) -> list[tuple[str, list[int]]]:
    rows = await common.state(request).db.scan(WEEKS_SQL, (period.start.isoformat(), period.end.isoformat()))
    weeks: dict[str, list[int]] = {}
    for row in rows:
        values = weeks.setdefault(str(row["week"]), [0] * len(CATEGORIES))
        if row["category"] in CATEGORIES:
            values[CATEGORIES.index(row["category"])] += int(row["n"])
    return [(dt.date.fromisoformat(week).strftime("%d/%m"), values) for week, values in sorted(weeks.items())]


async def report_page(request: web.Request) -> web.Response:
    """The report page for the chosen period."""
    st = common.state(request)
    period, form, problem = _period(request, st.core.today(), st.settings.report_cutoff)
    report = await rendering.load_report(st.db, period, with_cases=False)
    ctx = rendering.context(report, st.settings)
    counts = report.counts
    total = counts.total
    outcomes = [("Đã xử lý đúng hạn", total.resolved_on_time), ("Đã xử lý quá hạn", total.resolved_late),
                ("Đang xử lý, còn hạn", total.in_progress - total.in_progress_overdue),
                ("Đang xử lý, đã quá hạn", total.in_progress_overdue), ("Không tiếp nhận", total.not_accepted)]
    resolved = total.resolved_on_time + total.resolved_late
    series = [cases.CATEGORY_LABELS[c] for c in CATEGORIES]
    chart_list: list[Any] = [
        charts.stacked_columns(await _weeks(request, period), series, title="PAKN tiếp nhận theo tuần, theo lĩnh vực"),
        charts.bars(outcomes, title="Kết quả xử lý"),
        charts.bars([("Đúng hạn", total.resolved_on_time), ("Quá hạn", total.resolved_late)],
                    title="Tỷ lệ xử lý đúng hạn", percent_of=resolved or None),
        charts.bars([(c["label"], c["count"]) for c in ctx["channels"]], title="Kênh tiếp nhận"),
        charts.bars([(s["label"], s["count"]) for s in ctx["satisfaction"]], title="Mức độ hài lòng",
                    percent_of=counts.rated or None),
    ]
    if problem:
        await common.flash(request, problem, ok=False)
    return await common.render(request, "reports.html", {
        "period": period, "form": form, "kinds": KIND_LABELS, "cutoffs": CUTOFF_LABELS,
        "sentences": rendering.render_text(report, st.settings), "table": ctx["table"], "groups": ctx["groups"],
        "charts": chart_list, "downloads": DOWNLOADS, "problem": problem,
        "on_time_rate": f"{total.resolved_on_time * 100 / resolved:.1f}%" if resolved else "—",
        "query": urlencode({k: v for k, v in form.items() if v}),
    })


async def download(request: web.Request) -> web.Response:
    """The report as a DOCX, XLSX or CSV file."""
    st = common.state(request)
    fmt = request.match_info["fmt"]
    if fmt not in DOWNLOADS:
        raise web.HTTPNotFound()
    period, _, problem = _period(request, st.core.today(), st.settings.report_cutoff)
    if problem:
        return await common.error_page(request, 400, problem)
    report = await rendering.load_report(st.db, period)
    body = rendering.render(report, fmt, st.settings)
    return web.Response(body=body, headers={
        "Content-Type": rendering.MIME_TYPES[fmt],
        "Content-Disposition": f'attachment; filename="{rendering.file_name(report, fmt)}"',
    })


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/bao-cao", report_page, name="web_reports")
    router.add_get("/bao-cao/tai/{fmt}", download)
