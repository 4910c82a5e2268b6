from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InboxConfig(AppConfig):
    name = "huike.inbox"
    label = "inbox"
    verbose_name = _("Inbox")

    def ready(self) -> None:
        from huike.channels.processing import register_inbound_sink
        from huike.channels.providers.webchat.provider import register_visitor_push
        from huike.core.demo import register_demo_seeder
        from huike.core.permissions import register_permissions
        from huike.customers.references import register_customer_reference
        from huike.inbox import demo, permissions, realtime, services
        from huike.inbox.models import Conversation
        from huike.inbox.navigation import register_inbox_nav

        register_permissions(*permissions.INBOX_PERMISSIONS)
        register_demo_seeder("inbox", demo.inbox_demo_seed)
        register_inbound_sink("inbox", services.inbound_receive)
        register_customer_reference(Conversation)
        realtime.subscribers_register()
        register_visitor_push(realtime.visitor_send)
        register_inbox_nav()
