from typing import Any

from django.core.management.base import BaseCommand

from huike.accounts.demo import DEMO_PASSWORD, demo_seed


class Command(BaseCommand):
    help = "Create or refresh the demo workspace and print its logins (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        workspace, logins = demo_seed()
        self.stdout.write(f"Demo workspace: {workspace.name} ({workspace.slug})")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for login in logins:
            self.stdout.write(f"  {login.role:<10} {login.email}")
