"""Personal data of customers at rest: no plain text in the tables, exact lookups through the
blind index, and key rotation that leaves every value readable and findable."""

import datetime as dt

from django.db import connection

from huike.core.crypto import workspace_keys
from huike.core.key_rotation import keys_rotate
from huike.customers.identities import customer_personal_value, identity_value
from huike.customers.models import Identity
from huike.customers.selectors import CustomerFilters, customer_search
from huike.customers.services import CustomerData, customer_create
from huike.customers.tests.conftest import keys_of


def _all_bytes(table: str) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        rows = cursor.fetchall()
    # bytea comes back as memoryview on PostgreSQL: look at its bytes, not at its repr.
    return b"".join(
        bytes(value) if isinstance(value, memoryview | bytes) else str(value).encode()
        for row in rows
        for value in row
    )


def test_no_plain_personal_data_in_the_tables(owner_actor):
    # given
    customer_create(
        actor=owner_actor,
        data=CustomerData(
            name="Li Lei", address="北京市朝阳区建国路 88 号", birthday=dt.date(1990, 5, 17)
        ),
        identity_keys=keys_of(phone="13812348888", email="li.lei@example.org"),
    )
    # when a raw look at every customers table is taken
    dump = b"".join(
        _all_bytes(table)
        for table in ("customers_customer", "customers_identity", "customers_event")
    )
    # then no value is there in plain text
    for secret in ("13812348888", "+8613812348888", "li.lei@example.org", "建国路", "1990-05-17"):
        assert secret.encode() not in dump


def test_rotation_keeps_values_readable_and_findable(owner_actor, workspace):
    # given
    customer = customer_create(
        actor=owner_actor,
        data=CustomerData(name="Han Meimei", address="上海市"),
        identity_keys=keys_of(phone="13812349999"),
    )
    before = bytes(Identity.objects.get(customer=customer).value_index)
    # when both the encryption and the index keys are rotated
    keys_rotate(workspace_id=workspace.pk, include_index=True)
    # then the values were rewritten under the new keys and are still found and read
    identity = Identity.objects.get(customer=customer)
    assert bytes(identity.value_index) != before
    keys = workspace_keys(workspace.pk)
    assert identity_value(identity, keys) == "+8613812349999"
    customer.refresh_from_db()
    assert customer_personal_value(customer, "address", keys) == "上海市"
    found = list(customer_search(owner_actor, CustomerFilters(phone="138 1234 9999")))
    assert found == [customer]
