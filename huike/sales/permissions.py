"""Permissions of the sales part.

Record rules (own, team subtree, view-all, shares; huike.accounts.visibility) decide which
leads, deals, tasks and orders a role sees; these decide what it may do with them. Finance
sees amounts and orders (records.view_all, amounts.view) but not contact details (no
pii.reveal).
"""

from django.utils.translation import gettext_lazy as _

from huike.accounts.roles import RolePermission

SALES = _("Sales")

SALES_PERMISSIONS = [
    RolePermission(
        "leads.view",
        _("See leads (per record rules)"),
        SALES,
        ("manager", "sales", "marketing", "analyst", "read_only"),
    ),
    RolePermission(
        "leads.manage",
        _("Capture, change, qualify and convert leads"),
        SALES,
        ("manager", "sales", "marketing"),
    ),
    RolePermission(
        "leads.claim",
        _("See the lead pool and claim leads from it"),
        SALES,
        ("manager", "sales"),
    ),
    RolePermission(
        "leads.assign",
        _("Assign and reassign leads to others"),
        SALES,
        ("manager",),
    ),
    RolePermission(
        "leads.configure",
        _("Change the lead pool, web forms, scoring and assignment rules"),
        SALES,
        ("manager",),
    ),
    RolePermission(
        "deals.view",
        _("See deals and pipelines (per record rules)"),
        SALES,
        ("manager", "sales", "analyst", "finance", "read_only"),
    ),
    RolePermission(
        "deals.manage",
        _("Create, change, move, win and lose deals; log activities"),
        SALES,
        ("manager", "sales"),
    ),
    RolePermission(
        "pipelines.manage",
        _("Create and change pipelines and their stages"),
        SALES,
        ("manager",),
    ),
    RolePermission(
        "tasks.manage",
        _("Create and complete tasks (own, or for others with the team's records)"),
        SALES,
        ("manager", "sales", "service", "marketing"),
    ),
    RolePermission(
        "products.manage",
        _("Change the product catalog"),
        SALES,
        ("manager",),
    ),
    RolePermission(
        "orders.view",
        _("See orders (per record rules)"),
        SALES,
        ("manager", "sales", "analyst", "finance", "read_only"),
    ),
    RolePermission(
        "orders.manage",
        _("Create, change and import orders"),
        SALES,
        ("manager", "finance"),
    ),
    RolePermission(
        "forecast.view",
        _("See the funnel, forecast and attainment"),
        SALES,
        ("manager", "sales", "analyst", "finance"),
    ),
    RolePermission(
        "targets.manage",
        _("Set sales targets (quotas)"),
        SALES,
        ("manager",),
    ),
]
