"""`huike audit verify [--workspace SLUG]`: check the audit log's hash chains.

Exits 1 and names the first broken entry of each broken chain when any chain is broken.
"""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from huike.accounts.management.commands.apikey import workspace_by_slug
from huike.accounts.models import Workspace
from huike.core.audit import audit_verify
from huike.core.models import AuditChain


class Command(BaseCommand):
    help = "Verify the audit log's hash chains."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        verify = actions.add_parser("verify", help="Walk every chain and report the first break.")
        verify.add_argument("--workspace", help="Only this workspace's chain (slug).")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace_id = None
        if options["workspace"]:
            workspace_id = workspace_by_slug(options["workspace"]).pk
            if not AuditChain.objects.filter(workspace_id=workspace_id).exists():
                self.stdout.write(
                    _("Workspace %(slug)s has no audit entries yet.")
                    % {"slug": options["workspace"]}
                )
                return
        slugs = dict(Workspace.objects.values_list("pk", "slug"))
        labels = {
            chain.key: f"{chain.key} ({slugs.get(chain.workspace_id, '?')})"
            if chain.workspace_id
            else chain.key
            for chain in AuditChain.objects.all()
        }
        reports = audit_verify(workspace_id=workspace_id)
        broken = [report for report in reports if not report.is_intact]
        for report in reports:
            label = labels.get(report.key, report.key)
            if report.is_intact:
                line = _("%(chain)s: intact, %(count)d entries") % {
                    "chain": label,
                    "count": report.entries_checked,
                }
            else:
                # The reason is audit_verify's fixed English text, kept as is for grep.
                line = _("%(chain)s: BROKEN at seq %(seq)s: %(reason)s") % {
                    "chain": label,
                    "seq": report.first_broken_seq,
                    "reason": report.reason,
                }
            self.stdout.write(line)
        if broken:
            first = broken[0]
            raise CommandError(
                _(
                    "%(broken)d of %(total)d audit chains broken; first: chain %(chain)s "
                    "seq %(seq)s (%(reason)s)."
                )
                % {
                    "broken": len(broken),
                    "total": len(reports),
                    "chain": first.key,
                    "seq": first.first_broken_seq,
                    "reason": first.reason,
                },
                returncode=1,
            )
        self.stdout.write(
            self.style.SUCCESS(_("All %(count)d audit chains intact.") % {"count": len(reports)})
        )
