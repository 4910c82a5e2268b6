"""The embeddable lead form's public side, called from any website: the script, the form's
configuration, the submission, and the form as a page of its own.

The snippet `<script src="https://huike.example/forms/<key>/embed.js" async></script>` loads
huike/sales/static/sales/lead-form.js from here (never a CDN), which fetches `config` in the
page's language and renders the form where the script stands. Answers carry CORS headers for
the form's allowed origins (any origin when none are set). Visitors have no cookies here, so
there is no CSRF; spam is kept out by a hidden honeypot field, a signed timestamp token (a
submission sooner than MIN_FILL_SECONDS after the form was served is a script, not a person)
and a per-IP rate limit.
"""

import json
import secrets
import time
from pathlib import Path
from typing import Any

from django.core import signing
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from huike.accounts.client_ip import client_ip_address
from huike.core.errors import InvalidInputError
from huike.core.ratelimit import rate_limit_hit
from huike.sales.leads import SourceDetail
from huike.sales.models import WebForm
from huike.sales.web_forms import (
    FORM_FIELDS,
    SubmissionInvalid,
    form_consent,
    form_fields,
    origin_allowed,
    web_form_for_key,
    web_form_submit,
)

SCRIPT = Path(__file__).resolve().parent / "static" / "sales" / "lead-form.js"
SCRIPT_MAX_AGE = 60 * 5
TOKEN_SALT = "huike.sales.web_form"
# A person needs a few seconds to fill in even two fields; bots post at once.
MIN_FILL_SECONDS = 3
# A form left open over a weekend still submits; an older token is a replay.
TOKEN_MAX_AGE_SECONDS = 3 * 24 * 60 * 60
# Submissions per visitor address: a busy office behind one NAT sends a handful an hour, a
# flood sends thousands.
SUBMIT_RATE_LIMIT = 10
SUBMIT_WINDOW_SECONDS = 10 * 60
HONEYPOT = "website"
UTM_NAMES = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
INPUT_TYPES = {"email": "email", "phone": "tel", "message": "textarea"}


def _language(code: str) -> str:
    return "zh-hans" if (code or "").lower().startswith("zh") else "en"


def _form(public_key: str) -> WebForm:
    form = web_form_for_key(public_key)
    if form is None:
        raise Http404
    return form


def _origin_refused(request: HttpRequest, form: WebForm) -> bool:
    """The calling page's origin may not use the form. The form's own page (same host) always
    may."""
    origin = request.headers.get("Origin", "")
    own = request.build_absolute_uri("/").rstrip("/")
    return bool(origin) and origin != own and not origin_allowed(form, origin)


def _cors(request: HttpRequest, form: WebForm, response: HttpResponse) -> HttpResponse:
    """The CORS headers, or a 403 when the calling page's origin may not use the form."""
    origin = request.headers.get("Origin", "")
    if _origin_refused(request, form):
        return JsonResponse(
            {"error": "origin", "message": _("This website may not use this form.")}, status=403
        )
    response["Access-Control-Allow-Origin"] = origin or "*"
    response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Access-Control-Max-Age"] = "600"
    response["Vary"] = "Origin"
    return response


def form_token(form: WebForm, issued_at: float | None = None) -> str:
    """A signed token saying when the form was served; its nonce makes it good for one
    submission (a bot that fetched one token cannot post with it over and over)."""
    return signing.dumps(
        {
            "k": form.public_key,
            "t": time.time() if issued_at is None else issued_at,
            "n": secrets.token_urlsafe(12),
        },
        salt=TOKEN_SALT,
    )


def _used_key(nonce: str) -> str:
    return f"sales:form-token-used:{nonce}"


def _strings() -> dict[str, str]:
    return {
        "submit": _("Send"),
        "sending": _("Sending…"),
        "thanks": _("Thank you! We will get back to you soon."),
        "error": _("This could not be sent. Try again in a moment."),
        "required": _("This field is required."),
        "honeypot": _("Leave this field empty"),
    }


