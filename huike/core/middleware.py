"""One structured log line per request, with a request id that also goes back in a header."""

import re
import time
import uuid
from collections.abc import Callable

import structlog
from django.http import HttpRequest, HttpResponse

from huike.core.logging import get_logger

logger = get_logger("huike.request")
REQUEST_ID_HEADER = "X-Request-ID"
# Paths that carry a secret: the password-reset link (/account/reset/<uidb64>/<token>/, and
# Django's /account/reset/<uidb64>/set-password/ after it). The two segments after the prefix
# are replaced, whatever follows them and whether or not the path matches a route (a mail
# client may add a character or drop the slash), so log files never hold a working link. The
# path is named here because core cannot ask accounts (imports point downward).
SECRET_PATH = re.compile(r"^(?P<prefix>/account/reset/)[^/]+/[^/]+")
REDACTED = "…"


def loggable_path(path: str) -> str:
    """The path with its secret segments, if any, replaced by an ellipsis."""
    return SECRET_PATH.sub(rf"\g<prefix>{REDACTED}/{REDACTED}", path, count=1)


class RequestLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if 0 < len(incoming) <= 64 else uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
        response[REQUEST_ID_HEADER] = request_id
        if request.path != "/healthz" and not request.path.startswith("/static/"):
            logger.info(
                "request",
                method=request.method,
                path=loggable_path(request.path),
                status=response.status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
                request_id=request_id,
            )
        return response
