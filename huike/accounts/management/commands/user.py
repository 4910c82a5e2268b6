from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from huike.accounts.models import User
from huike.accounts.two_factor import two_factor_reset


class Command(BaseCommand):
    help = "Operator actions on a person's account (across all their workspaces)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        reset = actions.add_parser(
            "reset-two-factor", help="Remove the authenticator app and backup codes of a user."
        )
        reset.add_argument("email")

    def handle(self, *args: Any, **options: Any) -> None:
        email = str(options["email"]).strip().lower()
        user = User.objects.filter(email=email).first()
        if user is None:
            raise CommandError(_("No user with e-mail %(email)s.") % {"email": email})
        two_factor_reset(actor=None, user=user)
        self.stdout.write(
            _("Two-factor sign-in of %(email)s was reset; they set it up at the next sign-in.")
            % {"email": email}
        )
