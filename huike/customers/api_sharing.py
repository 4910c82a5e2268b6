"""Sharing customers, leads and deals (every kind in huike.customers.share_kinds) with a member
or a team (huike.accounts.sharing): the share makes the record visible to them under the
record rules. Reading the shares needs the record; changing them needs the kind's manage
permission and being the owner or their manager.

The routes are made per registered kind by `sharing_router()`, which the API calls once the
apps are ready (their ready() registers the kinds)."""

import datetime as dt
import uuid
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from huike.accounts import sharing
from huike.accounts.access import Actor, lookup_membership, lookup_team
from huike.accounts.api_gateway import request_actor
from huike.accounts.api_schemas import MemberRef, TeamRef
from huike.accounts.models import Membership, RecordShare, Team
from huike.core.errors import InvalidInputError, NotFoundError
from huike.customers.share_kinds import ShareKind, share_kinds


class ShareIn(Schema):
    member_id: uuid.UUID | None = Field(default=None, description="A member; or team_id.")
    team_id: uuid.UUID | None = None


class ShareOut(Schema):
    member: MemberRef | None
    team: TeamRef | None
    created_at: dt.datetime

    @staticmethod
    def resolve_member(obj: RecordShare) -> Membership | None:
        return obj.membership


def _grantee(actor: Actor, given: ShareIn) -> tuple[Membership | None, Team | None]:
    try:
        membership = (
            lookup_membership(actor.workspace, given.member_id) if given.member_id else None
        )
    except NotFoundError as error:
        raise InvalidInputError(error.detail, field="member_id") from None
    try:
        team = lookup_team(actor.workspace, given.team_id) if given.team_id else None
    except NotFoundError as error:
        raise InvalidInputError(error.detail, field="team_id") from None
    return membership, team


def _routes(router: Router, registered: ShareKind) -> None:
    kind, singular = registered.plural, registered.key
    access, permission = registered.access, registered.permission

    @router.get(
        f"/{kind}/{{record_id}}/shares",
        response=list[ShareOut],
        summary=f"Who a {singular} is shared with",
        operation_id=f"{singular}_shares",
    )
    def shares(request: HttpRequest, record_id: uuid.UUID) -> list[RecordShare]:
        actor = request_actor(request)
        return sharing.record_shares(access(actor, record_id))

    @router.post(
        f"/{kind}/{{record_id}}/shares",
        response={201: ShareOut},
        summary=f"Share a {singular} with a member or a team",
        operation_id=f"{singular}_share",
    )
    def share(request: HttpRequest, record_id: uuid.UUID, payload: ShareIn) -> Status[Any]:
        actor = request_actor(request)
        actor.require(permission)
        record = access(actor, record_id)
        membership, team = _grantee(actor, payload)
        made = sharing.record_share(actor=actor, record=record, membership=membership, team=team)
        return Status(201, made)

    @router.delete(
        f"/{kind}/{{record_id}}/shares",
        response={204: None},
        summary=f"Stop sharing a {singular} with a member or a team",
        operation_id=f"{singular}_unshare",
    )
    def unshare(request: HttpRequest, record_id: uuid.UUID, query: Query[ShareIn]) -> Status[None]:
        actor = request_actor(request)
        actor.require(permission)
        record = access(actor, record_id)
        membership, team = _grantee(actor, query)
        sharing.record_unshare(actor=actor, record=record, membership=membership, team=team)
        return Status(204, None)


def sharing_router() -> Router:
    """The share endpoints of every registered kind."""
    router = Router(tags=["Sharing"])
    for registered in share_kinds():
        _routes(router, registered)
    return router
