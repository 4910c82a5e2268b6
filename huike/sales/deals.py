"""Pipelines and deals: services (writes) and selectors (reads) of the board, the list and the
deal page.

A pipeline is an ordered list of stages, each open, won or lost with a win probability. A deal
sits in one stage of its pipeline; its `status` mirrors the stage's kind so lists and reports
filter without a join. Every move is a DealStageChange row with the time spent in the stage
left (the funnel's average time per stage). Winning moves the customer's lifecycle to
"customer" and makes the order (huike.sales.orders.order_from_deal); losing needs a reason.

Services check the actor's permission, run in one transaction, lock the deal's row where two
people can change the same deal (a move, an edit), record the customer-timeline event and
publish the outbox message of the change in that transaction.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Max, ProtectedError, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.core.errors import ConflictError, InvalidInputError
from huike.core.outbox import outbox_publish
from huike.customers.events import event_record, register_event_kind_labels
from huike.customers.models import LIFECYCLE_ORDER, Company, Customer, LifecycleStage
from huike.sales.access import visible_deals
from huike.sales.funnel import funnel_changed, funnel_stages_changed, funnel_track
from huike.sales.models import (
    Activity,
    Deal,
    DealContact,
    DealProduct,
    DealStageChange,
    ForecastCategory,
    Lead,
    Pipeline,
    Product,
    Stage,
    StageKind,
)

# A board with more columns than this is unreadable, and every column is a query.
MAX_STAGES = 30
NAME_MAX_LENGTH = 100
DEAL_NAME_MAX_LENGTH = 200
TEXT_MAX_LENGTH = 300
# Deal.amount is max_digits=14, decimal_places=2.
MAX_AMOUNT = Decimal("999999999999.99")
MAX_QUANTITY = Decimal("999999999.999")
# Cards shown per column before "load more" (the board's first paint reads only these).
BOARD_PAGE_SIZE = 20
# Fields of a deal that the funnel's or the forecast's roll-ups add up (huike.sales.funnel).
ROLLED_UP_FIELDS = frozenset(
    {"amount", "currency", "owner", "expected_close_date", "forecast_category"}
)


def register_deal_event_labels() -> None:
    register_event_kind_labels(
        {
            "deal.won": gettext_lazy("Won a deal"),
            "deal.lost": gettext_lazy("Lost a deal"),
            "activity.logged": gettext_lazy("Sales activity"),
        }
    )


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(frozen=True)
class StageData:
    name: str
    kind: str
    probability: int


def standard_stages() -> list[StageData]:
    return [
        StageData(_("Qualification"), StageKind.OPEN, 10),
        StageData(_("Needs analysis"), StageKind.OPEN, 30),
        StageData(_("Proposal"), StageKind.OPEN, 60),
        StageData(_("Negotiation"), StageKind.OPEN, 80),
        StageData(_("Won"), StageKind.WON, 100),
        StageData(_("Lost"), StageKind.LOST, 0),
    ]


# --- cleaning -------------------------------------------------------------------------------
def _clean_name(value: object, *, field: str = "name", max_length: int = NAME_MAX_LENGTH) -> str:
    text = str(value or "").strip()
    if not text:
        raise InvalidInputError(_("Give it a name."), field=field)
    if len(text) > max_length:
        raise InvalidInputError(_("At most %(max)d characters.") % {"max": max_length}, field=field)
    return text


def _clean_text(value: object, field: str, max_length: int = TEXT_MAX_LENGTH) -> str:
    text = str(value or "").strip()
    if len(text) > max_length:
        raise InvalidInputError(_("At most %(max)d characters.") % {"max": max_length}, field=field)
    return text


def _clean_currency(value: object, field: str = "currency") -> str:
    text = str(value or "").strip().upper()
    if len(text) != 3 or not text.isalpha() or not text.isascii():
        raise InvalidInputError(
            _("A currency is a three-letter code such as CNY or USD."), field=field
        )
    return text


def _clean_amount(value: object, field: str = "amount", maximum: Decimal = MAX_AMOUNT) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInputError(_("Enter a number."), field=field) from None
    if not amount.is_finite() or amount < 0 or amount > maximum:
        raise InvalidInputError(
            _("Enter an amount from 0 to %(max)s.") % {"max": maximum}, field=field
        )
    return amount.quantize(Decimal("0.01") if maximum == MAX_AMOUNT else Decimal("0.001"))


def _clean_stage(data: StageData, index: int) -> StageData:
    prefix = f"stages.{index}."
    if data.kind not in StageKind.values:
        raise InvalidInputError(_("A stage is open, won or lost."), field=prefix + "type")
    probability = data.probability
    if not isinstance(probability, int) or isinstance(probability, bool):
        raise InvalidInputError(_("Enter a whole number."), field=prefix + "probability")
    if not 0 <= probability <= 100:
        raise InvalidInputError(
            _("A win probability is from 0 to 100 (%)."), field=prefix + "probability"
        )
    return StageData(_clean_name(data.name, field=prefix + "name"), data.kind, probability)


def _clean_stages(stages: Sequence[StageData]) -> list[StageData]:
    cleaned = [_clean_stage(stage, index) for index, stage in enumerate(stages)]
    if len(cleaned) > MAX_STAGES:
        raise InvalidInputError(
            _("A pipeline has at most %(max)d stages.") % {"max": MAX_STAGES}, field="stages"
        )
    _check_stage_set(cleaned)
    return cleaned


def _check_stage_set(stages: Sequence[StageData]) -> None:
    names = [stage.name.casefold() for stage in stages]
    if len(set(names)) != len(names):
        raise InvalidInputError(_("Two stages have the same name."), field="stages")
    if not any(stage.kind == StageKind.OPEN for stage in stages):
        raise InvalidInputError(
            _("A pipeline needs at least one open stage for its deals to start in."),
            field="stages",
        )


def _same_workspace(actor: Actor, value: Any, field: str) -> None:
    if value is not None and value.workspace_id != actor.workspace.pk:
        raise InvalidInputError(_("Not found in this workspace."), field=field)


def _acting_member(actor: Actor) -> Membership | None:
    membership = actor.membership
    return membership if membership is not None and membership.is_active else None


# --- pipelines ------------------------------------------------------------------------------
def _pipeline_build(
    workspace: Workspace, name: str, stages: Sequence[StageData], currency: str
) -> Pipeline:
    """Create the pipeline with its stages in the caller's transaction (names checked)."""
    existing = Pipeline.objects.filter(workspace=workspace)
    position = (existing.aggregate(last=Max("position"))["last"] or 0) + 1
    try:
        with transaction.atomic():
            pipeline = Pipeline.objects.create(
                workspace=workspace,
                name=name,
                currency=currency,
                position=position,
                is_default=not existing.filter(is_default=True, is_archived=False).exists(),
            )
    except IntegrityError:
        raise ConflictError(_("A pipeline with this name exists already.")) from None
    Stage.objects.bulk_create(
        Stage(
            workspace=workspace,
            pipeline=pipeline,
            name=stage.name,
            kind=stage.kind,
            probability=stage.probability,
            position=index,
        )
        for index, stage in enumerate(stages, start=1)
    )
    return pipeline


