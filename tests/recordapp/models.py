"""A minimal owned record used to test the record-level visibility primitive before any real
part (customers, leads, deals) uses it. Installed only when pytest runs (see settings)."""

import uuid

from django.db import models

from huike.accounts.visibility import OwnedRecord


class Note(OwnedRecord):
    title = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.title


class Contact(models.Model):
    """A row with encrypted personal data, for testing huike.core.crypto before customers use
    it: tokens bound to (workspace, table, column, public_id), blind indexes beside them."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    phone_token = models.BinaryField(null=True)
    phone_index = models.BinaryField(null=True)
    email_token = models.BinaryField(null=True)
    email_index = models.BinaryField(null=True)

    class Meta:
        # Exact-match lookups are always within one workspace, and every index starts with it.
        indexes = [
            models.Index(fields=["workspace", "phone_index"], name="contact_ws_phone_idx"),
            models.Index(fields=["workspace", "email_index"], name="contact_ws_email_idx"),
        ]

    def __str__(self) -> str:
        return str(self.public_id)


class IdentityRecord(models.Model):
    """Identities of several kinds in one table, as customers keeps them: the blind index's
    kind is read from each row (register_encrypted_column(..., kind_field="kind"))."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=32)
    value_token = models.BinaryField()
    value_index = models.BinaryField()

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "kind", "value_index"], name="identity_ws_value_idx")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.public_id}"
