"""In-app notifications to one member (task reminders, SLA warnings, escalations).

`notify` is idempotent per (recipient, kind, subject_key): a periodic job that runs again after
a crash never notifies twice. Mail for a notification goes out from its own task, enqueued on
commit by the caller.
"""

from django.db import IntegrityError, transaction

from huike.accounts.models import Membership
from huike.sales.models import Notification


def notify(
    *,
    recipient: Membership,
    kind: str,
    subject_key: str,
    title: str,
    body: str = "",
    url: str = "",
) -> Notification | None:
    """Create the notification, or None if this recipient already has it for this subject."""
    try:
        with transaction.atomic():
            return Notification.objects.create(
                workspace_id=recipient.workspace_id,
                recipient=recipient,
                kind=kind[:40],
                subject_key=subject_key[:80],
                title=title[:200],
                body=body[:500],
                url=url[:300],
            )
    except IntegrityError:
        return None
