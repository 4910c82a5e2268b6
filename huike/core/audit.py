"""Append-only, hash-chained audit log.

Each entry's hash covers its own fields and the previous entry's hash, so changing, removing or
reordering any entry breaks every link after it; `audit_verify` finds the first broken one.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from huike.core.models import AuditChain, AuditEntry

SYSTEM_CHAIN_KEY = "system"
GENESIS_HASH = "0" * 64


class AuditAction:
    """Action names recorded by the foundation; later parts add their own dotted names."""

    LOGIN_SUCCEEDED = "auth.login_succeeded"
    LOGIN_FAILED = "auth.login_failed"
    LOGIN_LOCKED_OUT = "auth.locked_out"
    LOGOUT = "auth.logout"
    PASSWORD_RESET_REQUESTED = "auth.password_reset_requested"
    PASSWORD_CHANGED = "auth.password_changed"
    TWO_FACTOR_ENABLED = "auth.two_factor_enabled"
    TWO_FACTOR_DISABLED = "auth.two_factor_disabled"
    TWO_FACTOR_FAILED = "auth.two_factor_failed"
    WORKSPACE_CREATED = "workspace.created"
    WORKSPACE_UPDATED = "workspace.updated"
    MEMBER_ADDED = "member.added"
    MEMBER_UPDATED = "member.updated"
    MEMBER_REMOVED = "member.removed"
    INVITATION_ACCEPTED = "member.invitation_accepted"
    INVITATION_DECLINED = "member.invitation_declined"
    ROLE_CREATED = "role.created"
    ROLE_UPDATED = "role.updated"
    ROLE_DELETED = "role.deleted"
    TEAM_CREATED = "team.created"
    TEAM_UPDATED = "team.updated"
    TEAM_DELETED = "team.deleted"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    EXPORT_PERFORMED = "data.exported"
    PII_REVEALED = "pii.revealed"
    RECORD_DELETED = "record.deleted"
    KEYS_ROTATED = "keys.rotated"
    KEYS_REWRAPPED = "keys.rewrapped"


# What people read in the audit log; the dotted code stays the stable, filterable name. Later
# parts add theirs with `register_audit_labels` in AppConfig.ready().
AUDIT_ACTION_LABELS: dict[str, Promise | str] = {
    AuditAction.LOGIN_SUCCEEDED: _("Signed in"),
    AuditAction.LOGIN_FAILED: _("Sign-in failed"),
    AuditAction.LOGIN_LOCKED_OUT: _("Locked out after failed sign-ins"),
    AuditAction.LOGOUT: _("Signed out"),
    AuditAction.PASSWORD_RESET_REQUESTED: _("Password reset requested"),
    AuditAction.PASSWORD_CHANGED: _("Password changed"),
    AuditAction.TWO_FACTOR_ENABLED: _("Two-factor sign-in turned on"),
    AuditAction.TWO_FACTOR_DISABLED: _("Two-factor sign-in turned off"),
    AuditAction.TWO_FACTOR_FAILED: _("Wrong two-factor code"),
    AuditAction.WORKSPACE_CREATED: _("Workspace created"),
    AuditAction.WORKSPACE_UPDATED: _("Workspace settings changed"),
    AuditAction.MEMBER_ADDED: _("Member added"),
    AuditAction.MEMBER_UPDATED: _("Member changed"),
    AuditAction.MEMBER_REMOVED: _("Member deactivated"),
    AuditAction.INVITATION_ACCEPTED: _("Invitation accepted"),
    AuditAction.INVITATION_DECLINED: _("Invitation declined"),
    AuditAction.ROLE_CREATED: _("Role created"),
    AuditAction.ROLE_UPDATED: _("Role permissions changed"),
    AuditAction.ROLE_DELETED: _("Role deleted"),
    AuditAction.TEAM_CREATED: _("Team created"),
    AuditAction.TEAM_UPDATED: _("Team changed"),
    AuditAction.TEAM_DELETED: _("Team deleted"),
    AuditAction.API_KEY_CREATED: _("API key created"),
    AuditAction.API_KEY_REVOKED: _("API key revoked"),
    AuditAction.EXPORT_PERFORMED: _("Data exported"),
    AuditAction.PII_REVEALED: _("Personal data revealed"),
    AuditAction.RECORD_DELETED: _("Record deleted"),
    AuditAction.KEYS_ROTATED: _("Personal-data keys rotated"),
    AuditAction.KEYS_REWRAPPED: _("Personal-data keys re-wrapped"),
}


def register_audit_labels(labels: dict[str, Promise | str]) -> None:
    AUDIT_ACTION_LABELS.update(labels)


def audit_action_label(action: str) -> str:
    return str(AUDIT_ACTION_LABELS.get(action, action))


@dataclass(frozen=True)
class AuditTarget:
    type: str
    id: str


def _chain_key(workspace_id: int | None) -> str:
    return SYSTEM_CHAIN_KEY if workspace_id is None else f"workspace:{workspace_id}"


def _entry_digest(
    *,
    prev_hash: str,
    seq: int,
    chain_key: str,
    created_at: datetime,
    actor_id: int | None,
    actor_label: str,
    action: str,
    target_type: str,
    target_id: str,
    ip_address: str | None,
    data: dict[str, Any],
) -> str:
    payload = json.dumps(
        {
            "seq": seq,
            "chain": chain_key,
            "created_at": created_at.isoformat(timespec="microseconds"),
            "actor_id": actor_id,
            "actor_label": actor_label,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "ip_address": ip_address,
            "data": data,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


def audit_record(
    *,
    workspace_id: int | None,
    action: str,
    actor_id: int | None = None,
    actor_label: str = "",
    target: AuditTarget | None = None,
    ip_address: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the workspace's chain (or the system chain when workspace_id is None).

    Locks the chain head row for the length of the caller's transaction, so callers should
    record at the end of their own atomic block.
    """
    key = _chain_key(workspace_id)
    # Round-trip through JSON now so the stored value hashes exactly like the one we hash.
    clean_data: dict[str, Any] = json.loads(json.dumps(data or {}, default=str))
    # Likewise the address: the field stores "" as NULL and IPv6 in its canonical form.
    ip_address = AuditEntry._meta.get_field("ip_address").get_prep_value(ip_address or None)
    with transaction.atomic():
        chain, _created = AuditChain.objects.get_or_create(
            key=key, defaults={"workspace_id": workspace_id}
        )
        chain = AuditChain.objects.select_for_update().get(pk=chain.pk)
        seq = chain.last_seq + 1
        created_at = timezone.now()
        entry = AuditEntry(
            chain=chain,
            workspace_id=workspace_id,
            seq=seq,
            created_at=created_at,
            actor_id=actor_id,
            actor_label=actor_label,
            action=action,
            target_type=target.type if target else "",
            target_id=target.id if target else "",
            ip_address=ip_address,
            data=clean_data,
            prev_hash=chain.last_hash,
        )
        entry.hash = _entry_digest(
            prev_hash=chain.last_hash,
            seq=seq,
            chain_key=key,
            created_at=created_at,
            actor_id=actor_id,
            actor_label=actor_label,
            action=action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            ip_address=ip_address,
            data=clean_data,
        )
        entry.save(force_insert=True)
        chain.last_seq = seq
        chain.last_hash = entry.hash
        chain.save(update_fields=["last_seq", "last_hash"])
    return entry


