"""Field-level protection of personal data, the primitive later parts use.

Personal data is shown masked everywhere by default (huike.core.masking.mask). Roles with
`pii.reveal` may reveal one value at a time; each reveal is an audit entry naming who saw which
field of which record.
"""

from huike.accounts.access import Actor
from huike.core.audit import AuditAction, AuditTarget, audit_record


def pii_reveal(
    *,
    actor: Actor,
    record_type: str,
    record_id: str,
    field: str,
    value: str | None,
    ip_address: str | None = None,
) -> str:
    """Return the plain value and audit the reveal. Raises PermissionDeniedError without
    `pii.reveal`; nothing is recorded then, because nothing was seen."""
    actor.require("pii.reveal")
    audit_record(
        workspace_id=actor.workspace.pk,
        action=AuditAction.PII_REVEALED,
        actor_id=actor.user_id,
        actor_label=actor.label,
        target=AuditTarget(record_type, record_id),
        ip_address=ip_address,
        data={"field": field},
    )
    return value or ""
