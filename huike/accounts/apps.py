from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "huike.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from huike.accounts import navigation, receivers, roles

        roles.register_foundation_permissions()
        navigation.register_accounts_nav()
        receivers.connect()
