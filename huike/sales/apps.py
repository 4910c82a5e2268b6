from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "huike.sales"
    label = "sales"
    verbose_name = _("Sales")

    def ready(self) -> None:
        from huike.core.permissions import register_permissions
        from huike.customers.references import register_customer_reference
        from huike.sales import models, navigation, permissions

        register_permissions(*permissions.SALES_PERMISSIONS)
        navigation.register_sales_nav()
        for model in (models.Lead, models.Deal, models.Activity, models.Task, models.Order):
            register_customer_reference(model)
        register_customer_reference(models.DealContact, conflict_fields=("deal",))
