"""Personas shared by every test: an owner (admin) and a member (sales) of one workspace, and
an outsider who is admin of a second workspace."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Role, Workspace
from huike.accounts.services import workspace_create

PASSWORD = "correct-horse-battery-42"


@pytest.fixture(autouse=True)
def _test_settings(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests render templates without running collectstatic first.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def workspace(db: None) -> Workspace:
    return workspace_create(
        slug="acme", name="Acme", owner_email="owner@acme.test", owner_password=PASSWORD
    )


@pytest.fixture
def other_workspace(db: None) -> Workspace:
    return workspace_create(
        slug="globex", name="Globex", owner_email="outsider@globex.test", owner_password=PASSWORD
    )


@pytest.fixture
def make_member(workspace: Workspace) -> Callable[..., Membership]:
    def make(email: str, role_key: str = "sales", target: Workspace | None = None) -> Membership:
        from huike.accounts.services import user_get_or_create

        target = target or workspace
        user = user_get_or_create(email=email, password=PASSWORD)
        return Membership.objects.create(
            workspace=target, user=user, role=Role.objects.get(workspace=target, key=role_key)
        )

    return make


@pytest.fixture
def owner(workspace: Workspace) -> Membership:
    return Membership.objects.select_related("workspace", "role", "user").get(
        workspace=workspace, user__email="owner@acme.test"
    )


@pytest.fixture
def member(make_member: Callable[..., Membership]) -> Membership:
    return make_member("member@acme.test", "sales")


@pytest.fixture
def outsider(other_workspace: Workspace) -> Membership:
    return Membership.objects.select_related("workspace", "role", "user").get(
        workspace=other_workspace, user__email="outsider@globex.test"
    )


@pytest.fixture
def owner_actor(owner: Membership) -> Actor:
    return Actor.for_membership(owner)


@pytest.fixture
def member_actor(member: Membership) -> Actor:
    return Actor.for_membership(member)


@pytest.fixture
def outsider_actor(outsider: Membership) -> Actor:
    return Actor.for_membership(outsider)


def _client_for(membership: Membership) -> Client:
    client = Client()
    client.force_login(membership.user)
    return client


@pytest.fixture
def owner_client(owner: Membership) -> Client:
    return _client_for(owner)


@pytest.fixture
def member_client(member: Membership) -> Client:
    return _client_for(member)


@pytest.fixture
def outsider_client(outsider: Membership) -> Client:
    return _client_for(outsider)
