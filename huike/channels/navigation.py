from django.utils.translation import gettext_lazy as _

from huike.core.navigation import NavItem, register_nav


def register_channels_nav() -> None:
    register_nav(
        NavItem("channels:channel_list", _("Channels"), "settings", 40, "channels.view"),
        NavItem(
            "channels:template_list", _("Message templates"), "settings", 45, "templates.manage"
        ),
    )
