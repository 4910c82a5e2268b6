from typing import Any

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from huike.accounts.demo import DEMO_PASSWORD, demo_seed


class Command(BaseCommand):
    help = "Create or refresh the demo workspace and print its logins (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        workspace, logins = demo_seed()
        self.stdout.write(
            _("Demo workspace: %(name)s (%(slug)s)")
            % {"name": workspace.name, "slug": workspace.slug}
        )
        self.stdout.write(
            _("Demo logins (password for all: %(password)s):") % {"password": DEMO_PASSWORD}
        )
        for login in logins:
            self.stdout.write(f"  {login.role:<10} {login.email}")