@require_GET
def form_embed(request: HttpRequest, public_key: str) -> HttpResponse:
    _form(public_key)  # an unknown or inactive key is a 404, not an empty form
    response = HttpResponse(SCRIPT.read_bytes(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = f"public, max-age={SCRIPT_MAX_AGE}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_http_methods(["GET", "OPTIONS"])
def form_config(request: HttpRequest, public_key: str) -> HttpResponse:
    form = _form(public_key)
    if request.method == "OPTIONS":
        return _cors(request, form, HttpResponse(status=204))
    language = _language(request.GET.get("lang", ""))
    with translation.override(language):
        consent = form_consent(form)
        payload: dict[str, Any] = {
            "language": language,
            "title": form.name,
            "fields": [
                {
                    "name": entry["name"],
                    "label": str(FORM_FIELDS[entry["name"]]),
                    "required": bool(entry.get("required")),
                    "type": INPUT_TYPES.get(entry["name"], "text"),
                }
                for entry in form_fields(form)
            ],
            "consent": {"text": consent["text"], "required": bool(consent.get("required"))}
            if consent
            else None,
            "honeypot": HONEYPOT,
            "token": form_token(form),
            "submit_url": request.build_absolute_uri(
                reverse("sales_public:form_submit", args=[form.public_key])
            ),
            "success_message": form.success_message or _strings()["thanks"],
            "strings": _strings(),
        }
    response = JsonResponse(payload, json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "no-store"
    return _cors(request, form, response)


def _body(request: HttpRequest) -> dict[str, Any]:
    if request.content_type == "application/json":
        try:
            parsed = json.loads(request.body or b"{}")
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {key: request.POST.get(key) for key in request.POST}


def _token_read(form: WebForm, token: str) -> tuple[float, str] | None:
    """(seconds since the form was served, the token's nonce), or None for a token that is
    not this form's or was used already."""
    try:
        data = signing.loads(token or "", salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE_SECONDS)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("k") != form.public_key:
        return None
    nonce = str(data.get("n") or "")
    if not nonce or cache.get(_used_key(nonce)) is not None:
        return None
    return time.time() - float(data.get("t", 0)), nonce


def _refusal(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


@csrf_exempt
@require_http_methods(["POST", "OPTIONS"])
def form_submit(request: HttpRequest, public_key: str) -> HttpResponse:
    form = _form(public_key)
    if request.method == "OPTIONS" or _origin_refused(request, form):
        # A refused origin is answered before anything is read or stored.
        return _cors(request, form, HttpResponse(status=204))
    body = _body(request)
    language = _language(str(body.get("language") or request.GET.get("lang", "")))
    with translation.override(language):
        response = _submit(request, form, body, language)
    return _cors(request, form, response)


def _submit(
    request: HttpRequest, form: WebForm, body: dict[str, Any], language: str
) -> JsonResponse:
    address = client_ip_address(request) or "unknown"
    state = rate_limit_hit(
        bucket=f"sales.web_form:{address}",
        limit=SUBMIT_RATE_LIMIT,
        window_seconds=SUBMIT_WINDOW_SECONDS,
    )
    if state.exceeded:
        response = _refusal(
            "rate_limited", _("Too many submissions. Try again in a few minutes."), 429
        )
        response["Retry-After"] = str(state.reset_seconds)
        return response
    thanks = form.success_message or _strings()["thanks"]
    if str(body.get(HONEYPOT) or "").strip():
        # A bot filled the field people never see: it is told it worked, and nothing is kept.
        return JsonResponse({"ok": True, "message": thanks})
    token = _token_read(form, str(body.get("token") or ""))
    if token is None:
        return _refusal("token", _("This form has expired. Reload the page and try again."), 400)
    age, nonce = token
    if age < MIN_FILL_SECONDS:
        return _refusal(
            "too_fast", _("That was quick! Please check your answers and send again."), 400
        )
    detail = SourceDetail(
        **{name: str(body.get(name) or "") for name in UTM_NAMES},
        referrer=str(body.get("referrer") or ""),
        landing_page=str(body.get("page_url") or request.headers.get("Referer", "")),
    )
    try:
        web_form_submit(form=form, values=body, source_detail=detail, language=language)
    except SubmissionInvalid as error:
        return JsonResponse({"error": "invalid", "errors": error.errors}, status=422)
    except InvalidInputError as error:
        return JsonResponse(
            {"error": "invalid", "errors": {error.field or "form": error.detail}}, status=422
        )
    # Sent: the token is spent (a form with errors keeps it, for the corrected answers).
    cache.set(_used_key(nonce), 1, TOKEN_MAX_AGE_SECONDS)
    # Nothing about the lead goes back: a repeat would tell a stranger the person is known.
    return JsonResponse({"ok": True, "message": thanks})


@require_GET
def form_page(request: HttpRequest, public_key: str) -> HttpResponse:
    """The form on a page of its own, for a link in a message or a QR code."""
    form = _form(public_key)
    language = _language(request.GET.get("lang") or translation.get_language() or "")
    return render(
        request,
        "sales/public/form_page.html",
        {
            "web_form": form,
            "language": language,
            "script_url": reverse("sales_public:form_embed", args=[form.public_key]),
        },
    )
