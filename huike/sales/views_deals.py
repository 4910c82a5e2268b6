"""Pages of pipelines and deals: the kanban board (one column per stage, its first cards and
"load more" by keyset), the move endpoint the board's drag-and-drop and "move to" selects post
to, the deal list with totals per stage, a deal's page (stage history, activities, contacts,
products, win/lose), the deal form and the pipeline settings.

Thin: objects through huike.sales.access, writes through huike.sales.deals, errors of the
services shown as form errors or messages (or JSON for the board's script). Amounts are shown
only to roles with amounts.view.
"""

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from huike.accounts.access import Actor
from huike.core.errors import ConflictError, HuikeError, InvalidInputError
from huike.core.pagination import paginate
from huike.customers.forms import add_service_error
from huike.customers.views.common import customers_page, page_limit, redirect_back, wants_fragment
from huike.customers.views.sharing import sharing_context
from huike.sales import deals
from huike.sales.access import access_deal, access_pipeline, access_stage, visible_deals
from huike.sales.forms_deals import (
    ActivityForm,
    ContactForm,
    DealFilterForm,
    DealForm,
    PipelineForm,
    PipelineSettingsForm,
    ProductLineForm,
    StageForm,
)
from huike.sales.models import Deal, DealContact, DealProduct, Order, Pipeline, Stage, StageKind

TEMPLATES = "sales/deals/"
LIST_ORDERING = ("-created_at", "-id")
sales_page = customers_page  # the same page rules: sign-in, actor, 403/404/400


def money(amount: Decimal, currency: str) -> str:
    """An amount as shown: thousands grouped, two decimals (the same in English and
    Chinese), with its currency."""
    return f"{amount:,.2f} {currency}"


def _money_list(values: Sequence[deals.Money]) -> str:
    return " + ".join(money(value.amount, value.currency) for value in values) or "0"


def _column_context(totals: deals.StageTotals) -> dict[str, Any]:
    return {
        "count": totals.count,
        "total": _money_list(totals.totals),
        "weighted": _money_list(totals.weighted),
    }


def _board_pipeline(actor: Actor, request: HttpRequest) -> Pipeline:
    chosen = request.GET.get("pipeline")
    if chosen:
        return access_pipeline(actor, chosen)
    actor.require("deals.view")
    return deals.pipeline_default(actor.workspace)


def _board_filters(request: HttpRequest, actor: Actor) -> deals.DealFilters:
    return deals.DealFilters(mine=request.GET.get("mine") == "1" and actor.membership is not None)


def _move_options(stages: Sequence[Stage]) -> dict[int, str]:
    """The <option>s of a card's "move to" select, per stage the card is in: built once per
    page rather than once per card (a board shows 20 cards in every column)."""
    label = _("Move to")
    options: dict[int, str] = {}
    for current in stages:
        options[current.pk] = format_html_join(
            "",
            '<option value="{}" data-kind="{}"{}>{}: {}</option>',
            (
                (
                    stage.public_id,
                    stage.kind,
                    mark_safe(" selected") if stage.pk == current.pk else "",
                    label,
                    stage.name,
                )
                for stage in stages
            ),
        )
    return options


# Any id: reversed once, then the card's id is put in its place (a board shows 20 cards in
# every column; reversing two URLs per card was a fifth of the page's time).
_URL_PLACEHOLDER = uuid.UUID(int=0)


def _cards(actor: Actor, cards: Sequence[Deal], stages: Sequence[Stage]) -> Sequence[Deal]:
    """What a card shows, computed once per page: its links, amount and "move to" options."""
    placeholder = str(_URL_PLACEHOLDER)
    detail = reverse("sales:deal_detail", args=[_URL_PLACEHOLDER])
    move = reverse("sales:deal_move", args=[_URL_PLACEHOLDER])
    options = _move_options(stages) if actor.has("deals.manage") else {}
    for deal in cards:
        public_id = str(deal.public_id)
        deal.detail_url = detail.replace(placeholder, public_id)  # type: ignore[attr-defined]
        deal.move_url = move.replace(placeholder, public_id)  # type: ignore[attr-defined]
        deal.amount_text = money(deal.amount, deal.currency)  # type: ignore[attr-defined]
        deal.move_options = options.get(deal.stage_id, "")  # type: ignore[attr-defined]
    return cards


