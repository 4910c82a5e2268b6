"""RFC 9457 problem details: the one shape of every API error.

Every error the API returns is `application/problem+json` with `type`, `title`, `status`,
`detail` and, when the client can fix a named input, `errors: [{"field", "message"}]`.
The exception handlers registered here turn ninja's, Django's and our own errors into it; the
API gateway middleware uses `problem_response` for what it rejects before a view runs.
"""

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

from huike.core.errors import HuikeError

PROBLEM_CONTENT_TYPE = "application/problem+json"
# Problem types are URIs that name the kind of problem; docs/api.md lists what each one means.
PROBLEM_TYPE_PREFIX = "urn:huike:problem:"

STATUS_TYPES: dict[int, str] = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
    429: "rate-limited",
    500: "server-error",
    503: "unavailable",
}
STATUS_TITLES: dict[int, Promise] = {
    400: _("Bad request"),
    401: _("Authentication required"),
    403: _("Permission denied"),
    404: _("Not found"),
    405: _("Method not allowed"),
    409: _("Conflict"),
    413: _("Request too large"),
    415: _("Unsupported media type"),
    422: _("Invalid input"),
    429: _("Too many requests"),
    500: _("Server error"),
    503: _("Service unavailable"),
}
VALIDATION_TYPE = "validation-error"
# Where ninja says an input came from; the field name follows it in the error location.
PARAMETER_SOURCES = frozenset({"body", "query", "path", "header", "cookie", "form", "file"})


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


def problem_type(slug: str) -> str:
    return f"{PROBLEM_TYPE_PREFIX}{slug}"


def problem_response(
    *,
    status: int,
    detail: str | Promise = "",
    slug: str | None = None,
    title: str | Promise | None = None,
    errors: Iterable[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    instance: str | None = None,
) -> HttpResponse:
    """A problem+json response. `slug` picks a specific type; by default it follows the status."""
    body: dict[str, Any] = {
        "type": problem_type(slug or STATUS_TYPES.get(status, "error")),
        "title": str(title or STATUS_TITLES.get(status, _("Error"))),
        "status": status,
        "detail": str(detail),
    }
    if instance:
        body["instance"] = instance
    error_list = [{"field": error.field, "message": error.message} for error in errors]
    if error_list:
        body["errors"] = error_list
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False),
        status=status,
        content_type=f"{PROBLEM_CONTENT_TYPE}; charset=utf-8",
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def is_problem(response: HttpResponse) -> bool:
    return str(response.get("Content-Type", "")).startswith(PROBLEM_CONTENT_TYPE)


def _field_name(location: Iterable[object]) -> str:
    """`("body", "payload", "email")` → `email`; `("query", "limit")` → `limit`.

    A body schema is one parameter of the view, whose name is not part of the client's input,
    so it is dropped; query, path and header parameters are named by the client directly.
    """
    parts = [str(part) for part in location]
    if parts and parts[0] in PARAMETER_SOURCES:
        source, parts = parts[0], parts[1:]
        if source == "body" and len(parts) > 1:
            parts = parts[1:]
    return ".".join(parts)


def _message(error: Mapping[str, Any]) -> str:
    # A validator's own ValueError reads better without pydantic's "Value error, " prefix.
    context = error.get("ctx") or {}
    if error.get("type") == "value_error" and "error" in context:
        return str(context["error"])
    return str(error.get("msg", ""))


def validation_field_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    return [
        FieldError(field=_field_name(error.get("loc", ())), message=_message(error))
        for error in errors
    ]


# --- exception handlers ---------------------------------------------------------------------
def _on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return problem_response(
        status=422,
        slug=VALIDATION_TYPE,
        title=_("Validation failed"),
        detail=gettext("Some fields are missing or not valid; see errors."),
        errors=validation_field_errors(exc.errors),
        instance=request.path,
    )


def problem_for_huike_error(request: HttpRequest, exc: HuikeError) -> HttpResponse:
    errors = [FieldError(field=exc.field, message=exc.detail)] if exc.field else []
    return problem_response(
        status=exc.status_code, detail=exc.detail, errors=errors, instance=request.path
    )


def _on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return problem_response(
        status=401,
        detail=gettext("Send an API key as 'Authorization: Bearer <key>' or sign in."),
        headers={"WWW-Authenticate": 'Bearer realm="api"'},
        instance=request.path,
    )


def _on_throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    headers = {"Retry-After": str(exc.wait)} if exc.wait is not None else {}
    return problem_response(
        status=429, detail=gettext("Too many requests."), headers=headers, instance=request.path
    )


def _on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return problem_response(status=exc.status_code, detail=str(exc), instance=request.path)


def _on_not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return problem_response(status=404, detail=gettext("No such object."), instance=request.path)


def _on_permission_denied(request: HttpRequest, exc: Exception) -> HttpResponse:
    return problem_response(
        status=403, detail=gettext("Your role does not allow this."), instance=request.path
    )


def _on_too_big(request: HttpRequest, exc: Exception) -> HttpResponse:
    return problem_response(
        status=413, detail=gettext("The request body is too large."), instance=request.path
    )


def _handler[E: Exception](function: Callable[[HttpRequest, E], HttpResponse]) -> Any:
    # ninja types handlers as taking the exception class or instance; ours take instances.
    return function


def register_problem_handlers(api: NinjaAPI) -> None:
    """Make every error the API raises come out as problem+json."""
    api.add_exception_handler(ValidationError, _handler(_on_validation_error))
    api.add_exception_handler(HuikeError, _handler(problem_for_huike_error))
    api.add_exception_handler(AuthenticationError, _handler(_on_authentication_error))
    api.add_exception_handler(Throttled, _handler(_on_throttled))
    api.add_exception_handler(HttpError, _handler(_on_http_error))
    api.add_exception_handler(Http404, _handler(_on_not_found))
    api.add_exception_handler(ObjectDoesNotExist, _handler(_on_not_found))
    api.add_exception_handler(DjangoPermissionDenied, _handler(_on_permission_denied))
    api.add_exception_handler(RequestDataTooBig, _handler(_on_too_big))
