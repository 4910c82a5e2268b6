from django.utils import timezone

from huike.core.bulk import bulk_insert
from huike.core.models import OutboxMessage
from tests.recordapp.models import Contact


def test_bulk_insert_sets_primary_keys_and_writes_every_kind_of_value(workspace):
    # given rows with JSON, binary, aware datetimes and an auto_now_add field left empty
    moment = timezone.now()
    messages = [
        OutboxMessage(
            workspace=workspace, kind="a.b", payload={"n": n, "text": "汇客"}, available_at=moment
        )
        for n in range(3)
    ]
    contacts = [Contact(workspace=workspace, phone_token=b"\x00\x01\xff", phone_index=None)]
    # when
    bulk_insert(OutboxMessage, messages)
    bulk_insert(Contact, contacts)
    # then
    stored = list(OutboxMessage.objects.order_by("pk"))
    assert [message.pk for message in messages] == [message.pk for message in stored]
    assert [message.payload for message in stored] == [
        {"n": 0, "text": "汇客"},
        {"n": 1, "text": "汇客"},
        {"n": 2, "text": "汇客"},
    ]
    assert stored[0].available_at == moment
    assert stored[0].created_at is not None
    contact = Contact.objects.get(pk=contacts[0].pk)
    assert bytes(contact.phone_token) == b"\x00\x01\xff"
    assert contact.phone_index is None
    assert contact.public_id == contacts[0].public_id


def test_bulk_insert_of_nothing_does_nothing(db):
    bulk_insert(OutboxMessage, [])
    assert OutboxMessage.objects.count() == 0