def pipeline_create(
    *, actor: Actor, name: str, stages: Sequence[StageData], currency: str | None = None
) -> Pipeline:
    """A new pipeline with `stages` in order (at least one open). The workspace's first one is
    its default. ConflictError when the name is taken; InvalidInputError for a bad stage,
    whose field names it (stages.2.probability)."""
    actor.require("pipelines.manage")
    name = _clean_name(name)
    cleaned = _clean_stages(stages)
    money = _clean_currency(currency or actor.workspace.currency)
    with transaction.atomic():
        return _pipeline_build(actor.workspace, name, cleaned, money)


def pipeline_default(workspace: Workspace) -> Pipeline:
    """The workspace's default pipeline; "Sales pipeline" with the standard stages is made
    when it has none (two first callers at once: one creates, the other reads it)."""
    usable = Pipeline.objects.filter(workspace=workspace, is_archived=False)
    found = usable.order_by("-is_default", "position", "id").first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return _pipeline_build(
                workspace, _("Sales pipeline"), standard_stages(), workspace.currency
            )
    except ConflictError:
        # Same name: made by a concurrent caller, or an archived one that we bring back.
        pipeline = Pipeline.objects.get(workspace=workspace, name=_("Sales pipeline"))
        if pipeline.is_archived:
            pipeline.is_archived = False
            pipeline.is_default = True
            pipeline.save(update_fields=["is_archived", "is_default", "updated_at"])
        return pipeline


def pipeline_update(
    *,
    actor: Actor,
    pipeline: Pipeline,
    name: str | None = None,
    currency: str | None = None,
    is_default: bool | None = None,
    is_archived: bool | None = None,
) -> Pipeline:
    """Rename it, change its currency (of new deals), make it the default (the former default
    stops being it) or archive it (the default cannot be archived)."""
    actor.require("pipelines.manage")
    with transaction.atomic():
        locked = Pipeline.objects.select_for_update().get(pk=pipeline.pk)
        if name is not None:
            locked.name = _clean_name(name)
        if currency is not None:
            locked.currency = _clean_currency(currency)
        if is_archived is not None:
            if is_archived and (locked.is_default and is_default is not True):
                raise ConflictError(
                    _("The default pipeline cannot be archived; make another one the default.")
                )
            locked.is_archived = is_archived
        if is_default:
            if locked.is_archived:
                raise ConflictError(_("An archived pipeline cannot be the default."))
            Pipeline.objects.filter(workspace=actor.workspace, is_default=True).exclude(
                pk=locked.pk
            ).update(is_default=False)
            locked.is_default = True
        try:
            with transaction.atomic():
                locked.save()
        except IntegrityError:
            raise ConflictError(_("A pipeline with this name exists already.")) from None
    return locked


