"""The physical limit of the website chat latency bench (bench/webchat_latency.py --limit): the
same frames through the same server stack — uvicorn, Django Channels, the channel layer the
settings choose (in memory embedded, Redis with REDIS_URL) — with none of Huike's work (no
database, no identity resolution, no message, event or outbox rows).

  /ws/webchat/<key>/  a "visitor": welcome and history frames on connect; each message frame
                      is sent to the agents' group, then acknowledged with an id.
  /ws/inbox/          an "agent": in the group, receives a message.created event per message.

Serve it like the app: .venv/bin/uvicorn bench.ws_relay:application --port 8063
"""

import os
import uuid
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

GROUP = "bench-relay-agents"


class Visitor(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        await self.accept()
        await self.send_json({"type": "welcome"})
        await self.send_json({"type": "history", "messages": []})

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if content.get("type") != "message":
            return
        message_id = uuid.uuid4().hex
        await self.channel_layer.group_send(
            GROUP,
            {"type": "relay", "message_id": message_id, "conversation_id": self.channel_name},
        )
        await self.send_json(
            {"type": "ack", "client_id": content.get("client_id"), "id": message_id}
        )


class Agent(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def relay(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {
                "type": "message.created",
                "direction": "in",
                "message_id": event["message_id"],
                "conversation_id": event["conversation_id"],
            }
        )


application = ProtocolTypeRouter(
    {
        "websocket": URLRouter(
            [
                path("ws/webchat/<str:key>/", Visitor.as_asgi()),
                path("ws/inbox/", Agent.as_asgi()),
            ]
        )
    }
)
