"""Background work of sales tasks: the reminder job the scheduler runs every minute
(huike.core.schedule) and the reminder e-mail, each reminder's own task, enqueued on commit by
huike.sales.tasks_service.task_reminders_send."""

from django.conf import settings
from django.tasks import task
from django.template.loader import render_to_string
from django.utils import timezone, translation

from huike.core.mail import email_send
from huike.core.tasks import retrying
from huike.sales import tasks_service
from huike.sales.models import Notification, Task, TaskStatus


@task
def send_task_reminders() -> dict[str, int]:
    """One batch of due reminders; a full batch hands the rest to a fresh run at once, so one
    run never holds a worker for long."""
    report = tasks_service.task_reminders_send()
    if report.is_batch_full:
        send_task_reminders.enqueue()
    return {"sent": report.sent}


@task
@retrying()
def deliver_task_reminder(*, notification_id: int, task_id: int) -> int:
    """E-mail the assignee the reminder `notification_id` is about; returns messages sent.

    Nothing goes out when the task was done, cancelled, deleted or given to someone else in
    the meantime, or when the assignee's account is inactive. A retry (temporary SMTP failure)
    sends the same message again, never a second reminder of its own.
    """
    notification = (
        Notification.objects.select_related("recipient__user", "recipient__workspace")
        .filter(pk=notification_id)
        .first()
    )
    found = (
        Task.objects.select_related("lead", "deal", "customer", "workspace")
        .filter(pk=task_id, status=TaskStatus.OPEN)
        .first()
    )
    if notification is None or found is None or found.owner_id != notification.recipient_id:
        return 0
    member = notification.recipient
    if not member.is_active or not member.user.is_active or not member.user.email:
        return 0
    subject_link = tasks_service.task_subject(found)
    zone = found.workspace.zone
    with translation.override(tasks_service.member_language(member)), timezone.override(zone):
        context = {
            "task": found,
            "member_name": member.user.display_name,
            "workspace_name": found.workspace.name,
            "due": (
                timezone.localtime(found.due_at).strftime("%Y-%m-%d %H:%M %Z")
                if found.due_at
                else ""
            ),
            "subject": subject_link.label if subject_link else "",
            "link": settings.SITE_URL.rstrip("/") + tasks_service.task_url(found),
        }
        # A header cannot span lines, whatever a translation does.
        subject = "".join(
            render_to_string("sales/tasks/email/reminder_subject.txt", context).splitlines()
        )
        body = render_to_string("sales/tasks/email/reminder.txt", context)
    return email_send(subject=subject, body=body, to=[member.user.email])
