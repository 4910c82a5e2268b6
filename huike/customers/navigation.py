from django.utils.translation import gettext_lazy as _

from huike.core.navigation import NavItem, register_nav


def register_customers_nav() -> None:
    register_nav(
        NavItem("customers:customer_list", _("Customers"), "main", 10, "customers.view"),
        NavItem("customers:company_list", _("Companies"), "main", 20, "customers.view"),
        NavItem("customers:settings_tags", _("Tags"), "settings", 70, "customers.configure"),
        NavItem(
            "customers:settings_fields", _("Custom fields"), "settings", 80, "customers.configure"
        ),
        NavItem(
            "customers:settings_identity",
            _("Identity rules"),
            "settings",
            90,
            "customers.configure",
        ),
    )
