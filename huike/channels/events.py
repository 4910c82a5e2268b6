"""Timeline labels of the events channels record."""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from huike.channels import base

EVENT_KIND_LABELS: dict[str, Promise | str] = {
    "message.received": _("Message received"),
    "message.sent": _("Message sent"),
    base.EVENT_FOLLOWED: _("Followed"),
    base.EVENT_UNFOLLOWED: _("Unfollowed"),
    base.EVENT_SCANNED: _("Scanned a code"),
    base.EVENT_CONTACT_ADDED: _("Added as a contact"),
    base.EVENT_CONTACT_UPDATED: _("Contact details changed"),
    base.EVENT_CONTACT_REMOVED: _("Contact removed"),
    base.EVENT_OPTED_OUT: _("Opted out of messages"),
    base.EVENT_OPTED_IN: _("Opted in to messages"),
    base.EVENT_OTHER: _("Channel event"),
}
