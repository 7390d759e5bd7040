"""Reports for supervisors and admins — what incidents cost and how fast we answered
them, on one page and as CSV files — and the incident list as a CSV file."""

from datetime import date

from flask import Blueprint, render_template, request, stream_with_context, url_for
from flask_login import current_user

from fieldsvc import clock
from fieldsvc.auth.access import EVERYONE, role_required
from fieldsvc.auth.models import Role
from fieldsvc.database import utcnow
from fieldsvc.errors import FieldError
from fieldsvc.incidents.views import list_filters
from fieldsvc.reports import exports, services
from fieldsvc.reports.forms import ChooseReportPeriodForm
from fieldsvc.reports.services import CostGrouping, Period

bp = Blueprint("reports", __name__)

PERIOD_PARAMETERS = ("from", "to")
COST_REPORTS = {f"cost-by-{grouping.value}": grouping for grouping in CostGrouping}
RESPONSE_TIMES = "response-times"
REPORT_NAMES = (*COST_REPORTS, RESPONSE_TIMES)
STAFF = (Role.SUPERVISOR, Role.ADMIN)


@bp.app_template_filter("hours_or_dash")
def hours_or_dash(value: float | None) -> str:
    """Hours to one decimal, "—" when no incident reached the step."""
    return "—" if value is None else f"{exports.hours(value):.1f}"


@bp.get("/reports")
@role_required(*STAFF)
def index():
    form, period, problems = _period_asked_for()
    if period is None:
        return _page(form, problems), 400
    user = current_user
    costs = services.costs(user, period)
    return _page(
        form,
        period=period,
        costs=[
            (name, grouping, costs.groupings[grouping]) for name, grouping in COST_REPORTS.items()
        ],
        total=costs.total,
        response_times=services.response_times(user, period),
        csv_urls={name: _csv_url(name, period) for name in REPORT_NAMES},
    )


@bp.get("/reports/<name>.csv")
@role_required(*STAFF)
def export(name: str):
    form, period, problems = _period_asked_for()
    if name not in REPORT_NAMES:
        problems = [
            f"There is no report “{name}”; the reports are {', '.join(REPORT_NAMES)}.",
            *problems,
        ]
    if problems or period is None:
        return _page(form, problems), 400
    filename = f"{name}-{period.first:%Y-%m-%d}-to-{period.last:%Y-%m-%d}.csv"
    user = current_user._get_current_object()
    # Streamed: the header goes out at once, the figures follow as they are read.
    if name == RESPONSE_TIMES:
        lines = exports.response_time_lines(lambda: services.response_times(user, period))
    else:
        grouping = COST_REPORTS[name]
        lines = exports.cost_lines(
            grouping, lambda: services.cost_of_incidents(user, period, grouping)
        )
    return exports.csv_response(filename, stream_with_context(lines))


@bp.get("/incidents/export.csv")
@role_required(*EVERYONE)
def incident_list_csv():
    """Every incident the list shows with the same filters (not just one page)."""
    filters = list_filters(request.args)
    rows = services.matching_incidents(current_user._get_current_object(), filters, now=utcnow())
    filename = f"incidents-{_today():%Y-%m-%d}.csv"
    return exports.csv_response(filename, stream_with_context(exports.incident_list_lines(rows)))


def _today() -> date:
    return clock.to_local(utcnow()).date()


def _period_asked_for() -> tuple[ChooseReportPeriodForm, Period | None, list[str]]:
    """The form as filled in, and the period (None when the query string is wrong).
    A wrong date is told next to its field; anything else wrong is in the list."""
    form = ChooseReportPeriodForm(formdata=request.args)
    unknown = [name for name in request.args if name not in PERIOD_PARAMETERS]
    if unknown:
        problems = [
            f"Unknown parameter “{name}”: reports take only “from” and “to”, dates as YYYY-MM-DD."
            for name in unknown
        ]
        return form, None, problems
    if not form.validate():
        return form, None, []
    try:
        period = services.report_period(form.first.data, form.last.data, today=_today())
    except FieldError as error:
        field = form.first if error.field == "from" else form.last
        field.errors = [*field.errors, error.message]
        return form, None, []
    # Show the dates used, defaults included.
    for field, value in ((form.first, period.first), (form.last, period.last)):
        field.data, field.raw_data = value, None
    return form, period, []


def _csv_url(name: str, period: Period) -> str:
    return url_for(
        ".export",
        name=name,
        **{"from": f"{period.first:%Y-%m-%d}", "to": f"{period.last:%Y-%m-%d}"},
    )


def _page(form: ChooseReportPeriodForm, problems: list[str] | None = None, **context) -> str:
    return render_template(
        "reports/index.html",
        form=form,
        problems=problems or [],
        reported_by_customer=services.REPORTED_BY_CUSTOMER,
        **context,
    )
