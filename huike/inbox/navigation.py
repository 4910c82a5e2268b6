from django.utils.translation import gettext_lazy as _

from huike.core.navigation import NavItem, register_nav


def register_inbox_nav() -> None:
    register_nav(
        NavItem("inbox:conversation_list", _("Inbox"), "main", 15, "inbox.view"),
        NavItem(
            "inbox:settings_canned_replies",
            _("Canned replies"),
            "settings",
            45,
            "inbox.configure",
        ),
        NavItem(
            "inbox:settings_assignment",
            _("Conversation assignment"),
            "settings",
            46,
            "inbox.configure",
        ),
    )
