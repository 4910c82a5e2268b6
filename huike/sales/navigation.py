from django.utils.translation import gettext_lazy as _

from huike.core.navigation import NavItem, register_nav


def register_sales_nav() -> None:
    # Main: Leads 30, Deals 32, Tasks 34, Orders 36, Reports 38.
    # Settings: lead pool and web forms 80, scoring 81, assignment 82, pipelines 83,
    # products 84, targets 85.
    register_nav(
        NavItem("sales:lead_list", _("Leads"), "main", 30, permission="leads.view"),
        NavItem(
            "sales:settings_leads",
            _("Leads and web forms"),
            "settings",
            80,
            permission="leads.configure",
        ),
        NavItem("sales:pipeline_board", _("Deals"), "main", 32, permission="deals.view"),
        NavItem("sales:task_list", _("Tasks"), "main", 34, permission="tasks.manage"),
        NavItem("sales:order_list", _("Orders"), "main", 36, permission="orders.view"),
        NavItem("sales:funnel", _("Reports"), "main", 38, permission="forecast.view"),
        NavItem(
            "sales:settings_targets",
            _("Sales targets"),
            "settings",
            85,
            permission="targets.manage",
        ),
        NavItem(
            "sales:settings_scoring",
            _("Lead scoring"),
            "settings",
            81,
            permission="leads.configure",
        ),
        NavItem(
            "sales:settings_assignment",
            _("Lead assignment"),
            "settings",
            82,
            permission="leads.configure",
        ),
        NavItem(
            "sales:settings_pipelines",
            _("Pipelines"),
            "settings",
            83,
            permission="pipelines.manage",
        ),
        NavItem("sales:product_list", _("Products"), "settings", 84, permission="products.manage"),
    )
