"""`huike workspace create SLUG --name NAME --owner EMAIL …` and `huike workspace list`."""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Q
from django.utils.translation import gettext as _

from huike.accounts.models import Workspace
from huike.accounts.services import workspace_create
from huike.core.errors import HuikeError


def command_error(error: HuikeError) -> CommandError:
    """A service's error as the command line shows it: which option, and what is wrong."""
    return CommandError(f"{error.field}: {error.detail}" if error.field else error.detail)


class Command(BaseCommand):
    help = "Create and list workspaces."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help="Create a workspace and its first admin.")
        create.add_argument("slug", help="Short name used in URLs: lower-case letters, digits, -.")
        create.add_argument("--name", required=True, help="Display name.")
        create.add_argument("--owner", required=True, help="Email of the first admin.")
        create.add_argument(
            "--password",
            help="Password for a new admin user (without it they choose one via password reset).",
        )
        create.add_argument("--timezone", default="Asia/Shanghai", help="IANA time zone.")
        actions.add_parser("list", help="List workspaces.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "create":
            self._create(options)
        else:
            self._list()

    def _create(self, options: dict[str, Any]) -> None:
        try:
            workspace = workspace_create(
                slug=options["slug"],
                name=options["name"],
                owner_email=options["owner"],
                owner_password=options["password"],
                timezone_name=options["timezone"],
            )
        except HuikeError as error:
            raise command_error(error) from None
        self.stdout.write(
            _("Created workspace %(slug)s (%(name)s, %(timezone)s) with admin %(owner)s.")
            % {
                "slug": workspace.slug,
                "name": workspace.name,
                "timezone": workspace.timezone,
                "owner": options["owner"].strip().lower(),
            }
        )

    def _list(self) -> None:
        workspaces = Workspace.objects.annotate(
            members=Count("memberships", filter=Q(memberships__is_active=True))
        ).order_by("slug")
        if not workspaces:
            self.stdout.write(_("No workspaces yet."))
            return
        self.stdout.write(f"{_('SLUG'):<24} {_('MEMBERS'):>7}  {_('TIME ZONE'):<20} {_('NAME')}")
        for workspace in workspaces:
            self.stdout.write(
                f"{workspace.slug:<24} {workspace.members:>7}  {workspace.timezone:<20} "
                f"{workspace.name}"
            )
