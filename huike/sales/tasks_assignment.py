"""Background work of lead assignment: the pending pool (every five minutes and after rules
change), the first-contact SLA (every minute), and the mail of an SLA notice. Each task takes
ids, loads, and calls huike.sales.assignment; each is safe to run again."""

from django.conf import settings
from django.tasks import task

from huike.core.mail import email_send
from huike.core.tasks import retrying
from huike.sales import assignment
from huike.sales.models import AssignmentRule, Lead, Notification


@task
def assign_pool_leads(*, workspace_id: int) -> int:
    """Assign one workspace's pending pool leads, highest score first."""
    return assignment.leads_assign_pending(workspace_id=workspace_id)


@task
def assign_pool_leads_everywhere() -> int:
    """The periodic run: every workspace with an active rule and an open pool lead."""
    with_rules = AssignmentRule.objects.filter(is_active=True).values("workspace_id")
    workspace_ids = (
        Lead.objects.filter(owner__isnull=True, workspace_id__in=with_rules)
        .exclude(status__in=assignment.CLOSED_STATUSES)
        .values_list("workspace_id", flat=True)
        .distinct()
        .order_by("workspace_id")
    )
    return sum(
        assignment.leads_assign_pending(workspace_id=workspace_id)
        for workspace_id in list(workspace_ids)
    )


@task
def check_first_contact_slas() -> dict[str, int]:
    report = assignment.leads_check_first_contact()
    return {"reminded": report.reminded, "escalated": report.escalated}


@task
@retrying()
def mail_lead_notification(*, notification_id: int) -> int:
    """E-mail an SLA reminder or escalation to its recipient; returns the messages sent.
    Nothing for a recipient who left the workspace or whose account is closed. A retry after
    a failed send sends it again (at least once, as mail is)."""
    notification = (
        Notification.objects.select_related("recipient__user")
        .filter(
            pk=notification_id,
            recipient__is_active=True,
            recipient__accepted_at__isnull=False,
            recipient__user__is_active=True,
        )
        .first()
    )
    if notification is None:
        return 0
    link = settings.SITE_URL.rstrip("/") + notification.url if notification.url else ""
    body = "\n\n".join(part for part in (notification.body, link) if part)
    return email_send(
        subject=" ".join(notification.title.splitlines()),
        body=body,
        to=[notification.recipient.user.email],
    )