def pipeline_delete(*, actor: Actor, pipeline: Pipeline) -> None:
    """Delete a pipeline that has no deals (ConflictError otherwise: archive it instead). When
    it was the default, the next pipeline becomes the default."""
    actor.require("pipelines.manage")
    with transaction.atomic():
        locked = Pipeline.objects.select_for_update().get(pk=pipeline.pk)
        if Deal.objects.filter(workspace=actor.workspace, pipeline=locked).exists():
            raise ConflictError(
                _("This pipeline has deals; move them or archive the pipeline instead.")
            )
        try:
            locked.delete()
        except ProtectedError:  # a deal created meanwhile
            raise ConflictError(_("This pipeline has deals.")) from None
        if locked.is_default:
            successor = (
                Pipeline.objects.filter(workspace=actor.workspace, is_archived=False)
                .order_by("position", "id")
                .first()
            )
            if successor is not None:
                successor.is_default = True
                successor.save(update_fields=["is_default", "updated_at"])


def _stages_after_change(pipeline: Pipeline, changed: Stage | None, removed: Stage | None) -> None:
    """Check the pipeline keeps unique names and an open stage once `changed` is saved or
    `removed` is gone."""
    stages = []
    for stage in Stage.objects.filter(pipeline=pipeline):
        if removed is not None and stage.pk == removed.pk:
            continue
        if changed is not None and stage.pk == changed.pk:
            continue
        stages.append(StageData(stage.name, stage.kind, stage.probability))
    if changed is not None:
        stages.append(StageData(changed.name, changed.kind, changed.probability))
    _check_stage_set(stages)


def stage_add(
    *, actor: Actor, pipeline: Pipeline, data: StageData, position: int | None = None
) -> Stage:
    """Add a stage at `position` (1-based; None: at the end, before no one)."""
    actor.require("pipelines.manage")
    cleaned = _clean_stage(data, 0)
    with transaction.atomic():
        Pipeline.objects.select_for_update().filter(pk=pipeline.pk).get()
        stages = list(Stage.objects.filter(pipeline=pipeline).order_by("position", "id"))
        if len(stages) >= MAX_STAGES:
            raise InvalidInputError(
                _("A pipeline has at most %(max)d stages.") % {"max": MAX_STAGES}, field="stages"
            )
        stage = Stage(
            workspace_id=pipeline.workspace_id,
            pipeline=pipeline,
            name=cleaned.name,
            kind=cleaned.kind,
            probability=cleaned.probability,
        )
        _stages_after_change(pipeline, stage, None)
        index = len(stages) if position is None else max(0, min(position - 1, len(stages)))
        stages.insert(index, stage)
        stage.position = index + 1
        stage.save()
        _renumber(stages)
        funnel_stages_changed(pipeline)
    return stage


def _renumber(stages: Sequence[Stage]) -> None:
    moved = []
    for number, stage in enumerate(stages, start=1):
        if stage.position != number:
            stage.position = number
            moved.append(stage)
    Stage.objects.bulk_update(moved, ["position"])


def stage_update(
    *,
    actor: Actor,
    stage: Stage,
    name: str | None = None,
    kind: str | None = None,
    probability: int | None = None,
) -> Stage:
    """Rename a stage or change its probability; its kind changes only while it holds no deals
    (their status mirrors it)."""
    actor.require("pipelines.manage")
    with transaction.atomic():
        locked = Stage.objects.select_for_update().select_related("pipeline").get(pk=stage.pk)
        cleaned = _clean_stage(
            StageData(
                locked.name if name is None else name,
                locked.kind if kind is None else kind,
                locked.probability if probability is None else probability,
            ),
            0,
        )
        if cleaned.kind != locked.kind and Deal.objects.filter(stage=locked).exists():
            raise ConflictError(
                _("Deals are in this stage: move them before changing its type."), field="type"
            )
        kind_changed = cleaned.kind != locked.kind
        locked.name, locked.kind, locked.probability = (
            cleaned.name,
            cleaned.kind,
            cleaned.probability,
        )
        _stages_after_change(locked.pipeline, locked, None)
        if kind_changed:
            funnel_stages_changed(locked.pipeline)
        locked.save(update_fields=["name", "kind", "probability"])
    return locked


def stage_delete(*, actor: Actor, stage: Stage) -> None:
    """Delete a stage without deals (ConflictError when it has some: move them first); the
    pipeline keeps at least one open stage."""
    actor.require("pipelines.manage")
    with transaction.atomic():
        Pipeline.objects.select_for_update().filter(pk=stage.pipeline_id).get()
        count = Deal.objects.filter(stage=stage).count()
        if count:
            raise ConflictError(
                _(
                    "%(count)d deal(s) are in this stage; move them to another stage before "
                    "deleting it."
                )
                % {"count": count}
            )
        _stages_after_change(stage.pipeline, None, stage)
        try:
            stage.delete()
        except ProtectedError:
            raise ConflictError(_("Deals are in this stage; move them first.")) from None
        _renumber(list(Stage.objects.filter(pipeline_id=stage.pipeline_id)))
        funnel_stages_changed(stage.pipeline)


