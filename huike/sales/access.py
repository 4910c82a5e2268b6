"""The only way views, endpoints and tasks get sales objects (see huike.accounts.access).

Leads, deals, tasks and orders follow the record rules of huike.accounts.visibility (own,
team subtree, view-all, shares); unassigned leads (the pool) are also visible to roles that may
claim them. Pipelines, stages, products, scoring and assignment rules, web forms and targets
are the workspace's configuration, visible to every role that works with sales. Anything
outside the actor's reach is NotFoundError, as if it did not exist.
"""

import uuid
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from huike.accounts.access import Actor, parse_public_id
from huike.accounts.visibility import RecordScope, shared_record_ids
from huike.core.errors import NotFoundError
from huike.sales.models import (
    Activity,
    AssignmentRule,
    Deal,
    Lead,
    Order,
    Pipeline,
    Product,
    SalesTarget,
    ScoringRule,
    Stage,
    Task,
    WebForm,
)


def visible_leads(actor: Actor) -> QuerySet[Lead]:
    """Leads the actor may see: by record rules, plus the pool for roles that may claim."""
    actor.require("leads.view")
    queryset: QuerySet[Lead] = Lead.objects.visible_to(actor)
    if actor.has("leads.claim") and not actor.has("records.view_all"):
        pool = Lead.objects.filter(workspace=actor.workspace, owner__isnull=True)
        queryset = Lead.objects.filter(
            Q(pk__in=queryset.values("pk")) | Q(pk__in=pool.values("pk"))
        )
    return queryset


def visible_deals(actor: Actor) -> QuerySet[Deal]:
    actor.require("deals.view")
    queryset: QuerySet[Deal] = Deal.objects.visible_to(actor)
    return queryset


def shared_only_deals(
    actor: Actor, scope: RecordScope, deals: QuerySet[Deal]
) -> QuerySet[Deal] | None:
    """Of `deals`, those the actor (limited by record rules: `scope`) sees only because they
    were shared with them or their team, which roll-ups per owner and team leave out; None
    when nothing is shared with them. One query."""
    shared = list(
        shared_record_ids(actor, Deal._meta.label_lower).values_list("record_id", flat=True)
    )
    if not shared:
        return None
    return deals.filter(pk__in=shared).exclude(scope.owned())


def visible_tasks(actor: Actor) -> QuerySet[Task]:
    """Tasks assigned to the actor (or within their record rules) and tasks they created."""
    queryset: QuerySet[Task] = Task.objects.visible_to(actor)
    if actor.membership is not None and not actor.has("records.view_all"):
        created = Task.objects.filter(workspace=actor.workspace, created_by=actor.membership)
        queryset = Task.objects.filter(
            Q(pk__in=queryset.values("pk")) | Q(pk__in=created.values("pk"))
        )
    return queryset


def visible_orders(actor: Actor) -> QuerySet[Order]:
    actor.require("orders.view")
    queryset: QuerySet[Order] = Order.objects.visible_to(actor)
    return queryset


def _get[M: Any](queryset: QuerySet[M], public_id: uuid.UUID | str, not_found: str) -> M:
    try:
        return queryset.get(public_id=parse_public_id(public_id, not_found))
    except queryset.model.DoesNotExist:
        raise NotFoundError(not_found) from None


def access_lead(actor: Actor, public_id: uuid.UUID | str) -> Lead:
    lead: Lead = _get(
        visible_leads(actor).select_related("customer", "company", "owner__user", "team"),
        public_id,
        _("No such lead."),
    )
    return lead


def access_deal(actor: Actor, public_id: uuid.UUID | str) -> Deal:
    deal: Deal = _get(
        visible_deals(actor).select_related(
            "pipeline", "stage", "customer", "company", "owner__user", "team"
        ),
        public_id,
        _("No such deal."),
    )
    return deal


def access_task(actor: Actor, public_id: uuid.UUID | str) -> Task:
    task: Task = _get(
        visible_tasks(actor).select_related("owner__user", "lead", "deal", "customer"),
        public_id,
        _("No such task."),
    )
    return task


def access_order(actor: Actor, public_id: uuid.UUID | str) -> Order:
    order: Order = _get(
        visible_orders(actor).select_related("customer", "deal"), public_id, _("No such order.")
    )
    return order


def access_activity(actor: Actor, public_id: uuid.UUID | str) -> Activity:
    """An activity is visible with the deal or lead it is logged on."""
    not_found = _("No such activity.")
    activity: Activity = _get(
        Activity.objects.filter(workspace=actor.workspace).select_related("deal", "lead"),
        public_id,
        not_found,
    )
    if activity.deal_id is not None:
        if not visible_deals(actor).filter(pk=activity.deal_id).exists():
            raise NotFoundError(not_found)
    elif activity.lead_id is not None:
        if not visible_leads(actor).filter(pk=activity.lead_id).exists():
            raise NotFoundError(not_found)
    elif activity.author_id != getattr(actor.membership, "pk", None) and not actor.has(
        "records.view_all"
    ):
        raise NotFoundError(not_found)
    return activity


def _configuration[M: Any](
    model: type[M], actor: Actor, public_id: uuid.UUID | str, not_found: str
) -> M:
    found: M = _get(model.objects.filter(workspace=actor.workspace), public_id, not_found)
    return found


def access_pipeline(actor: Actor, public_id: uuid.UUID | str) -> Pipeline:
    actor.require("deals.view")
    pipeline: Pipeline = _configuration(Pipeline, actor, public_id, _("No such pipeline."))
    return pipeline


def access_stage(actor: Actor, public_id: uuid.UUID | str) -> Stage:
    actor.require("deals.view")
    stage: Stage = _get(
        Stage.objects.filter(workspace=actor.workspace).select_related("pipeline"),
        public_id,
        _("No such stage."),
    )
    return stage


def access_product(actor: Actor, public_id: uuid.UUID | str) -> Product:
    actor.require_any("deals.view", "orders.view", "products.manage")
    product: Product = _configuration(Product, actor, public_id, _("No such product."))
    return product


def access_scoring_rule(actor: Actor, public_id: uuid.UUID | str) -> ScoringRule:
    actor.require_any("leads.view", "leads.configure")
    rule: ScoringRule = _configuration(ScoringRule, actor, public_id, _("No such scoring rule."))
    return rule


def access_assignment_rule(actor: Actor, public_id: uuid.UUID | str) -> AssignmentRule:
    actor.require("leads.configure")
    rule: AssignmentRule = _configuration(
        AssignmentRule, actor, public_id, _("No such assignment rule.")
    )
    return rule


def access_web_form(actor: Actor, public_id: uuid.UUID | str) -> WebForm:
    actor.require("leads.configure")
    form: WebForm = _configuration(WebForm, actor, public_id, _("No such web form."))
    return form


def access_target(actor: Actor, public_id: uuid.UUID | str) -> SalesTarget:
    actor.require_any("forecast.view", "targets.manage")
    target: SalesTarget = _configuration(SalesTarget, actor, public_id, _("No such target."))
    return target
