"""Record-level visibility, the primitive later parts build their lists on.

A record owned by a member is visible to: that member; members whose role may see their team
subtree, for records owned by anyone in the subtree of their team or of the teams they manage;
roles that see everything; and anyone it was shared with (directly or through their team).
"""

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


class OwnedQuerySet(models.QuerySet[Any]):
    def for_workspace(self, workspace: Workspace) -> Self:
        return self.filter(workspace=workspace)

    def visible_to(self, actor: "Actor") -> Self:
        queryset = self.filter(workspace=actor.workspace)
        if actor.has("records.view_all"):
            return queryset
        membership = actor.membership
        if membership is None:
            return queryset.none()
        record_type = self.model._meta.label_lower
        shared_ids = RecordShare.objects.filter(
            workspace=actor.workspace, record_type=record_type
        ).filter(Q(membership=membership) | Q(team_id=membership.team_id, team__isnull=False))
        condition = Q(owner=membership) | Q(pk__in=shared_ids.values("record_id"))
        if actor.has("records.view_team"):
            subtree = team_subtree_ids(membership)
            if subtree:
                condition |= Q(owner__team_id__in=subtree) | Q(team_id__in=subtree)
        return queryset.filter(condition)


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