def stages_reorder(*, actor: Actor, pipeline: Pipeline, stages: Sequence[Stage]) -> list[Stage]:
    """Put the pipeline's stages in the order given; every stage must be named once."""
    actor.require("pipelines.manage")
    with transaction.atomic():
        Pipeline.objects.select_for_update().filter(pk=pipeline.pk).get()
        current = {stage.pk: stage for stage in Stage.objects.filter(pipeline=pipeline)}
        wanted = [stage.pk for stage in stages]
        if sorted(wanted) != sorted(current) or len(set(wanted)) != len(wanted):
            raise InvalidInputError(
                _("Name every stage of the pipeline exactly once."), field="stage_ids"
            )
        ordered = [current[pk] for pk in wanted]
        _renumber(ordered)
        funnel_stages_changed(pipeline)
    return ordered


def pipeline_list(workspace: Workspace, *, include_archived: bool = False) -> QuerySet[Pipeline]:
    pipelines = Pipeline.objects.filter(workspace=workspace)
    if not include_archived:
        pipelines = pipelines.filter(is_archived=False)
    return pipelines.order_by("position", "id")


def pipeline_stages(pipeline: Pipeline) -> list[Stage]:
    return list(Stage.objects.filter(pipeline=pipeline).order_by("position", "id"))


# --- deals ----------------------------------------------------------------------------------
def _deal_payload(deal: Deal, **extra: Any) -> dict[str, Any]:
    return {
        "deal_id": deal.pk,
        "deal_public_id": str(deal.public_id),
        "pipeline_id": deal.pipeline_id,
        "stage_id": deal.stage_id,
        "customer_id": deal.customer_id,
        "owner_id": deal.owner_id,
        "amount": str(deal.amount),
        "currency": deal.currency,
        **extra,
    }


def _check_owner(actor: Actor, owner: Membership | None) -> None:
    _same_workspace(actor, owner, "owner")
    if owner is not None and not owner.is_active:
        raise InvalidInputError(_("This member is deactivated."), field="owner")


def deal_create(
    *,
    actor: Actor,
    pipeline: Pipeline,
    name: str,
    stage: Stage | None = None,
    amount: Decimal = Decimal("0"),
    currency: str | None = None,
    customer: Customer | None = None,
    company: Company | None = None,
    owner: Membership | None = None,
    lead: Lead | None = None,
    expected_close_date: dt.date | None = None,
    next_step: str = "",
) -> Deal:
    """A new open deal in `stage` (default: the pipeline's first open stage), owned by `owner`
    (default: the acting member), whose team it takes. Its first stage-history row has no
    `from_stage`. Publishes `deal.created`."""
    actor.require("deals.manage")
    _same_workspace(actor, pipeline, "pipeline")
    if pipeline.is_archived:
        raise InvalidInputError(_("This pipeline is archived."), field="pipeline")
    if stage is None:
        stage = (
            Stage.objects.filter(pipeline=pipeline, kind=StageKind.OPEN)
            .order_by("position", "id")
            .first()
        )
        if stage is None:
            raise InvalidInputError(_("This pipeline has no open stage."), field="pipeline")
    elif stage.pipeline_id != pipeline.pk:
        raise InvalidInputError(_("This stage is not in the deal's pipeline."), field="stage")
    if stage.kind != StageKind.OPEN:
        raise InvalidInputError(
            _("A new deal starts in an open stage; win or lose it afterwards."), field="stage"
        )
    for value, name_of in ((customer, "customer"), (company, "company"), (lead, "lead")):
        _same_workspace(actor, value, name_of)
    owner = owner if owner is not None else _acting_member(actor)
    _check_owner(actor, owner)
    if company is None and customer is not None and customer.company_id is not None:
        company = customer.company
    moment = timezone.now()
    with transaction.atomic():
        track = funnel_track(pipeline, None)
        deal = Deal.objects.create(
            workspace=actor.workspace,
            name=_clean_name(name, max_length=DEAL_NAME_MAX_LENGTH),
            pipeline=pipeline,
            stage=stage,
            status=StageKind.OPEN,
            amount=_clean_amount(amount),
            currency=_clean_currency(currency or pipeline.currency),
            customer=customer,
            company=company,
            lead=lead,
            owner=owner,
            team_id=owner.team_id if owner is not None else None,
            expected_close_date=expected_close_date,
            next_step=_clean_text(next_step, "next_step"),
            stage_entered_at=moment,
            created_by=_acting_member(actor),
            created_at=moment,
        )
        DealStageChange.objects.create(
            workspace=actor.workspace,
            deal=deal,
            pipeline=pipeline,
            from_stage=None,
            to_stage=stage,
            actor=_acting_member(actor),
            changed_at=moment,
        )
        funnel_changed(track, deal)
        outbox_publish(
            workspace_id=actor.workspace.pk, kind="deal.created", payload=_deal_payload(deal)
        )
    return deal


@dataclass
class DealData:
    """Fields of a deal to change; UNSET leaves one as it is."""

    name: Any = UNSET
    amount: Any = UNSET  # Decimal
    currency: Any = UNSET
    customer: Any = UNSET  # Customer | None
    company: Any = UNSET  # Company | None
    owner: Any = UNSET  # Membership | None
    expected_close_date: Any = UNSET  # date | None
    next_step: Any = UNSET
    forecast_category: Any = UNSET
    lost_reason: Any = UNSET  # only on a lost deal

    def given(self) -> dict[str, Any]:
        return {
            item.name: getattr(self, item.name)
            for item in fields(self)
            if getattr(self, item.name) is not UNSET
        }


