"""The website chat's HTTP side: the widget script and its style, a channel's widget settings,
and the pictures visitors send (uploaded here, then named in a websocket frame).

Called from other websites: answers carry CORS headers for the channel's allowed origins
(any origin when none is configured). No cookies are involved for visitors, so no CSRF.
"""

from pathlib import Path

from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from huike.channels.providers.webchat.frames import VISITOR_ID
from huike.channels.providers.webchat.provider import max_upload_mb, origin_allowed
from huike.inbox.webchat import service
from huike.inbox.webchat.consumer import _language

STATIC = Path(__file__).resolve().parent / "static" / "webchat"
ASSET_MAX_AGE = 60 * 60


def _asset(name: str, content_type: str) -> HttpResponse:
    response = HttpResponse((STATIC / name).read_bytes(), content_type=content_type)
    response["Cache-Control"] = f"public, max-age={ASSET_MAX_AGE}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def widget_js(request: HttpRequest) -> HttpResponse:
    return _asset("widget.js", "text/javascript; charset=utf-8")


@require_GET
def widget_css(request: HttpRequest) -> HttpResponse:
    return _asset("widget.css", "text/css; charset=utf-8")


def _webchat(request: HttpRequest, public_key: str) -> service.Webchat:
    webchat = service.webchat_for_key(public_key)
    if webchat is None:
        raise Http404
    return webchat


def _cors(request: HttpRequest, webchat: service.Webchat, response: HttpResponseBase) -> bool:
    """Add the CORS headers; False when the request's origin is not allowed."""
    origin = request.headers.get("Origin", "")
    if origin and not origin_allowed(webchat.context, origin):
        return False
    response["Access-Control-Allow-Origin"] = origin or "*"
    response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Vary"] = "Origin"
    return True


def _refused() -> JsonResponse:
    return JsonResponse({"error": "origin"}, status=403)


def widget_strings() -> dict[str, str]:
    """The widget's words, in the active language."""
    return {
        "open": _("Chat with us"),
        "title": _("Chat with us"),
        "close": _("Close"),
        "placeholder": _("Write a message…"),
        "send": _("Send"),
        "attach": _("Send a picture"),
        "typing": _("Typing…"),
        "reconnecting": _("Reconnecting…"),
        "offline_title": _("We are away right now"),
        "offline_text": _("Leave your email or phone number and we will get back to you."),
        "name": _("Name"),
        "email": _("Email"),
        "phone": _("Phone"),
        "submit": _("Send"),
        "thanks": _("Thank you! We will get back to you soon."),
        "invalid_email": _("Enter a valid email address."),
        "upload_failed": _("This picture cannot be sent."),
    }


@require_http_methods(["GET", "OPTIONS"])
def widget_config(request: HttpRequest, public_key: str) -> HttpResponse:
    webchat = _webchat(request, public_key)
    language = _language(request.GET.get("lang", ""))
    with translation.override(language):
        response: HttpResponse = JsonResponse(
            {
                "language": language,
                "strings": widget_strings(),
                "welcome_text": webchat.context.get("welcome_text"),
                "online": service.agents_online(webchat.channel.workspace_id),
                "max_upload_mb": max_upload_mb(webchat.context),
            },
            json_dumps_params={"ensure_ascii": False},
        )
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
    if not _cors(request, webchat, response):
        return _refused()
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_http_methods(["POST", "OPTIONS"])
def upload(request: HttpRequest, public_key: str) -> HttpResponse:
    webchat = _webchat(request, public_key)
    if request.method == "OPTIONS":
        response: HttpResponse = HttpResponse(status=204)
        return response if _cors(request, webchat, response) else _refused()
    language = _language(request.GET.get("lang", ""))
    with translation.override(language):
        response = _upload(request, webchat)
    if not _cors(request, webchat, response):
        return _refused()
    return response


def _upload(request: HttpRequest, webchat: service.Webchat) -> JsonResponse:
    visitor = request.POST.get("visitor", "")
    if not VISITOR_ID.fullmatch(visitor):
        return JsonResponse({"error": "visitor", "message": _("Reload the page.")}, status=400)
    limit_mb = max_upload_mb(webchat.context)
    refused = _("Only PNG, JPEG, GIF or WebP pictures up to %(size)d MB can be sent.") % {
        "size": limit_mb
    }
    if not service.rate_allowed(
        f"uploads:{webchat.channel.pk}",
        visitor,
        limit=service.UPLOAD_RATE_LIMIT,
        window=service.UPLOAD_WINDOW_SECONDS,
    ):
        return JsonResponse(
            {"error": "rate_limited", "message": _("Too many pictures. Wait a minute.")},
            status=429,
        )
    uploaded = request.FILES.get("file")
    if uploaded is None:
        return JsonResponse({"error": "file", "message": refused}, status=400)
    if uploaded.size is None or uploaded.size > limit_mb * 1024 * 1024:
        return JsonResponse({"error": "too_large", "message": refused}, status=413)
    data = uploaded.read()
    found = service.image_type(data[:16])
    if found is None:
        return JsonResponse({"error": "type", "message": refused}, status=415)
    mime_type, extension = found
    name = Path(uploaded.name or "").name[:150] or f"picture.{extension}"
    stored = service.upload_store(
        webchat.channel, visitor, data=data, name=name, mime_type=mime_type
    )
    return JsonResponse(
        {
            "token": stored.token,
            "url": reverse(
                "webchat:file",
                kwargs={"public_key": webchat.channel.public_key, "token": stored.token},
            ),
            "name": stored.name,
            "mime_type": stored.mime_type,
            "size": stored.size,
        },
        status=201,
    )


def _agent_may_see(request: HttpRequest, webchat: service.Webchat) -> bool:
    actor = getattr(request, "actor", None)
    return bool(
        actor is not None
        and actor.workspace.pk == webchat.channel.workspace_id
        and actor.has("inbox.view")
    )


@require_GET
def file(request: HttpRequest, public_key: str, token: str) -> HttpResponseBase:
    """A visitor's picture: to that visitor (their id with the token) and to the workspace's
    signed-in agents; 404 to anyone else."""
    webchat = _webchat(request, public_key)
    found = service.upload_find(webchat.channel, token)
    if found is None:
        raise Http404
    path, meta = found
    if request.GET.get("visitor") != meta.get("visitor_id") and not _agent_may_see(
        request, webchat
    ):
        raise Http404
    response = FileResponse(path.open("rb"), content_type=str(meta.get("mime_type", "")))
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Security-Policy"] = "default-src 'none'"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
