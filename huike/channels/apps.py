from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsConfig(AppConfig):
    name = "huike.channels"
    label = "channels"
    verbose_name = _("Channels")

    def ready(self) -> None:
        from huike.channels import events, navigation, permissions, providers
        from huike.channels.models import Channel, InboundDelivery, OutboundDelivery
        from huike.channels.registry import register_provider
        from huike.core.audit import register_audit_labels
        from huike.core.crypto import register_encrypted_column
        from huike.core.permissions import register_permissions
        from huike.customers.events import register_event_kind_labels
        from huike.customers.references import register_customer_reference

        register_permissions(*permissions.CHANNEL_PERMISSIONS)
        register_audit_labels(permissions.AUDIT_LABELS)
        register_event_kind_labels(events.EVENT_KIND_LABELS)
        navigation.register_channels_nav()
        register_encrypted_column(Channel, "secrets_token", "public_id")
        register_encrypted_column(InboundDelivery, "body_token", "public_id")
        register_customer_reference(OutboundDelivery)
        for provider in providers.installed():
            register_provider(provider)
