"""Whoever adds a member — page or API — the person hears of it by e-mail, with the right link."""

from django.core import mail
from django.test import TestCase

from huike.accounts.access import Actor
from huike.accounts.models import Role, Workspace
from huike.accounts.services import member_add


def test_new_person_gets_a_link_to_choose_a_password(
    owner_actor: Actor, workspace: Workspace, settings: object
) -> None:
    settings.SITE_URL = "https://crm.example.com"  # type: ignore[attr-defined]
    with TestCase.captureOnCommitCallbacks(execute=True):
        member_add(
            actor=owner_actor,
            email="new@acme.test",
            role=Role.objects.get(workspace=workspace, key="sales"),
        )
    (message,) = mail.outbox
    assert message.to == ["new@acme.test"]
    assert "https://crm.example.com/account/reset/" in message.body


def test_existing_account_gets_a_sign_in_link_without_a_token(
    outsider_actor: Actor, other_workspace: Workspace, owner: object, settings: object
) -> None:
    settings.SITE_URL = "https://crm.example.com"  # type: ignore[attr-defined]
    with TestCase.captureOnCommitCallbacks(execute=True):
        member_add(
            actor=outsider_actor,
            email="owner@acme.test",
            role=Role.objects.get(workspace=other_workspace, key="read_only"),
        )
    (message,) = mail.outbox
    assert message.to == ["owner@acme.test"]
    assert "Globex" in message.subject
    assert "https://crm.example.com/\n" in message.body
    assert "/account/reset/" not in message.body


def test_demo_seed_sends_nothing(db: None) -> None:
    from huike.accounts.demo import demo_seed

    with TestCase.captureOnCommitCallbacks(execute=True):
        demo_seed()
    assert mail.outbox == []
