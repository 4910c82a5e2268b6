from django.apps import AppConfig


class RecordAppConfig(AppConfig):
    name = "tests.recordapp"
    label = "recordapp"

    def ready(self) -> None:
        from huike.core.crypto import register_encrypted_column
        from tests.recordapp.models import Contact, IdentityRecord

        register_encrypted_column(
            Contact, "phone_token", "public_id", index_field="phone_index", kind="phone"
        )
        register_encrypted_column(
            Contact, "email_token", "public_id", index_field="email_index", kind="email"
        )
        register_encrypted_column(
            IdentityRecord, "value_token", "public_id", index_field="value_index", kind_field="kind"
        )
