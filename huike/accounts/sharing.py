"""Sharing one owned record (a lead, a deal, a customer…) with a member or a whole team: the
explicit shares that huike.accounts.visibility honours beside owner and team rules.

Who may share: the record's owner, and roles that see the owner's team subtree or every record
(a manager, an admin) — not someone who sees the record only because it was shared with them.
The caller has already found the record through its part's access function (so the actor sees
it) and checked the part's permission to change it. Every share and unshare is audited.
"""

from django.db import models, transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huike.accounts.access import Actor
from huike.accounts.models import Membership, RecordShare, Team
from huike.accounts.visibility import OwnedRecord, team_subtree_ids
from huike.core.audit import AuditTarget, audit_record, register_audit_labels
from huike.core.errors import InvalidInputError, PermissionDeniedError

SHARED = "record.shared"
UNSHARED = "record.unshared"


def register_sharing_audit_labels() -> None:
    register_audit_labels(
        {SHARED: gettext_lazy("Record shared"), UNSHARED: gettext_lazy("Record no longer shared")}
    )


def _record_type(record: models.Model) -> str:
    return record._meta.label_lower


def record_shares(record: OwnedRecord) -> list[RecordShare]:
    """Who the record is shared with, members first."""
    return list(
        RecordShare.objects.filter(
            workspace_id=record.workspace_id, record_type=_record_type(record), record_id=record.pk
        )
        .select_related("membership__user", "team")
        .order_by("team_id", "membership_id", "id")
    )


def can_share(actor: Actor, record: OwnedRecord) -> bool:
    if actor.has("records.view_all"):
        return True
    membership = actor.membership
    if membership is None:
        return False
    if record.owner_id == membership.pk:
        return True
    if actor.has("records.view_team"):
        subtree = team_subtree_ids(membership)
        owner_team = record.owner.team_id if record.owner_id and record.owner else None
        return record.team_id in subtree or owner_team in subtree
    return False


def _grantee_filter(membership: Membership | None, team: Team | None) -> Q:
    if (membership is None) == (team is None):
        raise InvalidInputError(_("Share with one member or one team."), field="member_id")
    return Q(membership=membership) if membership is not None else Q(team=team)


def _check(
    actor: Actor, record: OwnedRecord, membership: Membership | None, team: Team | None
) -> Q:
    if not can_share(actor, record):
        raise PermissionDeniedError(
            _("Only the owner or a manager of the owner's team can share this record.")
        )
    grantee = _grantee_filter(membership, team)
    if membership is not None and (
        membership.workspace_id != record.workspace_id
        or not membership.is_active
        or membership.accepted_at is None
    ):
        raise InvalidInputError(_("No such member."), field="member_id")
    if team is not None and team.workspace_id != record.workspace_id:
        raise InvalidInputError(_("No such team."), field="team_id")
    if membership is not None and membership.pk == record.owner_id:
        raise InvalidInputError(_("This member owns the record already."), field="member_id")
    return grantee


def _audit(actor: Actor, action: str, record: OwnedRecord, share: RecordShare) -> None:
    audit_record(
        workspace_id=record.workspace_id,
        action=action,
        actor_id=actor.user_id,
        actor_label=actor.label,
        target=AuditTarget(_record_type(record), str(getattr(record, "public_id", record.pk))),
        data={
            "member": str(share.membership.public_id) if share.membership else None,
            "team": str(share.team.public_id) if share.team else None,
        },
    )


def record_share(
    *,
    actor: Actor,
    record: OwnedRecord,
    membership: Membership | None = None,
    team: Team | None = None,
) -> RecordShare:
    """Share the record with one member or one team; sharing it again changes nothing.
    Raises PermissionDeniedError (not the owner or their manager) or InvalidInputError."""
    grantee = _check(actor, record, membership, team)
    with transaction.atomic():
        found = (
            RecordShare.objects.select_for_update(of=("self",))
            .filter(
                workspace_id=record.workspace_id,
                record_type=_record_type(record),
                record_id=record.pk,
            )
            .filter(grantee)
            .first()
        )
        if found is not None:
            return found
        share = RecordShare.objects.create(
            workspace_id=record.workspace_id,
            record_type=_record_type(record),
            record_id=record.pk,
            membership=membership,
            team=team,
        )
        _audit(actor, SHARED, record, share)
    return share


def record_unshare(
    *,
    actor: Actor,
    record: OwnedRecord,
    membership: Membership | None = None,
    team: Team | None = None,
) -> bool:
    """Stop sharing the record with the member or team; False when it was not shared."""
    grantee = _check(actor, record, membership, team)
    with transaction.atomic():
        shares = list(
            RecordShare.objects.select_for_update(of=("self",))
            .filter(
                workspace_id=record.workspace_id,
                record_type=_record_type(record),
                record_id=record.pk,
            )
            .filter(grantee)
            .select_related("membership", "team")
        )
        for share in shares:
            _audit(actor, UNSHARED, record, share)
            share.delete()
    return bool(shares)
