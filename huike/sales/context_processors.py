"""The top bar's unread-notification badge (config/templates/base.html)."""

from collections.abc import Callable
from functools import cache
from typing import Any

from django.http import HttpRequest

from huike.sales.tasks_service import notification_unread_count


def notifications(request: HttpRequest) -> dict[str, Any]:
    """`unread_notifications`: a callable the template calls (once, in a `with`) only where it
    shows the badge, so fragments and pages without the shell pay no query; None for visitors
    and users without a membership. The count is one query on the (recipient, read_at) index.
    """
    actor = getattr(request, "actor", None)
    membership = getattr(actor, "membership", None)
    if membership is None:
        return {"unread_notifications": None}
    count: Callable[[], int] = cache(lambda: notification_unread_count(membership))
    return {"unread_notifications": count}
