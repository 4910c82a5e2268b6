"""Websocket routes: the agents' inbox (session, same-host origins only) and the website chat
visitors (no session; origins checked against the channel's allowed_origins)."""

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from huike.inbox.consumers import InboxConsumer
from huike.inbox.webchat.consumer import VisitorConsumer

websocket_urlpatterns = [
    path(
        "ws/inbox/",
        AllowedHostsOriginValidator(AuthMiddlewareStack(InboxConsumer.as_asgi())),
    ),
    path("ws/webchat/<str:public_key>/", VisitorConsumer.as_asgi()),
]
