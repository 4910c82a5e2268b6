"""API of pipelines (with their stages) and deals: `/pipelines`, `/deals` and a deal's
activities, stage history, contacts and products.

Thin, as huike.customers.api: the Actor from the request, objects acted on through
huike.sales.access, objects a body only names looked up in the workspace (unknown ids are a
422 naming the field), writes through huike.sales.deals. `PATCH /deals/{id}` with `stage_id`
moves the deal (deal_move: stage history, won/lost side effects; `lost_reason` is required
for a lost stage). Amounts are decimal strings, null for roles without `amounts.view`. Lists
run a fixed number of queries whatever their length.
"""

import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from huike.accounts.access import Actor, lookup_membership
from huike.accounts.api_gateway import request_actor
from huike.core.errors import InvalidInputError, NotFoundError
from huike.core.pagination import PageOut, PageQuery, paginate
from huike.customers.access import access_company, access_customer
from huike.sales import deals
from huike.sales.access import access_deal, access_pipeline, access_product, visible_deals
from huike.sales.api_schemas_deals import (
    ActivityIn,
    ActivityOut,
    ContactIn,
    ContactOut,
    DealIn,
    DealOut,
    DealPatchIn,
    DealQuery,
    PipelineIn,
    PipelineOut,
    PipelinePatchIn,
    ProductLineIn,
    ProductLineOut,
    ProductLinePatchIn,
    StageAddIn,
    StageChangeOut,
    StageOut,
    StagePatchIn,
    line_out,
)
from huike.sales.models import Deal, DealContact, DealProduct, DealStageChange, Pipeline, Stage

router = Router(tags=["Pipelines and deals"])

DEAL_RELATED = ("pipeline", "stage", "customer", "company", "lead", "owner")
DEAL_ORDERING = ("-created_at", "-id")


def _referenced[T](find: Callable[[], T], field: str) -> T:
    """An object named in a request body: unknown ids are a bad field (422), not a 404."""
    try:
        return find()
    except NotFoundError as error:
        raise InvalidInputError(error.detail, field=field) from None


# --- pipelines ------------------------------------------------------------------------------
def _pipeline_out(pipeline: Pipeline, stages: Sequence[Stage]) -> dict[str, Any]:
    return {
        "id": pipeline.public_id,
        "name": pipeline.name,
        "currency": pipeline.currency,
        "is_default": pipeline.is_default,
        "is_archived": pipeline.is_archived,
        "stages": list(stages),
        "created_at": pipeline.created_at,
        "updated_at": pipeline.updated_at,
    }


def _one_pipeline(pipeline: Pipeline) -> dict[str, Any]:
    return _pipeline_out(pipeline, deals.pipeline_stages(pipeline))


def _stage_of(pipeline: Pipeline, stage_id: uuid.UUID, field: str | None = None) -> Stage:
    stage = Stage.objects.filter(pipeline=pipeline, public_id=stage_id).first()
    if stage is None:
        if field is not None:
            raise InvalidInputError(_("No such stage in this pipeline."), field=field)
        raise NotFoundError(_("No such stage."))
    return stage


@router.get("/pipelines", response=PageOut[PipelineOut], summary="List pipelines")
def pipeline_list(request: HttpRequest, include_archived: bool = False) -> dict[str, Any]:
    """Every pipeline of the workspace with its stages in order (one page: a workspace has a
    handful). Archived ones only with `?include_archived=true`."""
    actor = request_actor(request)
    actor.require("deals.view")
    pipelines = deals.pipeline_list(actor.workspace, include_archived=include_archived)
    pipelines = pipelines.prefetch_related("stages")
    return {
        "items": [_pipeline_out(pipeline, list(pipeline.stages.all())) for pipeline in pipelines],
        "next": None,
    }


@router.post("/pipelines", response={201: PipelineOut}, summary="Create a pipeline")
def pipeline_create(request: HttpRequest, payload: PipelineIn) -> Status[dict[str, Any]]:
    """A pipeline with its stages in order; at least one must be open. The first pipeline of
    a workspace is its default."""
    actor = request_actor(request)
    pipeline = deals.pipeline_create(
        actor=actor,
        name=payload.name,
        currency=payload.currency,
        stages=[
            deals.StageData(stage.name, stage.type, stage.probability) for stage in payload.stages
        ],
    )
    return Status(201, _one_pipeline(pipeline))


