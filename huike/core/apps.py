from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "huike.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from huike.core.checks import (
            DATA_KEYS_TAG,
            check_data_key_masters,
            check_master_key_source,
            check_master_keys,
            check_site_url,
        )

        checks.register(check_master_keys, checks.Tags.security)
        checks.register(check_data_key_masters, DATA_KEYS_TAG)
        checks.register(check_master_key_source, checks.Tags.security, deploy=True)
        checks.register(check_site_url, checks.Tags.security, deploy=True)