_DEAL_CLEANERS: dict[str, Any] = {
    "name": lambda value: _clean_name(value, max_length=DEAL_NAME_MAX_LENGTH),
    "amount": _clean_amount,
    "currency": _clean_currency,
    "next_step": lambda value: _clean_text(value, "next_step"),
    "lost_reason": lambda value: _clean_text(value, "lost_reason"),
}


def deal_lock(deal: Deal) -> Deal:
    """The deal's row, locked for the rest of the transaction (PostgreSQL). Locked alone: a
    lock taken through a join would drop the row when a concurrent move changed its stage
    (the join is re-checked against the stage the statement first saw)."""
    locked: Deal = Deal.objects.select_for_update().get(pk=deal.pk)
    return locked


def deal_update(*, actor: Actor, deal: Deal, data: DealData) -> Deal:
    """Change the fields given (a move of stage is deal_move). Changing the owner moves the
    deal to the new owner's team. The lost reason is kept only on a lost deal."""
    actor.require("deals.manage")
    given = data.given()
    for name in ("customer", "company"):
        _same_workspace(actor, given.get(name), name)
    if "owner" in given:
        _check_owner(actor, given["owner"])
    if "forecast_category" in given and given["forecast_category"] not in ForecastCategory.values:
        raise InvalidInputError(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(ForecastCategory.values)},
            field="forecast_category",
        )
    if "expected_close_date" in given and not isinstance(
        given["expected_close_date"], dt.date | None
    ):
        raise InvalidInputError(_("Enter a date."), field="expected_close_date")
    cleaned = {
        name: _DEAL_CLEANERS[name](value) if name in _DEAL_CLEANERS else value
        for name, value in given.items()
    }
    with transaction.atomic():
        locked = deal_lock(deal)
        if "lost_reason" in cleaned:
            if locked.status != StageKind.LOST:
                cleaned.pop("lost_reason")
            elif not cleaned["lost_reason"]:
                raise InvalidInputError(_("Say why the deal was lost."), field="lost_reason")
        changed = [name for name, value in cleaned.items() if getattr(locked, name) != value]
        # The roll-ups need the deal as it was: taken before anything is set.
        track = funnel_track(locked.pipeline, locked) if ROLLED_UP_FIELDS & set(changed) else None
        for name in changed:
            setattr(locked, name, cleaned[name])
        if "owner" in changed:
            locked.team_id = locked.owner.team_id if locked.owner is not None else None
            changed.append("team")
        if changed:
            locked.save(update_fields=[*changed, "updated_at"])
            funnel_changed(track, locked)
            outbox_publish(
                workspace_id=actor.workspace.pk,
                kind="deal.updated",
                payload=_deal_payload(locked, fields=sorted(changed)),
            )
    return locked


def deal_delete(*, actor: Actor, deal: Deal) -> None:
    actor.require("deals.manage")
    with transaction.atomic():
        locked = deal_lock(deal)
        payload = _deal_payload(locked)
        track = funnel_track(locked.pipeline, locked)
        locked.delete()
        funnel_changed(track, None)
        outbox_publish(workspace_id=actor.workspace.pk, kind="deal.deleted", payload=payload)


def _lifecycle_to_customer(customer: Customer) -> None:
    """Winning makes the customer a "customer" unless they are further along (loyal). A
    churned customer who buys again is a customer again: in LIFECYCLE_ORDER churned comes
    last, but for a won deal it is behind "customer" (as merging ranks it)."""
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    current = locked.lifecycle_stage
    target = LifecycleStage.CUSTOMER
    further = LIFECYCLE_ORDER.get(current, -1) >= LIFECYCLE_ORDER[target]
    if further and current != LifecycleStage.CHURNED:
        return
    locked.lifecycle_stage = target
    locked.save(update_fields=["lifecycle_stage", "updated_at"])
    customer.lifecycle_stage = target


def _deal_event(deal: Deal, kind: str, stage: Stage, moment: dt.datetime, **extra: Any) -> None:
    if deal.customer is None:
        return
    event_record(
        customer=deal.customer,
        kind=kind,
        occurred_at=moment,
        source="sales",
        properties={
            "deal_id": str(deal.public_id),
            "deal": deal.name,
            "amount": str(deal.amount),
            "currency": deal.currency,
            "stage": stage.name,
            **extra,
        },
    )


def _won(*, actor: Actor, deal: Deal, stage: Stage, moment: dt.datetime) -> None:
    from huike.sales.orders import order_from_deal  # the orders part builds on deals

    if deal.customer is not None:
        _lifecycle_to_customer(deal.customer)
        _deal_event(deal, "deal.won", stage, moment)
    # An order is always someone's: the main customer, else a contact of the deal.
    if deal.customer is not None or DealContact.objects.filter(deal=deal).exists():
        order_from_deal(deal=deal, actor=actor)


