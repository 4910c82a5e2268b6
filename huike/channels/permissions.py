"""Permissions and audit actions of the channels part."""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from huike.accounts.roles import RolePermission

CHANNEL_PERMISSIONS = [
    RolePermission(
        "channels.view",
        _("See the connected channels and their delivery logs"),
        _("Channels"),
        ("manager", "service", "marketing"),
    ),
    RolePermission(
        "channels.manage",
        _("Connect, change, test and disable channels"),
        _("Channels"),
        ("manager",),
    ),
    RolePermission(
        "templates.manage",
        _("Write message templates"),
        _("Channels"),
        ("manager", "service", "marketing"),
    ),
]


class ChannelAudit:
    CREATED = "channel.created"
    UPDATED = "channel.updated"
    DISABLED = "channel.disabled"
    ENABLED = "channel.enabled"
    DELETED = "channel.deleted"


AUDIT_LABELS: dict[str, Promise | str] = {
    ChannelAudit.CREATED: _("Channel connected"),
    ChannelAudit.UPDATED: _("Channel settings changed"),
    ChannelAudit.DISABLED: _("Channel disabled"),
    ChannelAudit.ENABLED: _("Channel enabled"),
    ChannelAudit.DELETED: _("Channel deleted"),
}