@router.get("/pipelines/{pipeline_id}", response=PipelineOut, summary="Get a pipeline")
def pipeline_detail(request: HttpRequest, pipeline_id: uuid.UUID) -> dict[str, Any]:
    actor = request_actor(request)
    return _one_pipeline(access_pipeline(actor, pipeline_id))


@router.patch("/pipelines/{pipeline_id}", response=PipelineOut, summary="Change a pipeline")
def pipeline_update(
    request: HttpRequest, pipeline_id: uuid.UUID, payload: PipelinePatchIn
) -> dict[str, Any]:
    """Rename, change the currency of new deals, make it the default, archive it, or reorder
    its stages (`stage_ids`: all of them, in the new order)."""
    actor = request_actor(request)
    actor.require("pipelines.manage")
    pipeline = access_pipeline(actor, pipeline_id)
    with transaction.atomic():
        pipeline = deals.pipeline_update(
            actor=actor,
            pipeline=pipeline,
            name=payload.name,
            currency=payload.currency,
            is_default=payload.is_default,
            is_archived=payload.is_archived,
        )
        if payload.stage_ids is not None:
            stages = [_stage_of(pipeline, sid, "stage_ids") for sid in payload.stage_ids]
            deals.stages_reorder(actor=actor, pipeline=pipeline, stages=stages)
    return _one_pipeline(pipeline)


@router.delete("/pipelines/{pipeline_id}", response={204: None}, summary="Delete a pipeline")
def pipeline_delete(request: HttpRequest, pipeline_id: uuid.UUID) -> Status[None]:
    """Only a pipeline without deals (409 otherwise: archive it)."""
    actor = request_actor(request)
    actor.require("pipelines.manage")
    deals.pipeline_delete(actor=actor, pipeline=access_pipeline(actor, pipeline_id))
    return Status(204, None)


@router.post("/pipelines/{pipeline_id}/stages", response={201: StageOut}, summary="Add a stage")
def stage_add(request: HttpRequest, pipeline_id: uuid.UUID, payload: StageAddIn) -> Status[Stage]:
    actor = request_actor(request)
    actor.require("pipelines.manage")
    pipeline = access_pipeline(actor, pipeline_id)
    stage = deals.stage_add(
        actor=actor,
        pipeline=pipeline,
        data=deals.StageData(payload.name, payload.type, payload.probability),
        position=payload.position,
    )
    stage.refresh_from_db()
    return Status(201, stage)


@router.patch(
    "/pipelines/{pipeline_id}/stages/{stage_id}", response=StageOut, summary="Change a stage"
)
def stage_update(
    request: HttpRequest, pipeline_id: uuid.UUID, stage_id: uuid.UUID, payload: StagePatchIn
) -> Stage:
    actor = request_actor(request)
    actor.require("pipelines.manage")
    stage = _stage_of(access_pipeline(actor, pipeline_id), stage_id)
    return deals.stage_update(
        actor=actor,
        stage=stage,
        name=payload.name,
        kind=payload.type,
        probability=payload.probability,
    )


@router.delete(
    "/pipelines/{pipeline_id}/stages/{stage_id}", response={204: None}, summary="Delete a stage"
)
def stage_delete(request: HttpRequest, pipeline_id: uuid.UUID, stage_id: uuid.UUID) -> Status[None]:
    """Only a stage without deals (409 saying so: move them first)."""
    actor = request_actor(request)
    actor.require("pipelines.manage")
    deals.stage_delete(actor=actor, stage=_stage_of(access_pipeline(actor, pipeline_id), stage_id))
    return Status(204, None)


# --- deals ----------------------------------------------------------------------------------
def _public(obj: Any) -> uuid.UUID | None:
    return obj.public_id if obj is not None else None


def deal_out(deal: Deal, *, show_amounts: bool) -> dict[str, Any]:
    """The data of DealOut (the deal's pipeline, stage, customer, company, lead and owner
    loaded with it)."""
    return {
        "id": deal.public_id,
        "name": deal.name,
        "pipeline_id": deal.pipeline.public_id,
        "stage_id": deal.stage.public_id,
        "status": deal.status,
        "probability": deal.stage.probability,
        "amount": f"{deal.amount:.2f}" if show_amounts else None,
        "currency": deal.currency,
        "customer_id": _public(deal.customer),
        "company_id": _public(deal.company),
        "lead_id": _public(deal.lead),
        "owner": _public(deal.owner),
        "expected_close_date": deal.expected_close_date,
        "next_step": deal.next_step,
        "lost_reason": deal.lost_reason,
        "forecast_category": deal.forecast_category,
        "stage_entered_at": deal.stage_entered_at,
        "closed_at": deal.closed_at,
        "created_at": deal.created_at,
        "updated_at": deal.updated_at,
    }


