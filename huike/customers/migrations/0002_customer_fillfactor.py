"""Free space on every page of the customers table, so that the updates every event makes to a
customer's derived profile (no indexed column among them) are HOT updates on PostgreSQL: the
new row version stays on its page and no index is written. At the default fillfactor of 100 a
bulk-loaded page has no room, and each such update writes every index of the table."""

from typing import Any

from django.db import migrations

CUSTOMER_FILLFACTOR = 85


def set_fillfactor(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"ALTER TABLE customers_customer SET (fillfactor = {CUSTOMER_FILLFACTOR})"
        )


def reset_fillfactor(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE customers_customer RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