@dataclass(frozen=True)
class ChainReport:
    key: str
    entries_checked: int
    first_broken_seq: int | None
    reason: str

    @property
    def is_intact(self) -> bool:
        return self.first_broken_seq is None


VERIFY_BATCH_SIZE = 2000  # keeps memory flat on chains of millions of entries


def audit_verify_chain(chain: AuditChain) -> ChainReport:
    """Walk one chain in order; report the first entry whose link or content does not match."""
    # Entries appended while we walk belong to a later check: stop at the head as read now,
    # or a busy chain would look truncated.
    chain = AuditChain.objects.get(pk=chain.pk)
    expected_prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    entries = AuditEntry.objects.filter(chain=chain, seq__lte=chain.last_seq).order_by("seq")
    for entry in entries.iterator(chunk_size=VERIFY_BATCH_SIZE):
        checked += 1
        if entry.seq != expected_seq:
            return ChainReport(chain.key, checked, expected_seq, "entry missing")
        if entry.prev_hash != expected_prev:
            return ChainReport(chain.key, checked, entry.seq, "link to previous entry broken")
        digest = _entry_digest(
            prev_hash=entry.prev_hash,
            seq=entry.seq,
            chain_key=chain.key,
            created_at=entry.created_at,
            actor_id=entry.actor_id,
            actor_label=entry.actor_label,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            ip_address=entry.ip_address,
            data=entry.data,
        )
        if digest != entry.hash:
            return ChainReport(chain.key, checked, entry.seq, "entry content altered")
        expected_prev = entry.hash
        expected_seq += 1
    if chain.last_seq != expected_seq - 1 or chain.last_hash != expected_prev:
        return ChainReport(chain.key, checked, expected_seq, "entries after this one removed")
    return ChainReport(chain.key, checked, None, "")


def audit_verify(*, workspace_id: int | None = None) -> list[ChainReport]:
    chains = AuditChain.objects.order_by("key")
    if workspace_id is not None:
        chains = chains.filter(workspace_id=workspace_id)
    return [audit_verify_chain(chain) for chain in chains]
