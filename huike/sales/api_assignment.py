"""The lead-assignment API: `/assignment-rules` (list, create, read, change, delete, reorder)
and running the rules over the pool now. Every endpoint needs leads.configure; rules come
through access_assignment_rule, so another workspace's ids are 404s, and members or teams a
body names that are not this workspace's are a 422 naming the field."""

import dataclasses
import functools
import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from huike.accounts.access import Actor, lookup_membership, lookup_team
from huike.accounts.api_gateway import request_actor
from huike.core.errors import InvalidInputError, NotFoundError
from huike.core.pagination import Page, PageOut, PageQuery, paginate
from huike.sales import assignment
from huike.sales.access import access_assignment_rule
from huike.sales.api_schemas_assignment import (
    AssignmentRuleIn,
    AssignmentRuleOut,
    AssignmentRulePatchIn,
    AssignPendingOut,
    ReorderIn,
)
from huike.sales.assignment import AssignmentRuleData, conditions_clean
from huike.sales.models import AssignmentRule

router = Router(tags=["Lead assignment"])

RULE_ORDERING = ("position", "id")
# Fields a PATCH may leave out but not set to null, and those null clears.
REQUIRED_FIELDS = ("name", "is_active", "strategy")
NULLABLE_FIELDS = ("capacity", "sla_minutes")


def _referenced[T](find: Callable[[], T], field: str) -> T:
    """An object named in a request body: unknown ids are a bad field (422), not a 404."""
    try:
        return find()
    except NotFoundError as error:
        raise InvalidInputError(error.detail, field=field) from None


def _data(
    actor: Actor, payload: AssignmentRulePatchIn, base: AssignmentRuleData
) -> AssignmentRuleData:
    """`base` with the fields the payload sent replaced (a create sends them all)."""
    sent = payload.model_fields_set
    for name in REQUIRED_FIELDS:
        if name in sent and getattr(payload, name) is None:
            raise InvalidInputError(_("This field cannot be null."), field=name)
    changes: dict[str, Any] = {
        name: getattr(payload, name)
        for name in (*REQUIRED_FIELDS, *NULLABLE_FIELDS)
        if name in sent
    }
    if "conditions" in sent:
        conditions = payload.conditions
        changes["conditions"] = conditions_clean(conditions.model_dump() if conditions else None)
    if "owner_id" in sent:
        owner_id = payload.owner_id
        changes["owner"] = (
            _referenced(lambda: lookup_membership(actor.workspace, owner_id), "owner_id")
            if owner_id
            else None
        )
    if "member_ids" in sent:
        changes["members"] = [
            _referenced(
                functools.partial(lookup_membership, actor.workspace, member_id), "member_ids"
            )
            for member_id in dict.fromkeys(payload.member_ids or [])
        ]
    if "team_id" in sent:
        team_id = payload.team_id
        changes["team"] = (
            _referenced(lambda: lookup_team(actor.workspace, team_id), "team_id")
            if team_id
            else None
        )
    return dataclasses.replace(base, **changes)


_FIELD_NAMES = {"owner": "owner_id", "members": "member_ids", "team": "team_id"}


def _saving[T](save: Callable[[], T]) -> T:
    """Run a service, naming the API's fields (owner_id…) in its errors."""
    try:
        return save()
    except InvalidInputError as error:
        field = _FIELD_NAMES.get(error.field or "", error.field)
        raise InvalidInputError(error.detail, field=field) from None


def _rule_out(actor: Actor, rule: AssignmentRule) -> AssignmentRule:
    found: AssignmentRule = assignment.assignment_rules(actor.workspace.pk).get(pk=rule.pk)
    return found


@router.get("/assignment-rules", response=PageOut[AssignmentRuleOut], summary="List rules")
def assignment_rule_list(request: HttpRequest, page: Query[PageQuery]) -> Page[AssignmentRule]:
    """The workspace's assignment rules in the order they are evaluated."""
    actor = request_actor(request)
    actor.require("leads.configure")
    return paginate(
        assignment.assignment_rules(actor.workspace.pk),
        cursor=page.cursor,
        limit=page.limit,
        ordering=RULE_ORDERING,
    )


@router.post("/assignment-rules", response={201: AssignmentRuleOut}, summary="Create a rule")
def assignment_rule_create(
    request: HttpRequest, payload: AssignmentRuleIn
) -> Status[AssignmentRule]:
    """A new rule, evaluated after the existing ones. Pool leads it takes are assigned once
    it is saved."""
    actor = request_actor(request)
    actor.require("leads.configure")
    empty = AssignmentRuleData(name="", strategy=payload.strategy)
    data = _data(actor, payload, empty)
    rule = _saving(lambda: assignment.assignment_rule_create(actor=actor, data=data))
    return Status(201, _rule_out(actor, rule))


@router.post(
    "/assignment-rules/reorder",
    response=list[AssignmentRuleOut],
    summary="Change the order rules are evaluated in",
)
def assignment_rule_reorder(request: HttpRequest, payload: ReorderIn) -> list[AssignmentRule]:
    """The named rules come first, in the given order; the others follow as they were.
    Returns every rule in the new order."""
    actor = request_actor(request)
    actor.require("leads.configure")
    assignment.assignment_rules_reorder(actor=actor, rule_ids=payload.ids)
    return list(assignment.assignment_rules(actor.workspace.pk))


@router.post(
    "/assignment-rules/assign-pool",
    response=AssignPendingOut,
    summary="Assign pool leads the rules take now",
)
def assignment_assign_pool(request: HttpRequest) -> dict[str, int]:
    """Run the rules over the pool at once, highest score first (the five-minute job does the
    same). Leads that had an owner before stay in the pool for reps to claim."""
    actor = request_actor(request)
    return {"assigned": assignment.leads_assign_pending_now(actor=actor)}


@router.get("/assignment-rules/{rule_id}", response=AssignmentRuleOut, summary="Get a rule")
def assignment_rule_detail(request: HttpRequest, rule_id: uuid.UUID) -> AssignmentRule:
    actor = request_actor(request)
    return _rule_out(actor, access_assignment_rule(actor, rule_id))


@router.patch("/assignment-rules/{rule_id}", response=AssignmentRuleOut, summary="Change a rule")
def assignment_rule_update(
    request: HttpRequest, rule_id: uuid.UUID, payload: AssignmentRulePatchIn
) -> AssignmentRule:
    """Change the fields sent; `conditions`, when sent, replace the old ones whole."""
    actor = request_actor(request)
    rule = access_assignment_rule(actor, rule_id)
    data = _data(actor, payload, assignment.assignment_rule_data(rule))
    _saving(lambda: assignment.assignment_rule_update(actor=actor, rule=rule, data=data))
    return _rule_out(actor, rule)


@router.delete("/assignment-rules/{rule_id}", response={204: None}, summary="Delete a rule")
def assignment_rule_delete(request: HttpRequest, rule_id: uuid.UUID) -> Status[None]:
    """Delete a rule; the leads it assigned keep their owners."""
    actor = request_actor(request)
    assignment.assignment_rule_delete(actor=actor, rule=access_assignment_rule(actor, rule_id))
    return Status(204, None)
