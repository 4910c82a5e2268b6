"""Record-level visibility, the primitive later parts build their lists on.

A record owned by a member is visible to: that member; members whose role may see their team
subtree, for records owned by anyone in the subtree of their team or of the teams they manage;
roles that see everything; and anyone it was shared with (directly or through their team).
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from django.db import models
from django.db.models import Q

from huike.accounts.models import Membership, RecordShare, Team, Workspace

if TYPE_CHECKING:
    from huike.accounts.access import Actor


def team_subtree_ids(membership: Membership) -> list[int]:
    """Ids of the member's own team and the teams they manage, with everything below them."""
    roots = Team.objects.filter(workspace_id=membership.workspace_id).filter(
        Q(pk=membership.team_id) | Q(manager=membership)
    )
    paths = list(roots.values_list("path", flat=True))
    if not paths:
        return []
    condition = Q()
    for path in paths:
        condition |= Q(path__startswith=path)
    return list(
        Team.objects.filter(workspace_id=membership.workspace_id)
        .filter(condition)
        .values_list("pk", flat=True)
    )


@dataclass(frozen=True)
class RecordScope:
    """What a member limited by record rules sees of owned records, shares aside: their own
    and, with records.view_team, those owned by anyone whose team is in `teams` (their team
    subtree) or filed under one of those teams."""

    membership_id: int
    teams: list[int]

    def owned(self) -> Q:
        condition = Q(owner_id=self.membership_id)
        if self.teams:
            condition |= Q(owner__team_id__in=self.teams) | Q(team_id__in=self.teams)
        return condition


def scope_of_ids(scope: RecordScope, workspace_id: int) -> Q:
    """`scope.owned()` for rows that keep a record's owner and team as plain ids
    (`owner_id`, `team_id`; roll-ups, which cannot join the owner's membership): the owners
    are looked up now, in one query, as the record rules look up the owner's team: a member
    moved into the scope's teams brings their rows in (rows filed under a team stay with it)."""
    owners = [scope.membership_id]
    if scope.teams:
        owners += Membership.objects.filter(
            workspace_id=workspace_id, team_id__in=scope.teams
        ).values_list("pk", flat=True)
    return Q(owner_id__in=owners) | Q(team_id__in=scope.teams)


def record_scope(actor: "Actor") -> RecordScope | None:
    """The actor's record rules; None for roles that see everything and for actors without a
    membership (who see nothing: check `records.view_all` first)."""
    membership = actor.membership
    if actor.has("records.view_all") or membership is None:
        return None
    teams = team_subtree_ids(membership) if actor.has("records.view_team") else []
    return RecordScope(membership_id=membership.pk, teams=teams)


def shared_record_ids(actor: "Actor", record_type: str) -> "models.QuerySet[Any]":
    """Ids (`record_id`) of the records of `record_type` shared with the actor or their team."""
    membership = actor.membership
    shares = RecordShare.objects.filter(workspace=actor.workspace, record_type=record_type)
    if membership is None:
        return shares.none().values("record_id")
    return shares.filter(
        Q(membership=membership) | Q(team_id=membership.team_id, team__isnull=False)
    ).values("record_id")


class OwnedQuerySet(models.QuerySet[Any]):
    def for_workspace(self, workspace: Workspace) -> Self:
        return self.filter(workspace=workspace)

    def visible_to(self, actor: "Actor") -> Self:
        queryset = self.filter(workspace=actor.workspace)
        if actor.has("records.view_all"):
            return queryset
        scope = record_scope(actor)
        if scope is None:
            return queryset.none()
        shared = shared_record_ids(actor, self.model._meta.label_lower)
        return queryset.filter(scope.owned() | Q(pk__in=shared))


class OwnedRecord(models.Model):
    """Base for records with an owner and a team (customers, leads, deals, tickets…)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = OwnedQuerySet.as_manager()

    class Meta:
        abstract = True
