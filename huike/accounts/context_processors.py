from typing import Any

from django.http import HttpRequest

from huike.accounts.models import Membership
from huike.core.navigation import nav_items


def workspace(request: HttpRequest) -> dict[str, Any]:
    actor = getattr(request, "actor", None)
    if actor is None:
        return {"actor": None}
    permissions = actor.permissions
    return {
        "actor": actor,
        "current_workspace": actor.workspace,
        "switchable_memberships": Membership.objects.usable()
        .filter(user=actor.membership.user)
        .select_related("workspace")
        .order_by("workspace__name"),
        "main_nav": nav_items("main", permissions),
        "settings_nav": nav_items("settings", permissions),
    }
