"""Personas shared by every test: an owner (admin) and a member (sales) of one workspace, and
an outsider who is admin of a second workspace."""

import importlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Role, Workspace
from huike.accounts.services import workspace_create
from huike.core.asyncdb import kept_connections_close
from tests.support import reap_spawned

PASSWORD = "correct-horse-battery-42"


@pytest.fixture(autouse=True)
def _reap_spawned() -> Iterator[None]:
    yield
    reap_spawned()


@pytest.fixture(scope="session", autouse=True)
def _kept_connections_closed(django_db_setup: None) -> Iterator[None]:
    # The websocket consumers keep their connection (huike.core.asyncdb); it must be gone
    # before the test database is dropped.
    yield
    kept_connections_close()
    from huike.channels.asgi import intake_shutdown

    intake_shutdown()  # the webhook intake's threads keep theirs too


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # Rate-limit and throttle counters live in the local-memory cache, which outlives a test.
    cache.clear()


@pytest.fixture(autouse=True)
def _test_settings(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests assert English wording unless they choose Chinese themselves; the product's
    # default for visitors without a preference stays zh-hans.
    settings.LANGUAGE_CODE = "en"
    # Tasks run at once when enqueued; tests of the queue itself choose their backend.
    # Tasks enqueued on commit run when a test executes the commit callbacks
    # (django_capture_on_commit_callbacks(execute=True)).
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    # Tests render templates without running collectstatic first.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


_APPEND_ONLY = importlib.import_module("huike.core.migrations.0002_audit_append_only")
_TRANSACTIONAL_FIXTURES = {"transactional_db", "live_server"}


def _is_transactional(request: pytest.FixtureRequest) -> bool:
    marker = request.node.get_closest_marker("django_db")
    return bool(_TRANSACTIONAL_FIXTURES & set(request.fixturenames)) or bool(
        marker and marker.kwargs.get("transaction")
    )


@pytest.fixture(autouse=True)
def _audit_triggers_survive_flush(request: pytest.FixtureRequest) -> Iterator[None]:
    """On SQLite, Django empties the database after a transactional test with DELETE, which the
    audit log's append-only triggers refuse. Drop them for that flush and create them again
    for the next test. (PostgreSQL flushes with TRUNCATE, which the row triggers allow.)"""
    transactional = _is_transactional(request)
    if not ("db" in request.fixturenames or transactional) or connection.vendor != "sqlite":
        yield
        return
    request.getfixturevalue("transactional_db" if transactional else "db")
    with connection.cursor() as cursor:
        for statement in _APPEND_ONLY.SQLITE:
            cursor.execute(statement)
    yield
    if transactional:
        with connection.cursor() as cursor:
            for statement in _APPEND_ONLY.SQLITE_REVERSE:
                cursor.execute(statement)


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