def _card_context(actor: Actor, request: HttpRequest) -> dict[str, Any]:
    return {
        "show_amounts": actor.has("amounts.view"),
        "can_change": actor.has("deals.manage"),
        "board_url": request.get_full_path(),
        # Translated once, not on each card.
        "card_labels": {
            "move_to": _("Move to"),
            "move": _("Move"),
            "lost_reason": _("Lost reason (for a lost stage)"),
        },
    }


# --- board ----------------------------------------------------------------------------------
@sales_page
@require_GET
def pipeline_board(request: HttpRequest, actor: Actor) -> HttpResponse:
    pipeline = _board_pipeline(actor, request)
    filters = _board_filters(request, actor)
    columns = deals.board_columns(actor, pipeline, filters)
    stages = [column.stage for column in columns]
    for column in columns:
        _cards(actor, column.deals, stages)
    return render(
        request,
        f"{TEMPLATES}board.html",
        {
            "pipeline": pipeline,
            "pipelines": deals.pipeline_list(actor.workspace),
            "columns": [(column, _column_context(column.totals)) for column in columns],
            "mine": filters.mine,
            **_card_context(actor, request),
        },
    )


@sales_page
@require_GET
def board_column(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    """The next cards of one column ("load more"): the page after `cursor`."""
    stage = access_stage(actor, public_id)
    deals_of = deals.deal_search(actor, _board_filters(request, actor))
    cards, next_cursor = deals.board_column_page(
        deals_of, stage, cursor=request.GET.get("cursor") or None
    )
    return render(
        request,
        f"{TEMPLATES}board.html#column_cards",
        {
            "cards": _cards(actor, cards, deals.pipeline_stages(stage.pipeline)),
            "column_stage": stage,
            "next": next_cursor,
            "mine": request.GET.get("mine") == "1",
            **_card_context(actor, request),
        },
    )


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _move_response(
    request: HttpRequest, actor: Actor, deal: Deal, stages: Sequence[Stage]
) -> HttpResponse:
    totals = deals.stage_totals(
        visible_deals(actor).filter(pipeline_id=deal.pipeline_id, stage__in=stages), stages
    )
    show_amounts = actor.has("amounts.view")
    columns = {}
    for stage in stages:
        context = _column_context(totals[stage.pk])
        if not show_amounts:
            context = {"count": context["count"]}
        columns[str(stage.public_id)] = context
    return JsonResponse(
        {
            "deal": str(deal.public_id),
            "stage": str(deal.stage.public_id),
            "status": deal.status,
            "columns": columns,
        }
    )


@sales_page
@require_POST
def deal_move(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    """Move a deal to another stage of its pipeline (the board's drag-and-drop and "move to"
    select, the deal page's win/lose buttons). JSON for the board's script, else back to the
    page the form came from with a message."""
    try:
        actor.require("deals.manage")
        deal = access_deal(actor, public_id)
        from_stage = deal.stage
        stage = access_stage(actor, request.POST.get("stage", ""))
        moved = deals.deal_move(
            actor=actor, deal=deal, stage=stage, lost_reason=request.POST.get("lost_reason", "")
        )
    except (InvalidInputError, ConflictError) as error:
        if _wants_json(request):
            return JsonResponse({"detail": error.detail, "field": error.field}, status=422)
        messages.error(request, error.detail)
        return redirect_back(request, reverse("sales:deal_detail", args=[public_id]))
    except HuikeError as error:
        # The board's script shows the detail; a page gets the usual 403/404.
        if _wants_json(request):
            return JsonResponse({"detail": error.detail}, status=error.status_code)
        raise
    if _wants_json(request):
        return _move_response(request, actor, moved, [from_stage, stage])
    messages.success(
        request, _("%(deal)s is now in %(stage)s.") % {"deal": moved.name, "stage": stage.name}
    )
    return redirect_back(request, reverse("sales:deal_detail", args=[deal.public_id]))


# --- list -----------------------------------------------------------------------------------
@vary_on_headers("HX-Request")
@sales_page
@require_GET
def deal_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    form = DealFilterForm(request.GET or None, actor=actor)
    filters = form.filters() if request.GET else deals.DealFilters()
    found = deals.deal_search(actor, filters)
    page = paginate(
        found.select_related("pipeline", "stage", "customer", "owner__user"),
        cursor=request.GET.get("cursor"),
        limit=page_limit(request),
        ordering=LIST_ORDERING,
    )
    show_amounts = actor.has("amounts.view")
    # Totals per stage of the chosen pipeline, or of every pipeline in use (one query).
    if filters.pipeline is not None:
        stages = deals.pipeline_stages(filters.pipeline)
    else:
        stages = list(
            Stage.objects.filter(workspace=actor.workspace, pipeline__is_archived=False)
            .select_related("pipeline")
            .order_by("pipeline__position", "pipeline_id", "position", "id")
        )
    by_stage = deals.stage_totals(found, stages)
    totals = [(stage, _column_context(by_stage[stage.pk])) for stage in stages]
    template = f"{TEMPLATES}deal_list.html"
    if wants_fragment(request):
        template += "#deal_results"
    query = request.GET.copy()
    query.pop("cursor", None)
    return render(
        request,
        template,
        {
            "form": form,
            "page": page,
            "totals": totals,
            "several_pipelines": filters.pipeline is None,
            "show_amounts": show_amounts,
            "can_change": actor.has("deals.manage"),
            "is_first_page": not request.GET.get("cursor"),
            "query": query.urlencode(),
        },
    )


# --- one deal -------------------------------------------------------------------------------
def _seconds_text(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return _("%(days)d d %(hours)d h") % {"days": days, "hours": hours}
    if hours:
        return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
    return _("%(minutes)d min") % {"minutes": minutes}


def _deal_page(
    request: HttpRequest,
    actor: Actor,
    deal: Deal,
    *,
    activity_form: ActivityForm | None = None,
    contact_form: ContactForm | None = None,
    product_form: ProductLineForm | None = None,
    status: int = 200,
) -> HttpResponse:
    stages = deals.pipeline_stages(deal.pipeline)
    history = [(visit, _seconds_text(visit.seconds)) for visit in deals.deal_stage_history(deal)]
    show_amounts = actor.has("amounts.view")
    lines = [
        (line, money(line.quantity * line.unit_price, deal.currency))
        for line in deals.deal_products(deal)
    ]
    return render(
        request,
        f"{TEMPLATES}deal_detail.html",
        {
            "deal": deal,
            "stages": stages,
            "open_stages": [stage for stage in stages if stage.kind == StageKind.OPEN],
            "won_stages": [stage for stage in stages if stage.kind == StageKind.WON],
            "lost_stages": [stage for stage in stages if stage.kind == StageKind.LOST],
            "history": history,
            "activities": deals.deal_activities(deal)[:50],
            "contacts": deals.deal_contacts(deal),
            "lines": lines,
            "order": Order.objects.filter(workspace=actor.workspace, deal=deal).first(),
            "amount": money(deal.amount, deal.currency),
            "show_amounts": show_amounts,
            "can_change": actor.has("deals.manage"),
            "can_see_customers": actor.has("customers.view"),
            "can_see_orders": actor.has("orders.view"),
            "activity_form": activity_form or ActivityForm(None),
            "contact_form": contact_form or ContactForm(None, actor=actor),
            "product_form": product_form or ProductLineForm(None, actor=actor),
            **sharing_context(actor, deal, "deal"),
        },
        status=status,
    )


@sales_page
@require_GET
def deal_detail(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    return _deal_page(request, actor, access_deal(actor, public_id))


def _deal_form(
    request: HttpRequest, actor: Actor, deal: Deal | None, pipeline: Pipeline | None
) -> HttpResponse:
    form = DealForm(
        request.POST if request.method == "POST" else None,
        actor=actor,
        deal=deal,
        pipeline=pipeline,
    )
    if request.method == "POST" and form.is_valid():
        data = form.deal_data()
        try:
            if deal is None:
                given = form.cleaned_data
                saved = deals.deal_create(
                    actor=actor,
                    pipeline=given["pipeline"],
                    stage=given["stage"],
                    name=data.name,
                    amount=data.amount,
                    currency=data.currency,
                    customer=data.customer,
                    company=data.company,
                    owner=data.owner,
                    expected_close_date=data.expected_close_date,
                    next_step=data.next_step,
                )
                if data.forecast_category != saved.forecast_category:
                    deals.deal_update(
                        actor=actor,
                        deal=saved,
                        data=deals.DealData(forecast_category=data.forecast_category),
                    )
                messages.success(request, _("Deal created."))
            else:
                saved = deals.deal_update(actor=actor, deal=deal, data=data)
                messages.success(request, _("Deal saved."))
        except (InvalidInputError, ConflictError) as error:
            add_service_error(form, error)
        else:
            return redirect("sales:deal_detail", public_id=saved.public_id)
    return render(
        request,
        f"{TEMPLATES}deal_form.html",
        {"form": form, "deal": deal},
        status=400 if form.is_bound and form.errors else 200,
    )


@sales_page
@require_http_methods(["GET", "POST"])
def deal_create(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("deals.manage")
    chosen = request.GET.get("pipeline")
    pipeline = access_pipeline(actor, chosen) if chosen else deals.pipeline_default(actor.workspace)
    return _deal_form(request, actor, None, pipeline)


@sales_page
@require_http_methods(["GET", "POST"])
def deal_edit(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("deals.manage")
    return _deal_form(request, actor, access_deal(actor, public_id), None)


@sales_page
@require_POST
def deal_delete(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("deals.manage")
    deal = access_deal(actor, public_id)
    deals.deal_delete(actor=actor, deal=deal)
    messages.success(request, _("Deal %(name)s deleted.") % {"name": deal.name})
    return redirect("sales:deal_list")


@sales_page
@require_POST
def deal_activity_add(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("deals.manage")
    deal = access_deal(actor, public_id)
    form = ActivityForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            deals.activity_log(
                actor=actor,
                kind=data["kind"],
                subject=data["subject"],
                body=data["body"],
                occurred_at=data["occurred_at"],
                duration_minutes=data["duration_minutes"],
                deal=deal,
            )
        except InvalidInputError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Activity logged."))
            return redirect("sales:deal_detail", public_id=deal.public_id)
    return _deal_page(request, actor, deal, activity_form=form, status=400)


@sales_page
@require_POST
def deal_contact_add(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("deals.manage")
    deal = access_deal(actor, public_id)
    form = ContactForm(request.POST, actor=actor)
    if form.is_valid():
        try:
            deals.deal_contact_set(
                actor=actor,
                deal=deal,
                customer=form.cleaned_data["customer"],
                role=form.cleaned_data["role"],
            )
        except InvalidInputError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Contact saved."))
            return redirect("sales:deal_detail", public_id=deal.public_id)
    return _deal_page(request, actor, deal, contact_form=form, status=400)


@sales_page
@require_POST
def deal_contact_remove(
    request: HttpRequest, actor: Actor, public_id: uuid.UUID, contact_id: int
) -> HttpResponse:
    actor.require("deals.manage")
    deal = access_deal(actor, public_id)
    contact = DealContact.objects.filter(deal=deal, pk=contact_id).first()
    if contact is not None:
        deals.deal_contact_remove(actor=actor, deal=deal, contact=contact)
        messages.success(request, _("Contact removed."))
    return redirect("sales:deal_detail", public_id=deal.public_id)


@sales_page
@require_POST
def deal_product_add(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("deals.manage")
    deal = access_deal(actor, public_id)
    form = ProductLineForm(request.POST, actor=actor)
    if form.is_valid():
        try:
            deals.deal_product_add(
                actor=actor,
                deal=deal,
                product=form.cleaned_data["product"],
                quantity=form.cleaned_data["quantity"],
                unit_price=form.cleaned_data["unit_price"],
            )
        except InvalidInputError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Product added; the amount follows the products."))
            return redirect("sales:deal_detail", public_id=deal.public_id)
    return _deal_page(request, actor, deal, product_form=form, status=400)


@sales_page
@require_POST
def deal_product_remove(
    request: HttpRequest, actor: Actor, public_id: uuid.UUID, line_id: int
) -> HttpResponse:
    actor.require("deals.manage")
    deal = access_deal(actor, public_id)
    line = DealProduct.objects.filter(deal=deal, pk=line_id).first()
    if line is not None:
        line.deal = deal
        deals.deal_product_remove(actor=actor, line=line)
        messages.success(request, _("Product removed."))
    return redirect("sales:deal_detail", public_id=deal.public_id)


# --- pipeline settings ----------------------------------------------------------------------
@sales_page
@require_http_methods(["GET", "POST"])
def settings_pipelines(request: HttpRequest, actor: Actor) -> HttpResponse:
    """The pipelines and a form for a new one (with the standard stages, to adjust after)."""
    actor.require("pipelines.manage")
    form = PipelineForm(
        request.POST if request.method == "POST" else None,
        initial={"currency": actor.workspace.currency},
    )
    if request.method == "POST" and form.is_valid():
        try:
            pipeline = deals.pipeline_create(
                actor=actor,
                name=form.cleaned_data["name"],
                currency=form.cleaned_data["currency"],
                stages=deals.standard_stages(),
            )
        except (InvalidInputError, ConflictError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Pipeline created; adjust its stages below."))
            return redirect("sales:settings_pipeline", public_id=pipeline.public_id)
    pipelines = deals.pipeline_list(actor.workspace, include_archived=True).prefetch_related(
        "stages"
    )
    return render(
        request,
        f"{TEMPLATES}settings_pipelines.html",
        {"form": form, "pipelines": pipelines},
        status=400 if form.is_bound and form.errors else 200,
    )


def _settings_page(
    request: HttpRequest,
    actor: Actor,
    pipeline: Pipeline,
    *,
    form: PipelineSettingsForm | None = None,
    stage_form: StageForm | None = None,
    status: int = 200,
) -> HttpResponse:
    stages = deals.pipeline_stages(pipeline)
    counts = deals.stage_totals(
        Deal.objects.filter(workspace=actor.workspace, pipeline=pipeline), stages
    )
    rows = [
        (
            stage,
            StageForm(
                None,
                initial={"name": stage.name, "kind": stage.kind, "probability": stage.probability},
                prefix=f"stage-{stage.pk}",
            ),
            counts[stage.pk].count,
        )
        for stage in stages
    ]
    return render(
        request,
        f"{TEMPLATES}settings_pipeline.html",
        {
            "pipeline": pipeline,
            "form": form
            or PipelineSettingsForm(
                None,
                initial={
                    "name": pipeline.name,
                    "currency": pipeline.currency,
                    "is_default": pipeline.is_default,
                    "is_archived": pipeline.is_archived,
                },
            ),
            "stage_form": stage_form or StageForm(None, initial={"kind": "open"}),
            "rows": rows,
        },
        status=status,
    )


@sales_page
@require_http_methods(["GET", "POST"])
def settings_pipeline(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    """One pipeline: rename, currency, default, archive; add, change, reorder, delete stages;
    delete the pipeline. Each form posts an `action`."""
    actor.require("pipelines.manage")
    pipeline = access_pipeline(actor, public_id)
    if request.method == "GET":
        return _settings_page(request, actor, pipeline)
    action = request.POST.get("action", "")
    handler = _SETTINGS_ACTIONS.get(action)
    if handler is None:
        messages.error(request, _("Unknown action."))
        return redirect("sales:settings_pipeline", public_id=pipeline.public_id)
    return handler(request, actor, pipeline)


def _save_pipeline(request: HttpRequest, actor: Actor, pipeline: Pipeline) -> HttpResponse:
    form = PipelineSettingsForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            deals.pipeline_update(
                actor=actor,
                pipeline=pipeline,
                name=data["name"],
                currency=data["currency"],
                is_default=data["is_default"] or None,
                is_archived=data["is_archived"],
            )
        except (InvalidInputError, ConflictError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Pipeline saved."))
            return redirect("sales:settings_pipeline", public_id=pipeline.public_id)
    return _settings_page(request, actor, pipeline, form=form, status=400)


def _add_stage(request: HttpRequest, actor: Actor, pipeline: Pipeline) -> HttpResponse:
    form = StageForm(request.POST)
    if form.is_valid():
        try:
            deals.stage_add(
                actor=actor,
                pipeline=pipeline,
                data=form.stage_data(),
                position=form.cleaned_data["position"],
            )
        except (InvalidInputError, ConflictError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Stage added."))
            return redirect("sales:settings_pipeline", public_id=pipeline.public_id)
    return _settings_page(request, actor, pipeline, stage_form=form, status=400)


def _stage_named_in_post(request: HttpRequest, pipeline: Pipeline) -> Stage | None:
    try:
        stage_pk = int(request.POST.get("stage", ""))
    except ValueError:
        return None
    return Stage.objects.filter(pipeline=pipeline, pk=stage_pk).select_related("pipeline").first()


def _stage_action(request: HttpRequest, actor: Actor, pipeline: Pipeline) -> HttpResponse:
    """Save, move up/down or delete one stage; errors (a stage with deals) as a message."""
    stage = _stage_named_in_post(request, pipeline)
    action = request.POST.get("action", "")
    if stage is None:
        messages.error(request, _("No such stage."))
        return redirect("sales:settings_pipeline", public_id=pipeline.public_id)
    try:
        if action == "save_stage":
            form = StageForm(request.POST, prefix=f"stage-{stage.pk}")
            if not form.is_valid():
                raise InvalidInputError(
                    "; ".join(str(error) for errors in form.errors.values() for error in errors)
                )
            data = form.stage_data()
            deals.stage_update(
                actor=actor,
                stage=stage,
                name=data.name,
                kind=data.kind,
                probability=data.probability,
            )
            messages.success(request, _("Stage saved."))
        elif action == "delete_stage":
            deals.stage_delete(actor=actor, stage=stage)
            messages.success(request, _("Stage deleted."))
        else:
            stages = deals.pipeline_stages(pipeline)
            index = next(i for i, s in enumerate(stages) if s.pk == stage.pk)
            other = index - 1 if action == "stage_up" else index + 1
            if 0 <= other < len(stages):
                stages[index], stages[other] = stages[other], stages[index]
                deals.stages_reorder(actor=actor, pipeline=pipeline, stages=stages)
    except (InvalidInputError, ConflictError) as error:
        messages.error(request, error.detail)
    return redirect("sales:settings_pipeline", public_id=pipeline.public_id)


def _delete_pipeline(request: HttpRequest, actor: Actor, pipeline: Pipeline) -> HttpResponse:
    try:
        deals.pipeline_delete(actor=actor, pipeline=pipeline)
    except ConflictError as error:
        messages.error(request, error.detail)
        return redirect("sales:settings_pipeline", public_id=pipeline.public_id)
    messages.success(request, _("Pipeline %(name)s deleted.") % {"name": pipeline.name})
    return redirect("sales:settings_pipelines")


_SETTINGS_ACTIONS = {
    "save": _save_pipeline,
    "add_stage": _add_stage,
    "save_stage": _stage_action,
    "delete_stage": _stage_action,
    "stage_up": _stage_action,
    "stage_down": _stage_action,
    "delete": _delete_pipeline,
}
