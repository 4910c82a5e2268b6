"""Helpers shared by the test_api_* modules (no tests here).

The fixtures are imported by the modules that use them: `fresh_rate_limits` runs for every
test of an importing module (autouse), `admin` and `team` when a test asks for them.
"""

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Role, Team, Workspace
from huike.accounts.services import api_key_create, team_create
from huike.core.models import AuditEntry

JSON = "application/json"
EN = {"Accept-Language": "en"}  # details are translated; assertions on text ask for English


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> None:
    cache.clear()


def key_client(workspace: Workspace, role_key: str = "admin") -> Client:
    """A client sending a new key of the workspace's `role_key` role, made from the CLI (so
    it has exactly that role's permissions)."""
    issued = api_key_create(
        actor=None,
        workspace=workspace,
        name=f"{role_key} key",
        role=builtin_role(workspace, role_key),
    )
    return Client(headers={"Authorization": f"Bearer {issued.plaintext}", **EN})


@pytest.fixture
def admin(owner: Membership) -> Client:
    """An admin key of Acme."""
    return key_client(owner.workspace)


@pytest.fixture
def team(owner_actor: Actor) -> Team:
    return team_create(actor=owner_actor, name="North")


def builtin_role(workspace: Workspace, key: str) -> Role:
    return Role.objects.get(workspace=workspace, key=key)


def audited(action: str, workspace: Workspace) -> list[dict[str, Any]]:
    """The data of the workspace's audit entries with `action`, oldest first."""
    return list(
        AuditEntry.objects.filter(workspace=workspace, action=action)
        .order_by("seq")
        .values_list("data", flat=True)
    )
