from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "huike.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from huike.accounts import navigation, receivers, roles, sharing

        roles.register_foundation_permissions()
        navigation.register_accounts_nav()
        sharing.register_sharing_audit_labels()
        # Built-in roles follow the permissions registered by the code now installed.
        post_migrate.connect(_sync_builtin_roles, sender=self, dispatch_uid="huike_sync_roles")
        receivers.connect()


def _sync_builtin_roles(**kwargs: Any) -> None:
    from huike.accounts.services import role_sync_builtin_everywhere

    role_sync_builtin_everywhere()