def deal_move(*, actor: Actor, deal: Deal, stage: Stage, lost_reason: str = "") -> Deal:
    """Move the deal to `stage` of its pipeline, under the deal's row lock (two people moving
    the same deal: the second sees the first's move and records the time from it).

    Writes the DealStageChange with the seconds spent in the stage left; the status follows the
    stage's kind and `closed_at` is set on won/lost (cleared on reopening). Winning moves the
    customer's lifecycle to "customer" unless further along, records `deal.won` on their
    timeline and makes the order (orders.order_from_deal, one per deal). Losing needs
    `lost_reason` (InvalidInputError field lost_reason) and records `deal.lost`. Publishes
    `deal.stage_changed`, and `deal.won` / `deal.lost` when the status changes. Moving to the
    stage the deal is in changes nothing."""
    actor.require("deals.manage")
    reason = _clean_text(lost_reason, "lost_reason")
    if stage.kind == StageKind.LOST and not reason:
        raise InvalidInputError(_("Say why the deal was lost."), field="lost_reason")
    with transaction.atomic():
        locked = deal_lock(deal)
        if stage.pipeline_id != locked.pipeline_id:
            raise InvalidInputError(
                _("This stage is not in the deal's pipeline."), field="stage_id"
            )
        if stage.pk == locked.stage_id:
            return locked
        track = funnel_track(locked.pipeline, locked)
        moment = timezone.now()
        from_stage = locked.stage
        was = locked.status
        DealStageChange.objects.create(
            workspace_id=locked.workspace_id,
            deal=locked,
            pipeline_id=locked.pipeline_id,
            from_stage=from_stage,
            to_stage=stage,
            seconds_in_from=max(0, int((moment - locked.stage_entered_at).total_seconds())),
            actor=_acting_member(actor),
            changed_at=moment,
        )
        locked.stage = stage
        locked.status = stage.kind
        locked.stage_entered_at = moment
        locked.closed_at = (
            None
            if stage.kind == StageKind.OPEN
            else (locked.closed_at if was == stage.kind else moment)
        )
        locked.lost_reason = reason if stage.kind == StageKind.LOST else ""
        locked.save(
            update_fields=[
                "stage",
                "status",
                "stage_entered_at",
                "closed_at",
                "lost_reason",
                "updated_at",
            ]
        )
        funnel_changed(track, locked)
        locked.customer = (
            Customer.objects.get(pk=locked.customer_id) if locked.customer_id else None
        )
        payload = _deal_payload(
            locked, from_stage_id=from_stage.pk, to_stage_id=stage.pk, status=stage.kind
        )
        outbox_publish(workspace_id=locked.workspace_id, kind="deal.stage_changed", payload=payload)
        if stage.kind == StageKind.WON and was != StageKind.WON:
            _won(actor=actor, deal=locked, stage=stage, moment=moment)
            outbox_publish(workspace_id=locked.workspace_id, kind="deal.won", payload=payload)
        elif stage.kind == StageKind.LOST and was != StageKind.LOST:
            _deal_event(locked, "deal.lost", stage, moment, lost_reason=reason)
            outbox_publish(
                workspace_id=locked.workspace_id,
                kind="deal.lost",
                payload={**payload, "lost_reason": reason},
            )
    return locked


# --- contacts and products ------------------------------------------------------------------
def deal_contact_set(
    *, actor: Actor, deal: Deal, customer: Customer, role: str = DealContact.Role.OTHER
) -> DealContact:
    """Add `customer` as a contact of the deal with `role`, or change the role they have."""
    actor.require("deals.manage")
    _same_workspace(actor, customer, "customer")
    if role not in DealContact.Role.values:
        raise InvalidInputError(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(DealContact.Role.values)},
            field="role",
        )
    with transaction.atomic():
        deal_lock(deal)
        contact, created = DealContact.objects.get_or_create(
            deal=deal, customer=customer, defaults={"workspace": actor.workspace, "role": role}
        )
        if not created and contact.role != role:
            contact.role = role
            contact.save(update_fields=["role"])
    return contact


def deal_contact_remove(*, actor: Actor, deal: Deal, contact: DealContact) -> None:
    actor.require("deals.manage")
    if contact.deal_id != deal.pk:
        raise InvalidInputError(_("This contact is not on the deal."), field="contact")
    contact.delete()


def _amount_from_products(deal: Deal) -> None:
    """The deal's amount follows its product lines (quantity times unit price) once it has some;
    the caller holds the deal's row."""
    lines = DealProduct.objects.filter(deal=deal).values_list("quantity", "unit_price")
    if not lines:
        return
    total = sum((quantity * price for quantity, price in lines), Decimal("0"))
    amount = min(total.quantize(Decimal("0.01")), MAX_AMOUNT)
    if amount == deal.amount:
        return
    track = funnel_track(deal.pipeline, deal)
    deal.amount = amount
    deal.save(update_fields=["amount", "updated_at"])
    funnel_changed(track, deal)