def _one_deal(actor: Actor, deal: Deal) -> dict[str, Any]:
    fresh = visible_deals(actor).select_related(*DEAL_RELATED).get(pk=deal.pk)
    return deal_out(fresh, show_amounts=actor.has("amounts.view"))


def _deal_data(actor: Actor, payload: DealIn | DealPatchIn) -> deals.DealData:
    """The fields the body sent, with the objects it names looked up in the workspace."""
    sent = payload.model_fields_set
    data = deals.DealData()
    for name in ("name", "amount", "currency", "expected_close_date", "forecast_category"):
        if name in sent:
            value = getattr(payload, name)
            if value is None and name in ("name", "amount", "currency", "forecast_category"):
                raise InvalidInputError(_("This field cannot be null."), field=name)
            setattr(data, name, value)
    if "next_step" in sent:
        data.next_step = payload.next_step or ""
    if "customer_id" in sent:
        customer_id = payload.customer_id
        data.customer = (
            _referenced(lambda: access_customer(actor, customer_id), "customer_id")
            if customer_id
            else None
        )
    if "company_id" in sent:
        company_id = payload.company_id
        data.company = (
            _referenced(lambda: access_company(actor, company_id), "company_id")
            if company_id
            else None
        )
    if "owner" in sent:
        owner_id = payload.owner
        data.owner = (
            _referenced(lambda: lookup_membership(actor.workspace, owner_id), "owner")
            if owner_id
            else None
        )
    return data


def _filters(actor: Actor, query: DealQuery) -> deals.DealFilters:
    """The list's query parameters; an unknown id filters to nothing rather than erroring."""
    filters = deals.DealFilters(
        status=query.status,
        q=query.q.strip(),
        close_from=query.expected_close_from,
        close_to=query.expected_close_to,
    )
    lookups: dict[str, Callable[[uuid.UUID], Any]] = {
        "pipeline": lambda pid: access_pipeline(actor, pid),
        "stage": lambda sid: Stage.objects.get(workspace=actor.workspace, public_id=sid),
        "owner": lambda mid: lookup_membership(actor.workspace, mid),
        "customer": lambda cid: access_customer(actor, cid),
        "company": lambda cid: access_company(actor, cid),
    }
    for name, find in lookups.items():
        value = getattr(query, name)
        if value is None:
            continue
        try:
            setattr(filters, name, find(value))
        except (NotFoundError, Stage.DoesNotExist):
            raise InvalidInputError(_("Nothing with this id."), field=name) from None
    return filters


@router.get("/deals", response=PageOut[DealOut], summary="List deals")
def deal_list(
    request: HttpRequest, page: Query[PageQuery], query: Query[DealQuery]
) -> dict[str, Any]:
    """Deals the caller may see (own, team subtree or all), newest first, filtered by
    pipeline, stage, status, owner, customer, company and expected close date."""
    actor = request_actor(request)
    found = deals.deal_search(actor, _filters(actor, query)).select_related(*DEAL_RELATED)
    result = paginate(found, cursor=page.cursor, limit=page.limit, ordering=DEAL_ORDERING)
    show = actor.has("amounts.view")
    return {
        "items": [deal_out(deal, show_amounts=show) for deal in result.items],
        "next": result.next,
    }


