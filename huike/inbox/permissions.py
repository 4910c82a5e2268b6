"""Permissions of the inbox."""

from django.utils.translation import gettext_lazy as _

from huike.accounts.roles import RolePermission

INBOX_PERMISSIONS = [
    RolePermission(
        "inbox.view",
        _("See conversations (own, the shared queue and the own team's; all per record rules)"),
        _("Inbox"),
        ("manager", "sales", "service", "marketing"),
    ),
    RolePermission(
        "inbox.reply",
        _("Reply to customers, write internal notes, take and resolve conversations"),
        _("Inbox"),
        ("manager", "sales", "service"),
    ),
    RolePermission(
        "inbox.assign",
        _("Assign and transfer conversations to others"),
        _("Inbox"),
        ("manager",),
    ),
    RolePermission(
        "inbox.configure",
        _("Change assignment settings and canned replies"),
        _("Inbox"),
        ("manager",),
    ),
]