def deal_product_add(
    *,
    actor: Actor,
    deal: Deal,
    product: Product,
    quantity: Decimal,
    unit_price: Decimal | None = None,
) -> DealProduct:
    """A product line on the deal (unit price: the catalog's unless given, in the deal's
    currency); the deal's amount becomes the sum of its lines."""
    actor.require("deals.manage")
    _same_workspace(actor, product, "product")
    if not product.is_active:
        raise InvalidInputError(_("This product is not sold any more."), field="product_id")
    amount = _clean_amount(quantity, "quantity", MAX_QUANTITY)
    if amount == 0:
        raise InvalidInputError(_("Enter a quantity above 0."), field="quantity")
    with transaction.atomic():
        locked = deal_lock(deal)
        if unit_price is None:
            if product.currency != locked.currency:
                raise InvalidInputError(
                    _("The product is priced in %(currency)s: give the unit price.")
                    % {"currency": product.currency},
                    field="unit_price",
                )
            unit_price = product.price
        line = DealProduct.objects.create(
            workspace=actor.workspace,
            deal=locked,
            product=product,
            quantity=amount,
            unit_price=_clean_amount(unit_price, "unit_price"),
        )
        _amount_from_products(locked)
    return line


def deal_product_update(
    *,
    actor: Actor,
    line: DealProduct,
    quantity: Decimal | None = None,
    unit_price: Decimal | None = None,
) -> DealProduct:
    actor.require("deals.manage")
    with transaction.atomic():
        locked = deal_lock(line.deal)
        if quantity is not None:
            line.quantity = _clean_amount(quantity, "quantity", MAX_QUANTITY)
            if line.quantity == 0:
                raise InvalidInputError(_("Enter a quantity above 0."), field="quantity")
        if unit_price is not None:
            line.unit_price = _clean_amount(unit_price, "unit_price")
        line.save(update_fields=["quantity", "unit_price"])
        _amount_from_products(locked)
    return line


def deal_product_remove(*, actor: Actor, line: DealProduct) -> None:
    actor.require("deals.manage")
    with transaction.atomic():
        locked = deal_lock(line.deal)
        line.delete()
        _amount_from_products(locked)


# --- activities -----------------------------------------------------------------------------
def activity_log(
    *,
    actor: Actor,
    kind: str,
    subject: str,
    body: str = "",
    occurred_at: dt.datetime | None = None,
    duration_minutes: int | None = None,
    deal: Deal | None = None,
    lead: Lead | None = None,
    customer: Customer | None = None,
) -> Activity:
    """A call, meeting, visit, email or note on a deal and/or a lead (and its customer). It is
    also an `activity.logged` event on the customer's timeline; on a lead it counts as a
    follow-up (leads.lead_touch)."""
    if deal is None and lead is None and customer is None:
        raise InvalidInputError(_("Log an activity on a deal, a lead or a customer."))
    if deal is not None:
        actor.require("deals.manage")
    if lead is not None:
        actor.require("leads.manage")
    if deal is None and lead is None:
        actor.require_any("deals.manage", "leads.manage")
    if kind not in Activity.Kind.values:
        raise InvalidInputError(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(Activity.Kind.values)},
            field="kind",
        )
    for value, name in ((deal, "deal"), (lead, "lead"), (customer, "customer")):
        _same_workspace(actor, value, name)
    if duration_minutes is not None and not 0 <= duration_minutes <= 24 * 60:
        raise InvalidInputError(_("At most a day (1440 minutes)."), field="duration_minutes")
    moment = occurred_at or timezone.now()
    if timezone.is_naive(moment):
        raise InvalidInputError(_("Give the time with its time zone."), field="occurred_at")
    if customer is None:
        customer = (deal.customer if deal is not None else None) or (
            lead.customer if lead is not None else None
        )
    with transaction.atomic():
        activity = Activity.objects.create(
            workspace=actor.workspace,
            kind=kind,
            subject=_clean_name(subject, field="subject", max_length=200),
            body=_clean_text(body, "body", 10_000),
            occurred_at=moment,
            duration_minutes=duration_minutes,
            deal=deal,
            lead=lead,
            customer=customer,
            author=_acting_member(actor),
        )
        if customer is not None:
            event_record(
                customer=customer,
                kind="activity.logged",
                occurred_at=moment,
                source="sales",
                properties={
                    "activity_id": str(activity.public_id),
                    "type": kind,
                    "subject": activity.subject,
                    **({"deal_id": str(deal.public_id), "deal": deal.name} if deal else {}),
                    **({"lead_id": str(lead.public_id)} if lead else {}),
                },
            )
        if lead is not None:
            from huike.sales.leads import lead_touch  # leads build on deals (conversion)

            lead_touch(lead=lead, at=moment)
    return activity


# --- selectors ------------------------------------------------------------------------------
@dataclass
class DealFilters:
    pipeline: Pipeline | None = None
    stage: Stage | None = None
    status: str | None = None
    owner: Membership | None = None
    customer: Customer | None = None
    company: Company | None = None
    q: str = ""
    close_from: dt.date | None = None
    close_to: dt.date | None = None
    mine: bool = False


