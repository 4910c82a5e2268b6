"""`huike outbox status|retry`: see stuck or failed outbox messages and send failed ones again
(docs/operations.md, "The outbox").

- `status`: messages per kind and status, the age of the oldest pending message, and the
  latest failed messages with their error.
- `retry [--kind K] [--workspace SLUG]`: failed messages back to pending with a fresh attempt
  count; `K` may end in `.*`.

Workspaces are read through the app registry: core sits below accounts and never imports it.
"""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.translation import gettext as _

from huike.core.management.workspaces import workspace_slugs
from huike.core.models import OutboxMessage
from huike.core.outbox import outbox_retry_failed, outbox_status

# Failed messages listed by `status`, newest first; the counts include all of them.
FAILED_SHOWN = 20


class Command(BaseCommand):
    help = "Show outbox messages by kind and status, and retry failed ones."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("status", help="Counts by kind and status; oldest pending; failures.")
        retry = actions.add_parser("retry", help="Send failed messages again.")
        retry.add_argument("--kind", help="Only this kind (or prefix, as customer.*).")
        retry.add_argument("--workspace", help="Only this workspace (slug).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "status":
            self._status()
        else:
            self._retry(options)

    def _status(self) -> None:
        report = outbox_status()
        if not report.counts:
            self.stdout.write(_("The outbox is empty."))
            return
        self.stdout.write(f"{_('kind'):<40} {_('status'):<8} {_('messages'):>9}")
        for row in report.counts:
            self.stdout.write(f"{row.kind:<40} {row.status:<8} {row.count:>9}")
        totals = {status: report.total(status) for status in OutboxMessage.Status.values}
        self.stdout.write(
            _("Pending %(pending)d, done %(done)d, failed %(failed)d.")
            % {"pending": totals["pending"], "done": totals["done"], "failed": totals["failed"]}
        )
        now = timezone.now()
        if report.oldest_pending_at is not None:
            self.stdout.write(
                _("Oldest pending message: %(seconds)d s old.")
                % {"seconds": (now - report.oldest_pending_at).total_seconds()}
            )
        if report.oldest_due_at is not None:
            # A due message should be gone within seconds; an old one means no worker runs.
            self.stdout.write(
                _("Oldest message due now: %(seconds)d s old.")
                % {"seconds": (now - report.oldest_due_at).total_seconds()}
            )
        failed = OutboxMessage.objects.filter(status=OutboxMessage.Status.FAILED).order_by(
            "-processed_at", "-pk"
        )[:FAILED_SHOWN]
        for message in failed:
            error = message.last_error.splitlines()[0] if message.last_error else ""
            self.stdout.write(
                _(
                    "Failed #%(id)d %(kind)s (workspace %(workspace)d, %(attempts)d attempts): "
                    "%(error)s"
                )
                % {
                    "id": message.pk,
                    "kind": message.kind,
                    "workspace": message.workspace_id,
                    "attempts": message.attempts,
                    "error": error,
                }
            )

    def _retry(self, options: dict[str, Any]) -> None:
        workspace_id = None
        if options["workspace"]:
            workspace_id = next(iter(workspace_slugs(options["workspace"])))
        count = outbox_retry_failed(kind=options["kind"], workspace_id=workspace_id)
        self.stdout.write(_("%(count)d failed message(s) sent again.") % {"count": count})
