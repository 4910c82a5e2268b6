"""The frames a website visitor's widget sends, as the consumer stores them in the inbound log
(JSON, one frame per delivery) and the provider parses them back.

{"type": "message", "visitor_id", "client_id", "text"}
{"type": "image", "visitor_id", "client_id", "url", "name", "mime_type", "size"}
{"type": "contact", "visitor_id", "client_id", "email"?, "phone"?, "name"?}

`visitor_id` is set by the server from the socket, never taken from the widget's frame.
"""

import re

# 128 random bits, as the server issues them: 32 lower-case hex digits.
VISITOR_ID = re.compile(r"[0-9a-f]{32}")
# The widget's id of one message, so a resend after a reconnect is recognised.
CLIENT_ID = re.compile(r"[A-Za-z0-9_\-]{8,64}")
MAX_TEXT = 5000
MAX_NAME = 100
FRAME_TYPES = ("message", "image", "contact")


def dedupe_key(visitor_id: str, client_id: str) -> str:
    """Scoped by the visitor, so one visitor cannot pre-empt another's message ids."""
    return f"{visitor_id}:{client_id}"
