"""The demo workspace `make run` seeds. Idempotent: a second run changes nothing."""

from dataclasses import dataclass

from django.db import transaction

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Role, Team, Workspace
from huike.accounts.services import (
    member_add,
    role_sync_builtin,
    team_create,
    team_update,
    workspace_create,
)
from huike.core.demo import demo_seeders_run

DEMO_SLUG = "demo"
DEMO_PASSWORD = "huike-demo-2026"


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: str
    team: str | None


DEMO_TEAMS = [("Sales", None), ("Sales East", "Sales"), ("Sales North", "Sales"), ("Service", None)]
DEMO_LOGINS = [
    DemoLogin("admin@demo.huike.local", "admin", None),
    DemoLogin("manager@demo.huike.local", "manager", "Sales"),
    DemoLogin("sales@demo.huike.local", "sales", "Sales East"),
    DemoLogin("service@demo.huike.local", "service", "Service"),
    DemoLogin("marketing@demo.huike.local", "marketing", None),
    DemoLogin("analyst@demo.huike.local", "analyst", None),
    DemoLogin("finance@demo.huike.local", "finance", None),
]


def demo_seed() -> tuple[Workspace, list[DemoLogin]]:
    with transaction.atomic():
        workspace = Workspace.objects.filter(slug=DEMO_SLUG).first()
        if workspace is None:
            workspace = workspace_create(
                slug=DEMO_SLUG,
                name="汇客演示 Demo",
                owner_email=DEMO_LOGINS[0].email,
                owner_password=DEMO_PASSWORD,
                owner_name="Demo Admin",
            )
        role_sync_builtin(workspace=workspace)
        admin = Membership.objects.select_related("workspace", "role", "user").get(
            workspace=workspace, user__email=DEMO_LOGINS[0].email
        )
        actor = Actor.for_membership(admin)
        teams = {team.name: team for team in Team.objects.filter(workspace=workspace)}
        for name, parent in DEMO_TEAMS:
            if name not in teams:
                teams[name] = team_create(
                    actor=actor, name=name, parent=teams[parent] if parent else None
                )
        roles = {role.key: role for role in Role.objects.filter(workspace=workspace)}
        for login in DEMO_LOGINS[1:]:
            membership = Membership.objects.filter(
                workspace=workspace, user__email=login.email
            ).first()
            if membership is None:
                membership = member_add(
                    actor=actor,
                    email=login.email,
                    role=roles[login.role],
                    team=teams[login.team] if login.team else None,
                    full_name=login.email.split("@")[0].title(),
                    notify=False,
                )
            if not membership.user.has_usable_password():
                membership.user.set_password(DEMO_PASSWORD)
                membership.user.save(update_fields=["password"])
        if teams["Sales"].manager_id is None:
            manager = Membership.objects.select_related("user").get(
                workspace=workspace, user__email=DEMO_LOGINS[1].email
            )
            team_update(actor=actor, team=teams["Sales"], manager=manager)
        # Sample data of the parts above accounts (customers, …), each idempotent.
        demo_seeders_run(workspace.pk)
    return workspace, DEMO_LOGINS
