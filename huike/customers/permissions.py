"""Permissions and audit actions of the customers part."""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from huike.accounts.roles import EVERY_ROLE, RolePermission

WORKING_ROLES = ("manager", "sales", "service", "marketing")
CUSTOMER_PERMISSIONS = [
    RolePermission(
        "customers.view",
        _("See customers, companies and timelines (own, team or all per record rules)"),
        _("Customers"),
        EVERY_ROLE,
    ),
    RolePermission(
        "customers.manage",
        _("Create and change customers and companies, tag them, record consent"),
        _("Customers"),
        WORKING_ROLES,
    ),
    RolePermission(
        "customers.delete", _("Delete customers and companies"), _("Customers"), ("manager",)
    ),
    RolePermission(
        "customers.merge",
        _("Merge customers, undo merges and decide the review queue"),
        _("Customers"),
        ("manager", "service"),
    ),
    RolePermission(
        "customers.import",
        _("Import customers and companies"),
        _("Customers"),
        ("manager", "marketing"),
    ),
    RolePermission(
        "customers.configure",
        _("Manage tags, custom fields and identity rules"),
        _("Customers"),
        ("manager",),
    ),
    RolePermission(
        "events.ingest", _("Send events to customer timelines (API)"), _("Customers"), WORKING_ROLES
    ),
]


class CustomerAudit:
    DELETED = "customer.deleted"
    MERGED = "customer.merged"
    UNMERGED = "customer.unmerged"
    COMPANY_DELETED = "company.deleted"
    FIELD_CHANGED = "custom_field.changed"
    SETTINGS_CHANGED = "customer_settings.changed"
    IMPORTED = "customer.imported"


AUDIT_LABELS: dict[str, Promise | str] = {
    CustomerAudit.DELETED: _("Customer deleted"),
    CustomerAudit.MERGED: _("Customers merged"),
    CustomerAudit.UNMERGED: _("Merge undone"),
    CustomerAudit.COMPANY_DELETED: _("Company deleted"),
    CustomerAudit.FIELD_CHANGED: _("Custom fields changed"),
    CustomerAudit.SETTINGS_CHANGED: _("Identity rules changed"),
    CustomerAudit.IMPORTED: _("Customers imported"),
}
