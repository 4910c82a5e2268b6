"""The webhook endpoint `/hooks/<provider>/<channel id>`: the raw request goes to intake.

CSRF does not apply (platforms sign their requests instead); sessions and the rest of the
middleware have nothing to do here either.
"""

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from huike.channels.base import WebhookRequest
from huike.channels.intake import webhook_receive

# Platforms send kilobytes; a larger body is not a platform's (mail goes by IMAP or an ESP
# that posts the MIME, which stays well below this).
MAX_BODY_BYTES = 10 * 1024 * 1024


@csrf_exempt
def webhook(request: HttpRequest, kind: str, channel_id: str) -> HttpResponse:
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > MAX_BODY_BYTES:
        return HttpResponse(status=413)
    incoming = WebhookRequest(
        method=request.method or "GET",
        query={name: request.GET[name] for name in request.GET},
        headers={name.lower(): value for name, value in request.headers.items()},
        body=request.body,
        received_at=timezone.now(),
        query_string=request.META.get("QUERY_STRING", ""),
    )
    answer = webhook_receive(kind=kind, channel_public_id=channel_id, request=incoming)
    return HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
