"""Report pages: the funnel, the forecast with attainment, and the monthly targets (settings).

Charts are SVG drawn on the server (no script, nothing from a CDN); the views work out the
geometry, the templates only place it. Errors become pages as in settings: no permission →
403, another workspace's pipeline → 404, a bad period → the form's error.
"""

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from huike.accounts.access import Actor
from huike.accounts.settings_views.common import settings_page
from huike.core.errors import ConflictError, InvalidInputError
from huike.sales import reports, targets
from huike.sales.access import access_pipeline, access_target
from huike.sales.forms_reports import ForecastForm, FunnelForm, TargetForm
from huike.sales.funnel import Funnel, FunnelStage, funnel_report
from huike.sales.models import Pipeline

TEMPLATES = "sales/reports/"
# The funnel chart's geometry (SVG user units; the chart scales to the page's width).
FUNNEL_WIDTH = 360
FUNNEL_ROW = 46
FUNNEL_BAR = 22
FUNNEL_MIN_BAR = 6


def duration_label(seconds: int | None) -> str:
    """A time in a stage the way a person says it: minutes, hours or days."""
    if seconds is None:
        return "—"
    if seconds < 3600:
        minutes = max(1, round(seconds / 60))
        return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}
    if seconds < 2 * 86400:
        hours = round(seconds / 3600, 1)
        return _("%(count)s hours") % {"count": f"{hours:g}"}
    days = round(seconds / 86400, 1)
    return _("%(count)s days") % {"count": f"{days:g}"}


@dataclass(frozen=True)
class FunnelBar:
    row: FunnelStage
    x: float
    y: float
    width: float
    label_y: float
    duration: str
    conversion: str  # "71.4%", empty for the first stage


def percent_label(rate: float | None) -> str:
    return "" if rate is None else f"{rate * 100:.1f}%"


def funnel_chart(funnel: Funnel) -> tuple[list[FunnelBar], int]:
    """Bars narrowing with the share of deals that got that far, centred; the SVG's height."""
    bars = []
    for index, row in enumerate(funnel.stages):
        width = max(FUNNEL_MIN_BAR, round(FUNNEL_WIDTH * row.share_of_top, 1))
        top = index * FUNNEL_ROW
        bars.append(
            FunnelBar(
                row=row,
                x=round((FUNNEL_WIDTH - width) / 2, 1),
                y=top + 18,
                width=width,
                label_y=top + 13,
                duration=duration_label(row.average_seconds),
                conversion=percent_label(row.conversion_rate),
            )
        )
    return bars, max(1, len(bars)) * FUNNEL_ROW


def _default_pipeline(actor: Actor) -> Pipeline | None:
    pipelines = Pipeline.objects.filter(workspace=actor.workspace, is_archived=False)
    return pipelines.filter(is_default=True).first() or pipelines.first()


