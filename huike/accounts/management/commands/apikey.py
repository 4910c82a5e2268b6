"""`huike apikey create|revoke|list --workspace SLUG`: API keys from the command line.

The command runs with the operator's authority (whoever can run it can read the database
anyway), so no member's permission is checked.
"""

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from huike.accounts.management.commands.workspace import command_error
from huike.accounts.models import ApiKey, Role, Workspace
from huike.accounts.selectors import api_key_list
from huike.accounts.services import api_key_create, api_key_revoke
from huike.core.errors import HuikeError


def workspace_by_slug(slug: str) -> Workspace:
    try:
        return Workspace.objects.get(slug=slug)
    except Workspace.DoesNotExist:
        raise CommandError(_("No workspace with slug %(slug)r.") % {"slug": slug}) from None


class Command(BaseCommand):
    help = "Create, revoke and list API keys of a workspace."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser(
            "create", help="Issue a key; it is printed alone on the last line, once."
        )
        create.add_argument("--workspace", required=True, help="Workspace slug.")
        create.add_argument("--role", required=True, help="Role key, e.g. admin, sales, analyst.")
        create.add_argument("--name", default="Command line", help="What the key is for.")
        create.add_argument(
            "--rate-limit",
            type=int,
            dest="rate_limit",
            metavar="N",
            help="Requests per minute (default: the server-wide limit).",
        )
        revoke = actions.add_parser("revoke", help="Revoke a key by its prefix.")
        revoke.add_argument("prefix", help="The part after hk_ and before the next _.")
        revoke.add_argument("--workspace", required=True, help="Workspace slug.")
        listing = actions.add_parser("list", help="List the workspace's keys.")
        listing.add_argument("--workspace", required=True, help="Workspace slug.")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_by_slug(options["workspace"])
        handlers = {"create": self._create, "revoke": self._revoke, "list": self._list}
        try:
            handlers[options["action"]](workspace, options)
        except HuikeError as error:
            raise command_error(error) from None

    def _create(self, workspace: Workspace, options: dict[str, Any]) -> None:
        role = Role.objects.filter(workspace=workspace, key=options["role"]).first()
        if role is None:
            keys = Role.objects.filter(workspace=workspace).order_by("key")
            raise CommandError(
                _("No role %(role)r in %(workspace)s; roles: %(roles)s.")
                % {
                    "role": options["role"],
                    "workspace": workspace.slug,
                    "roles": ", ".join(keys.values_list("key", flat=True)),
                }
            )
        if options["rate_limit"] is not None and options["rate_limit"] < 1:
            raise CommandError(_("--rate-limit must be at least 1."))
        issued = api_key_create(
            actor=None,
            workspace=workspace,
            name=options["name"],
            role=role,
            rate_limit_per_minute=options["rate_limit"],
        )
        self.stdout.write(
            _(
                "Created API key %(name)r (prefix %(prefix)s, role %(role)s) in %(workspace)s. "
                "It is shown only now; store it safely:"
            )
            % {
                "name": issued.api_key.name,
                "prefix": issued.api_key.prefix,
                "role": role.key,
                "workspace": workspace.slug,
            }
        )
        # Alone on the last line, so scripts can take it with `tail -n 1`.
        self.stdout.write(issued.plaintext)

    def _revoke(self, workspace: Workspace, options: dict[str, Any]) -> None:
        api_key = ApiKey.objects.filter(workspace=workspace, prefix=options["prefix"]).first()
        if api_key is None:
            raise CommandError(
                _("No API key with prefix %(prefix)r in %(workspace)s.")
                % {"prefix": options["prefix"], "workspace": workspace.slug}
            )
        if api_key.revoked_at is not None:
            self.stdout.write(
                _("API key %(prefix)s was already revoked.") % {"prefix": api_key.prefix}
            )
            return
        api_key_revoke(actor=None, api_key=api_key)
        self.stdout.write(
            _("Revoked API key %(prefix)s (%(name)s).")
            % {"prefix": api_key.prefix, "name": api_key.name}
        )

    def _list(self, workspace: Workspace, options: dict[str, Any]) -> None:
        keys = api_key_list(workspace=workspace)
        if not keys:
            self.stdout.write(_("No API keys in %(workspace)s.") % {"workspace": workspace.slug})
            return
        self.stdout.write(
            f"{_('PREFIX'):<10} {_('ROLE'):<12} {_('STATE'):<8} {_('LAST USED'):<20} {_('NAME')}"
        )
        for key in keys:
            last_used = key.last_used_at.strftime("%Y-%m-%d %H:%M") if key.last_used_at else "-"
            state = _("active") if key.is_active else _("revoked")
            self.stdout.write(
                f"{key.prefix:<10} {key.role.key:<12} {state:<8} {last_used:<20} {key.name}"
            )
