"""The ASGI application: Django for HTTP (webhooks taken before its middleware stack, see
huike.channels.asgi), the realtime consumers for websockets.

Building it marks this process as the web process (huike.inbox.realtime): in embedded mode
only this process holds the websockets, so only it may send to the in-memory layer, and it
relays what the worker wrote as RealtimeNotice rows.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()

# After Django is set up: the consumers import models.
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from huike.channels.asgi import with_webhook_intake  # noqa: E402
from huike.inbox import realtime  # noqa: E402
from huike.inbox.routing import websocket_urlpatterns  # noqa: E402

realtime.web_process_mark()
application = ProtocolTypeRouter(
    {
        "http": with_webhook_intake(django_application),
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
