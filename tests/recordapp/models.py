"""A minimal owned record used to test the record-level visibility primitive before any real
part (customers, leads, deals) uses it. Installed only when pytest runs (see settings)."""

from django.db import models

from huike.accounts.visibility import OwnedRecord


class Note(OwnedRecord):
    title = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.title
