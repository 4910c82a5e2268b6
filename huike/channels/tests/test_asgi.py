"""Webhook intake at the ASGI level (what uvicorn serves): signed deliveries stored once,
refused ones stored nowhere, other paths handed to Django."""

import hashlib
import hmac
import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.db import connection

from huike.accounts.access import Actor
from huike.channels.asgi import hook_path, with_webhook_intake
from huike.channels.intake import contexts_clear
from huike.channels.models import Channel, InboundDelivery
from huike.channels.services import channel_create
from huike.channels.views_hooks import MAX_BODY_BYTES

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "app-secret"


async def _inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": b"django"})


def _call(path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    async def scenario() -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "query_string": b"",
            "headers": headers,
        }
        communicator = ApplicationCommunicator(with_webhook_intake(_inner), scope)
        await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
        start = await communicator.receive_output(10)
        answer = await communicator.receive_output(10)
        return start["status"], answer["body"]

    result: tuple[int, bytes] = async_to_sync(scenario)()
    return result


@pytest.fixture
def channel(owner_actor: Actor) -> Channel:
    contexts_clear()
    return channel_create(
        actor=owner_actor,
        kind="whatsapp",
        name="WhatsApp",
        config={
            "phone_number_id": "1065",
            "access_token": "t",
            "app_secret": SECRET,
            "verify_token": "v",
        },
    )


def _signed(body: bytes, secret: str = SECRET) -> list[tuple[bytes, bytes]]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return [
        (b"content-type", b"application/json"),
        (b"x-hub-signature-256", f"sha256={digest}".encode()),
    ]


def _body(message_id: str) -> bytes:
    value = {
        "metadata": {"phone_number_id": "1065"},
        "contacts": [{"profile": {"name": "Lin"}, "wa_id": "8613812345678"}],
        "messages": [
            {
                "from": "8613812345678",
                "id": message_id,
                "timestamp": "1764583200",
                "type": "text",
                "text": {"body": "hi"},
            }
        ],
    }
    return json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": value}]}]}
    ).encode()


def test_a_signed_delivery_is_stored_once(channel: Channel) -> None:
    body = _body("wamid.ASGI1")
    path = f"/hooks/whatsapp/{channel.public_id}"

    assert _call(path, body, _signed(body)) == (200, b"EVENT_RECEIVED")
    assert _call(path, body, _signed(body))[0] == 200

    assert list(InboundDelivery.objects.values_list("dedupe_key", flat=True)) == ["wamid.ASGI1"]


def test_a_wrong_signature_and_an_oversized_body_store_nothing(channel: Channel) -> None:
    body = _body("wamid.ASGI2")
    path = f"/hooks/whatsapp/{channel.public_id}"

    assert _call(path, body, _signed(body, "wrong"))[0] == 403
    assert _call(path, b"x" * (MAX_BODY_BYTES + 1), _signed(body))[0] == 413
    assert not InboundDelivery.objects.exists()


def test_other_paths_go_to_django() -> None:
    assert _call("/inbox/", b"", []) == (299, b"django")
    assert hook_path("/hooks/email/abc/mime") == ("email", "abc")
    assert hook_path("/hooks/email/abc/other") is None
    assert hook_path("/hooksx/a/b") is None


def test_requests_wait_for_their_commit_without_holding_a_pool_thread(
    channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given one intake thread, and a writer whose first commit lasts until every request
    # has been handed over
    import asyncio
    import concurrent.futures
    import threading

    from huike.channels import asgi, intake

    pool = concurrent.futures.ThreadPoolExecutor(1)
    group = intake.GroupCommit()
    monkeypatch.setattr(asgi, "_pool", pool)
    monkeypatch.setattr(asgi, "_group_commit", group)
    batches: list[int] = []
    insert, submit = intake._insert, group.submit
    submitted: list[intake.PreparedRows] = []
    all_in = threading.Event()

    def counting_submit(rows: intake.PreparedRows) -> None:
        submitted.append(rows)
        submit(rows)
        if len(submitted) == 12:
            all_in.set()

    def slow_insert(batch: list[intake.PreparedRows], *, enqueue: bool) -> None:
        batches.append(len(batch))
        if len(batches) == 1:
            assert all_in.wait(10)
        insert(batch, enqueue=enqueue)

    monkeypatch.setattr(group, "submit", counting_submit)

    monkeypatch.setattr(intake, "_insert", slow_insert)
    path = f"/hooks/whatsapp/{channel.public_id}"

    async def one(number: int) -> int:
        body = _body(f"wamid.MANY{number}")
        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "query_string": b"",
            "headers": _signed(body),
        }
        communicator = ApplicationCommunicator(with_webhook_intake(_inner), scope)
        await communicator.send_input({"type": "http.request", "body": body})
        start = await communicator.receive_output(10)
        await communicator.receive_output(10)
        return int(start["status"])

    async def scenario() -> list[int]:
        first = asyncio.ensure_future(one(0))
        await asyncio.sleep(0.1)  # the first request is in the writer's slow commit
        return list(await asyncio.gather(first, *(one(n) for n in range(1, 12))))

    # when twelve requests come, eleven of them during the first commit
    try:
        statuses = async_to_sync(scenario)()
    finally:
        group.stop()
        pool.submit(lambda: connection.close()).result()  # that thread's own connection
        pool.shutdown()
    # then the one pool thread prepared them all meanwhile (with the old blocking wait it
    # sat in the first request's commit), and one commit took the other eleven
    assert statuses == [200] * 12
    assert batches == [1, 11]
    assert InboundDelivery.objects.count() == 12
