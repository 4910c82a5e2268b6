import pytest

from huike.accounts.access import Actor
from huike.accounts.pii import pii_reveal
from huike.core.audit import AuditAction
from huike.core.errors import PermissionDeniedError
from huike.core.models import AuditEntry


def test_reveal_returns_value_and_is_audited(member_actor: Actor) -> None:
    # given a sales member (may reveal)
    # when
    value = pii_reveal(
        actor=member_actor,
        record_type="customer",
        record_id="c-1",
        field="phone",
        value="13812345678",
    )
    # then
    assert value == "13812345678"
    entry = AuditEntry.objects.get(
        workspace=member_actor.workspace, action=AuditAction.PII_REVEALED
    )
    assert (entry.actor_label, entry.target_type, entry.target_id, entry.data) == (
        "member@acme.test",
        "customer",
        "c-1",
        {"field": "phone"},
    )


def test_role_without_reveal_permission_gets_nothing_and_nothing_is_audited(
    make_member: object, workspace: object
) -> None:
    finance = Actor.for_membership(make_member("finance@acme.test", "finance"))  # type: ignore[operator]
    before = AuditEntry.objects.count()
    with pytest.raises(PermissionDeniedError):
        pii_reveal(
            actor=finance,
            record_type="customer",
            record_id="c-1",
            field="phone",
            value="13812345678",
        )
    assert AuditEntry.objects.count() == before