@router.post("/deals", response={201: DealOut}, summary="Create a deal")
def deal_create(request: HttpRequest, payload: DealIn) -> Status[dict[str, Any]]:
    """A new deal in an open stage (default: the pipeline's first), owned by the caller unless
    `owner` names someone."""
    actor = request_actor(request)
    actor.require("deals.manage")
    if payload.pipeline_id is not None:
        pipeline_id = payload.pipeline_id
        pipeline = _referenced(lambda: access_pipeline(actor, pipeline_id), "pipeline_id")
    else:
        pipeline = deals.pipeline_default(actor.workspace)
    stage = _stage_of(pipeline, payload.stage_id, "stage_id") if payload.stage_id else None
    data = _deal_data(actor, payload).given()
    with transaction.atomic():
        deal = deals.deal_create(
            actor=actor,
            pipeline=pipeline,
            stage=stage,
            name=data["name"],
            amount=data.get("amount") or Decimal("0"),
            currency=data.get("currency"),
            customer=data.get("customer"),
            company=data.get("company"),
            owner=data.get("owner"),
            expected_close_date=data.get("expected_close_date"),
            next_step=data.get("next_step", ""),
        )
        if "forecast_category" in data:
            deal = deals.deal_update(
                actor=actor,
                deal=deal,
                data=deals.DealData(forecast_category=data["forecast_category"]),
            )
    return Status(201, _one_deal(actor, deal))


@router.get("/deals/{deal_id}", response=DealOut, summary="Get a deal")
def deal_detail(request: HttpRequest, deal_id: uuid.UUID) -> dict[str, Any]:
    actor = request_actor(request)
    return _one_deal(actor, access_deal(actor, deal_id))


@router.patch("/deals/{deal_id}", response=DealOut, summary="Change or move a deal")
def deal_update(request: HttpRequest, deal_id: uuid.UUID, payload: DealPatchIn) -> dict[str, Any]:
    """Change the fields sent (null clears customer, company, owner, expected close date).
    `stage_id` moves the deal to that stage of its pipeline: the stage history records it,
    won makes the customer a customer and creates the order, lost needs `lost_reason`."""
    actor = request_actor(request)
    actor.require("deals.manage")
    deal = access_deal(actor, deal_id)
    sent = payload.model_fields_set
    with transaction.atomic():
        if "stage_id" in sent:
            if payload.stage_id is None:
                raise InvalidInputError(_("A deal is always in a stage."), field="stage_id")
            stage = _stage_of(deal.pipeline, payload.stage_id, "stage_id")
            deal = deals.deal_move(
                actor=actor, deal=deal, stage=stage, lost_reason=payload.lost_reason or ""
            )
        data = _deal_data(actor, payload)
        if "lost_reason" in sent and "stage_id" not in sent:
            data.lost_reason = payload.lost_reason or ""
        if data.given():
            deal = deals.deal_update(actor=actor, deal=deal, data=data)
    return _one_deal(actor, deal)


@router.delete("/deals/{deal_id}", response={204: None}, summary="Delete a deal")
def deal_delete(request: HttpRequest, deal_id: uuid.UUID) -> Status[None]:
    actor = request_actor(request)
    actor.require("deals.manage")
    deals.deal_delete(actor=actor, deal=access_deal(actor, deal_id))
    return Status(204, None)


@router.get(
    "/deals/{deal_id}/stage-history",
    response=list[StageChangeOut],
    summary="A deal's moves between stages, oldest first",
)
def deal_stage_history(request: HttpRequest, deal_id: uuid.UUID) -> list[DealStageChange]:
    actor = request_actor(request)
    deal = access_deal(actor, deal_id)
    return list(
        DealStageChange.objects.filter(deal=deal)
        .select_related("from_stage", "to_stage", "actor")
        .order_by("changed_at", "id")
    )


@router.get(
    "/deals/{deal_id}/activities",
    response=PageOut[ActivityOut],
    summary="A deal's activities, newest first",
)
def deal_activity_list(
    request: HttpRequest, deal_id: uuid.UUID, page: Query[PageQuery]
) -> dict[str, Any]:
    actor = request_actor(request)
    deal = access_deal(actor, deal_id)
    result = paginate(
        deals.deal_activities(deal).select_related("author"),
        cursor=page.cursor,
        limit=page.limit,
        ordering=("-occurred_at", "-id"),
    )
    return {"items": result.items, "next": result.next}


@router.post("/deals/{deal_id}/activities", response={201: ActivityOut}, summary="Log an activity")
def deal_activity_log(request: HttpRequest, deal_id: uuid.UUID, payload: ActivityIn) -> Status[Any]:
    """A call, meeting, visit, email or note on the deal; also on its customer's timeline."""
    actor = request_actor(request)
    actor.require("deals.manage")
    deal = access_deal(actor, deal_id)
    activity = deals.activity_log(
        actor=actor,
        kind=payload.type,
        subject=payload.subject,
        body=payload.body,
        occurred_at=payload.occurred_at,
        duration_minutes=payload.duration_minutes,
        deal=deal,
    )
    return Status(201, activity)


