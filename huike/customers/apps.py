from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "huike.customers"
    label = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from huike.core.audit import register_audit_labels
        from huike.core.crypto import register_encrypted_column
        from huike.core.demo import register_demo_seeder
        from huike.core.permissions import register_permissions
        from huike.customers import demo, navigation, permissions, references
        from huike.customers.access import access_customer
        from huike.customers.imports.services import register_builtin_import_kinds
        from huike.customers.models import Customer, Identity
        from huike.customers.share_kinds import ShareKind, register_share_kind

        register_permissions(*permissions.CUSTOMER_PERMISSIONS)
        register_audit_labels(permissions.AUDIT_LABELS)
        navigation.register_customers_nav()
        references.register_builtin_references()
        register_builtin_import_kinds()
        register_share_kind(
            ShareKind(
                "customer",
                "customers",
                access_customer,
                "customers.manage",
                "customers:customer_detail",
            )
        )
        register_demo_seeder("customers", demo.customers_demo_seed)
        register_encrypted_column(
            Identity, "value_token", "public_id", index_field="value_index", kind_field="kind"
        )
        for token_field in ("birthday_token", "address_token", "id_number_token"):
            register_encrypted_column(Customer, token_field, "public_id")