@settings_page
@require_GET
def funnel(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("forecast.view")
    form = FunnelForm(request.GET, actor=actor)
    report = None
    if form.is_valid():
        pipeline_id = form.pipeline_id
        pipeline = access_pipeline(actor, pipeline_id) if pipeline_id else _default_pipeline(actor)
        if pipeline is not None:
            try:
                report = funnel_report(actor, pipeline, form.date_from, form.date_to)
            except InvalidInputError as error:
                form.add_error(error.field if error.field in form.fields else None, error.detail)
    if report is not None:
        # Show the pipeline and period the report is for in the pickers, defaults included.
        data = request.GET.copy()
        data["pipeline"] = str(report.pipeline.public_id)
        data["from"] = report.date_from.isoformat()
        data["to"] = report.date_to.isoformat()
        form = FunnelForm(data, actor=actor)
        form.is_valid()
    bars, height = funnel_chart(report) if report is not None else ([], 0)
    return render(
        request,
        f"{TEMPLATES}funnel.html",
        {
            "form": form,
            "report": report,
            "bars": bars,
            "chart_width": FUNNEL_WIDTH,
            "chart_height": height,
            "bar_height": FUNNEL_BAR,
        },
    )


# --- forecast -------------------------------------------------------------------------------
CHART_WIDTH = 360
CHART_HEIGHT = 150
CHART_TOP = 14
CHART_LABELS = 16
CHART_HISTORY_MONTHS = 12


@dataclass(frozen=True)
class ChartMonth:
    month: dt.date
    center: float
    bar_x: float
    bar_width: float
    actual: Decimal | None
    actual_y: float
    actual_height: float
    partial: bool  # this month: won so far
    predicted: Decimal | None
    predicted_y: float
    band_y: float
    band_height: float
    backtest: Decimal | None
    backtest_y: float
    show_label: bool


@dataclass(frozen=True)
class ForecastChart:
    months: list[ChartMonth]
    width: int
    height: int
    baseline: float
    line: str  # SVG points of the forecast line


def forecast_chart(report: reports.Forecast) -> ForecastChart | None:
    """Won per month (the last CHART_HISTORY_MONTHS complete ones and this month so far) as
    bars, the statistical forecast as a line with a band of ± its back-test MAE, and each
    back-tested month's forecast as a dot on its bar."""
    statistical = report.statistical
    if not report.show_amounts or not statistical.history:
        return None
    current = report.today.replace(day=1)
    backtested = {point.month: point.predicted for point in statistical.backtest}
    predicted = dict(statistical.forecast)
    so_far = {cell.month: cell.won for cell in report.totals if cell.month == current and cell.won}
    months = [month for month, _amount in statistical.history[-CHART_HISTORY_MONTHS:]]
    months += sorted(set(predicted) | set(so_far))
    actual = dict(statistical.history) | so_far
    error = statistical.mae or Decimal(0)
    values = [*actual.values(), *(value + error for value in predicted.values())]
    top = max([*values, Decimal(1)])
    plot = CHART_HEIGHT - CHART_TOP - CHART_LABELS
    baseline = CHART_TOP + plot

    def y(value: Decimal | None) -> float:
        if value is None:
            return baseline
        return round(baseline - plot * float(max(value, Decimal(0)) / top), 1)

    slot = CHART_WIDTH / max(1, len(months))
    label_every = 1 if len(months) <= 8 else 2
    drawn = []
    for index, month in enumerate(months):
        value = actual.get(month)
        forecast_value = predicted.get(month)
        band_y = y(forecast_value + error) if forecast_value is not None else baseline
        band_bottom = y(forecast_value - error) if forecast_value is not None else baseline
        drawn.append(
            ChartMonth(
                month=month,
                center=round((index + 0.5) * slot, 1),
                bar_x=round(index * slot + slot * 0.15, 1),
                bar_width=round(slot * 0.7, 1),
                actual=value,
                actual_y=y(value),
                actual_height=round(baseline - y(value), 1),
                partial=month == current,
                predicted=forecast_value,
                predicted_y=y(forecast_value),
                band_y=band_y,
                band_height=round(band_bottom - band_y, 1),
                backtest=backtested.get(month),
                backtest_y=y(backtested.get(month)),
                show_label=(len(months) - 1 - index) % label_every == 0,
            )
        )
    line = " ".join(
        f"{item.center},{item.predicted_y}" for item in drawn if item.predicted is not None
    )
    return ForecastChart(
        months=drawn, width=CHART_WIDTH, height=CHART_HEIGHT, baseline=baseline, line=line
    )


@settings_page
@require_GET
def forecast(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("forecast.view")
    form = ForecastForm(request.GET, actor=actor, currencies=reports.forecast_currencies(actor, ""))
    report = None
    if form.is_valid():
        pipeline_id = form.pipeline_id
        try:
            report = reports.forecast_report(
                actor,
                pipeline=access_pipeline(actor, pipeline_id) if pipeline_id else None,
                period=form.cleaned_data["period"],
                group=form.cleaned_data["group"] or "rep",
                currency=form.cleaned_data["currency"] or None,
            )
        except InvalidInputError as error:
            form.add_error(error.field if error.field in form.fields else None, error.detail)
    return render(
        request,
        f"{TEMPLATES}forecast.html",
        {
            "form": form,
            "report": report,
            "chart": forecast_chart(report) if report is not None else None,
            "min_history": reports.MIN_HISTORY_MONTHS,
            "backtest_months": reports.BACKTEST_MONTHS,
        },
    )


# --- targets (settings) ---------------------------------------------------------------------
def _month_param(request: HttpRequest, actor: Actor) -> dt.date:
    try:
        return reports.forecast_months(request.GET.get("month") or None, actor.workspace.today())[0]
    except InvalidInputError:
        return actor.workspace.today().replace(day=1)


@settings_page
@require_http_methods(["GET", "POST"])
def settings_targets(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("targets.manage")
    month = _month_param(request, actor)
    form = TargetForm(
        request.POST if request.method == "POST" else None,
        actor=actor,
        initial={"month": f"{month:%Y-%m}"},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            target, created = targets.target_set(
                actor=actor,
                month=data["month"],
                amount=data["amount"],
                currency=data["currency"],
                membership=data["membership"],
                team=data["team"],
            )
        except (InvalidInputError, ConflictError) as error:
            form.add_error(None, error.detail)
        else:
            messages.success(request, _("Target set.") if created else _("Target changed."))
            return redirect(f"{reverse('sales:settings_targets')}?month={target.month:%Y-%m}")
    month_targets = (
        reports.visible_targets(actor)
        .filter(month=month)
        .select_related("membership__user", "team")
        .order_by("team__name", "membership__user__full_name", "membership__user__email")
    )
    return render(
        request,
        f"{TEMPLATES}settings_targets.html",
        {
            "form": form,
            "month": month,
            "previous_month": reports.month_add(month, -1),
            "next_month": reports.month_add(month, 1),
            "targets": month_targets,
        },
    )


@settings_page
@require_POST
def target_delete(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("targets.manage")
    target = access_target(actor, public_id)
    targets.target_delete(actor=actor, target=target)
    messages.success(request, _("Target deleted."))
    return redirect(f"{reverse('sales:settings_targets')}?month={target.month:%Y-%m}")