@router.get("/deals/{deal_id}/contacts", response=list[ContactOut], summary="A deal's contacts")
def deal_contact_list(request: HttpRequest, deal_id: uuid.UUID) -> list[DealContact]:
    actor = request_actor(request)
    return list(deals.deal_contacts(access_deal(actor, deal_id)))


@router.post(
    "/deals/{deal_id}/contacts",
    response={201: ContactOut},
    summary="Add a contact to a deal, or change their role",
)
def deal_contact_set(
    request: HttpRequest, deal_id: uuid.UUID, payload: ContactIn
) -> Status[DealContact]:
    actor = request_actor(request)
    actor.require("deals.manage")
    deal = access_deal(actor, deal_id)
    customer_id = payload.customer_id
    customer = _referenced(lambda: access_customer(actor, customer_id), "customer_id")
    contact = deals.deal_contact_set(actor=actor, deal=deal, customer=customer, role=payload.role)
    return Status(201, contact)


@router.delete(
    "/deals/{deal_id}/contacts/{customer_id}",
    response={204: None},
    summary="Remove a contact from a deal",
)
def deal_contact_remove(
    request: HttpRequest, deal_id: uuid.UUID, customer_id: uuid.UUID
) -> Status[None]:
    actor = request_actor(request)
    actor.require("deals.manage")
    deal = access_deal(actor, deal_id)
    contact = DealContact.objects.filter(deal=deal, customer__public_id=customer_id).first()
    if contact is None:
        raise NotFoundError(_("This customer is not a contact of the deal."))
    deals.deal_contact_remove(actor=actor, deal=deal, contact=contact)
    return Status(204, None)


def _line_of(deal: Deal, line_id: int) -> DealProduct:
    line = DealProduct.objects.filter(deal=deal, pk=line_id).select_related("product").first()
    if line is None:
        raise NotFoundError(_("No such product line on this deal."))
    line.deal = deal
    return line


@router.get("/deals/{deal_id}/products", response=list[ProductLineOut], summary="A deal's products")
def deal_product_list(request: HttpRequest, deal_id: uuid.UUID) -> list[dict[str, Any]]:
    actor = request_actor(request)
    deal = access_deal(actor, deal_id)
    show = actor.has("amounts.view")
    return [line_out(line, show_amounts=show) for line in deals.deal_products(deal)]


@router.post(
    "/deals/{deal_id}/products",
    response={201: ProductLineOut},
    summary="Add a product to a deal (its amount follows its products)",
)
def deal_product_add(
    request: HttpRequest, deal_id: uuid.UUID, payload: ProductLineIn
) -> Status[dict[str, Any]]:
    actor = request_actor(request)
    actor.require("deals.manage")
    deal = access_deal(actor, deal_id)
    product_id = payload.product_id
    product = _referenced(lambda: access_product(actor, product_id), "product_id")
    line = deals.deal_product_add(
        actor=actor,
        deal=deal,
        product=product,
        quantity=payload.quantity,
        unit_price=payload.unit_price,
    )
    return Status(201, line_out(line, show_amounts=actor.has("amounts.view")))


@router.patch(
    "/deals/{deal_id}/products/{line_id}",
    response=ProductLineOut,
    summary="Change a product line of a deal",
)
def deal_product_update(
    request: HttpRequest, deal_id: uuid.UUID, line_id: int, payload: ProductLinePatchIn
) -> dict[str, Any]:
    actor = request_actor(request)
    actor.require("deals.manage")
    line = _line_of(access_deal(actor, deal_id), line_id)
    line = deals.deal_product_update(
        actor=actor, line=line, quantity=payload.quantity, unit_price=payload.unit_price
    )
    return line_out(line, show_amounts=actor.has("amounts.view"))


@router.delete(
    "/deals/{deal_id}/products/{line_id}",
    response={204: None},
    summary="Remove a product line from a deal",
)
def deal_product_remove(request: HttpRequest, deal_id: uuid.UUID, line_id: int) -> Status[None]:
    actor = request_actor(request)
    actor.require("deals.manage")
    line = _line_of(access_deal(actor, deal_id), line_id)
    deals.deal_product_remove(actor=actor, line=line)
    return Status(204, None)