def deal_search(actor: Actor, filters: DealFilters) -> QuerySet[Deal]:
    """Deals the actor may see, narrowed by `filters` (no ordering: callers page them)."""
    deals = visible_deals(actor)
    if filters.pipeline is not None:
        deals = deals.filter(pipeline=filters.pipeline)
    if filters.stage is not None:
        deals = deals.filter(stage=filters.stage)
    if filters.status:
        deals = deals.filter(status=filters.status)
    if filters.owner is not None:
        deals = deals.filter(owner=filters.owner)
    if filters.mine:
        deals = deals.filter(owner=actor.membership)
    if filters.customer is not None:
        deals = deals.filter(customer=filters.customer)
    if filters.company is not None:
        deals = deals.filter(company=filters.company)
    if filters.q:
        deals = deals.filter(name__icontains=filters.q)
    if filters.close_from is not None:
        deals = deals.filter(expected_close_date__gte=filters.close_from)
    if filters.close_to is not None:
        deals = deals.filter(expected_close_date__lte=filters.close_to)
    return deals


@dataclass
class Money:
    currency: str
    amount: Decimal


@dataclass
class StageTotals:
    count: int = 0
    totals: list[Money] = field(default_factory=list)
    weighted: list[Money] = field(default_factory=list)


def stage_totals(deals: QuerySet[Deal], stages: Iterable[Stage]) -> dict[int, StageTotals]:
    """Count, amount and weighted amount (times the stage's probability) per stage of `deals`,
    per currency, in one query."""
    probability = {stage.pk: stage.probability for stage in stages}
    result: dict[int, StageTotals] = {pk: StageTotals() for pk in probability}
    rows = (
        deals.order_by()
        .values_list("stage_id", "currency")
        .annotate(count=Count("id"), total=Sum("amount"))
        .order_by("stage_id", "currency")
    )
    for stage_id, currency, count, total in rows:
        entry = result.setdefault(stage_id, StageTotals())
        amount = total or Decimal("0")
        entry.count += count
        entry.totals.append(Money(currency, amount))
        weight = Decimal(probability.get(stage_id, 0)) / 100
        entry.weighted.append(Money(currency, (amount * weight).quantize(Decimal("0.01"))))
    return result


BOARD_ORDERING = ("-created_at", "-id")


@dataclass
class Column:
    stage: Stage
    totals: StageTotals
    deals: list[Deal]
    next: str | None


def board_column_page(
    deals: QuerySet[Deal], stage: Stage, *, cursor: str | None, limit: int = BOARD_PAGE_SIZE
) -> tuple[list[Deal], str | None]:
    """One page of a column, newest first, by keyset on (created_at, id): the index
    deal_ws_stage_idx makes it as fast at the 100,000th card as at the first."""
    from huike.core.pagination import paginate

    page = paginate(
        deals.filter(stage=stage).select_related("customer", "owner__user"),
        cursor=cursor,
        limit=limit,
        ordering=BOARD_ORDERING,
    )
    return page.items, page.next


def board_columns(actor: Actor, pipeline: Pipeline, filters: DealFilters) -> list[Column]:
    """The kanban board: per stage its totals and first page of cards. One query for the
    stages, one for all totals, one per column."""
    stages = pipeline_stages(pipeline)
    deals = deal_search(actor, DealFilters(**{**filters.__dict__, "pipeline": pipeline}))
    totals = stage_totals(deals, stages)
    columns = []
    for stage in stages:
        cards, next_cursor = board_column_page(deals, stage, cursor=None)
        columns.append(Column(stage, totals[stage.pk], cards, next_cursor))
    return columns


@dataclass
class StageVisit:
    stage_name: str
    kind: str
    entered_at: dt.datetime
    left_at: dt.datetime | None
    seconds: int
    actor: Membership | None


def deal_stage_history(deal: Deal) -> list[StageVisit]:
    """The stages the deal went through, oldest first, with the time spent in each (the
    current one up to now)."""
    changes = list(
        DealStageChange.objects.filter(deal=deal)
        .select_related("to_stage", "actor__user")
        .order_by("changed_at", "id")
    )
    now = timezone.now()
    visits = []
    for index, change in enumerate(changes):
        following = changes[index + 1] if index + 1 < len(changes) else None
        left_at = following.changed_at if following is not None else None
        seconds = (
            following.seconds_in_from
            if following is not None and following.seconds_in_from is not None
            else int(((left_at or now) - change.changed_at).total_seconds())
        )
        visits.append(
            StageVisit(
                stage_name=change.to_stage.name,
                kind=change.to_stage.kind,
                entered_at=change.changed_at,
                left_at=left_at,
                seconds=max(0, seconds),
                actor=change.actor,
            )
        )
    return visits


def deal_activities(deal: Deal) -> QuerySet[Activity]:
    return Activity.objects.filter(deal=deal).select_related("author__user")


def deal_contacts(deal: Deal) -> QuerySet[DealContact]:
    return DealContact.objects.filter(deal=deal).select_related("customer").order_by("id")


def deal_products(deal: Deal) -> QuerySet[DealProduct]:
    return DealProduct.objects.filter(deal=deal).select_related("product").order_by("id")
