"""The gateway in front of /api/v1/: who is calling, how often, and retried POSTs.

`ApiGatewayMiddleware` resolves the principal once per request (an API key from
`Authorization: Bearer …`, or the signed-in member's session), applies the per-principal rate
limit and the Idempotency-Key contract, and adds the RateLimit-* headers. The ninja auth
classes below then hand the already-resolved Actor to the endpoints, and make the OpenAPI
document show how to authenticate. The OpenAPI document and the docs page are public.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja.errors import AuthenticationError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from huike.accounts.access import Actor
from huike.accounts.models import ApiKey, User
from huike.accounts.services import api_key_authenticate
from huike.core.errors import HuikeError
from huike.core.idempotency import (
    IDEMPOTENCY_HEADER,
    REPLAYED_HEADER,
    StoredResponse,
    idempotency_abandon,
    idempotency_begin,
    idempotency_complete,
    idempotency_request_hash,
    idempotency_secret_fields,
)
from huike.core.problem import is_problem, problem_for_huike_error, problem_response
from huike.core.ratelimit import RateLimitState, rate_limit_hit

API_PREFIX = "/api/v1/"
# Public: a client reads how to authenticate before it can.
UNGUARDED_PATHS = frozenset({f"{API_PREFIX}openapi.json", f"{API_PREFIX}docs"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Headers a converted error response keeps from the original.
KEPT_ERROR_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


@dataclass(frozen=True)
class Principal:
    """Who is calling: `name` identifies them for idempotency records and rate limits."""

    actor: Actor
    name: str
    rate_limit_per_minute: int
    via_api_key: bool


def _default_rate_limit() -> int:
    return int(settings.HUIKE_API_RATE_LIMIT_PER_MINUTE)


def _principal_for_key(api_key: ApiKey) -> Principal:
    return Principal(
        actor=Actor.for_api_key(api_key),
        name=f"api_key:{api_key.public_id}",
        rate_limit_per_minute=api_key.rate_limit_per_minute or _default_rate_limit(),
        via_api_key=True,
    )


def _unauthenticated(request: HttpRequest, detail: str) -> HttpResponse:
    return problem_response(
        status=401,
        detail=detail,
        headers={"WWW-Authenticate": 'Bearer realm="api"'},
        instance=request.path,
    )


def _resolve_api_key(request: HttpRequest, authorization: str) -> Principal | HttpResponse:
    scheme, _separator, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthenticated(request, _("Use the header 'Authorization: Bearer <API key>'."))
    api_key = api_key_authenticate(token.strip())
    if api_key is None:
        return _unauthenticated(request, _("This API key is not valid or has been revoked."))
    return _principal_for_key(api_key)


def _resolve_session(request: HttpRequest, user: User) -> Principal | HttpResponse:
    actor: Actor | None = getattr(request, "actor", None)  # set by WorkspaceMiddleware
    if actor is None:
        return problem_response(
            status=403,
            detail=_("You are not an active member of any workspace."),
            instance=request.path,
        )
    if actor.workspace.require_two_factor and not user.is_verified():  # type: ignore[attr-defined]
        return problem_response(
            status=403,
            detail=_("This workspace requires two-factor sign-in; verify your session first."),
            instance=request.path,
        )
    # ninja exempts its views from Django's CSRF middleware (keys need no CSRF), so the
    # check for cookie-authenticated writes happens here.
    if request.method not in SAFE_METHODS and check_csrf(request) is not None:
        return problem_response(
            status=403,
            detail=_("CSRF check failed: send the X-CSRFToken header with session requests."),
            instance=request.path,
        )
    return Principal(
        actor=actor,
        name=f"user:{user.public_id}",
        rate_limit_per_minute=_default_rate_limit(),
        via_api_key=False,
    )


def resolve_principal(request: HttpRequest) -> Principal | HttpResponse | None:
    """The caller, a rejection (401/403 problem), or None when no credentials were sent."""
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        return _resolve_api_key(request, authorization)
    user = request.user
    if user.is_authenticated:
        assert isinstance(user, User)
        return _resolve_session(request, user)
    return None


def _set_rate_limit_headers(response: HttpResponseBase, state: RateLimitState) -> None:
    response["RateLimit-Limit"] = str(state.limit)
    response["RateLimit-Remaining"] = str(state.remaining)
    response["RateLimit-Reset"] = str(state.reset_seconds)


ERROR_DETAILS: dict[int, Callable[[HttpRequest], str]] = {
    404: lambda request: _("There is no API endpoint at this address."),
    405: lambda request: (
        _("This endpoint does not accept %(method)s.") % {"method": request.method}
    ),
}


def _as_problem(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    """Error responses not made by our handlers (Django's 404 and 500 pages, ninja's 405)
    become problem+json too, so clients parse one error shape."""
    if (
        response.status_code < 400
        or response.streaming
        or (isinstance(response, HttpResponse) and is_problem(response))
        or (settings.DEBUG and response.status_code >= 500)  # keep the debug page
    ):
        return response
    describe = ERROR_DETAILS.get(response.status_code)
    problem = problem_response(
        status=response.status_code,
        detail=describe(request) if describe else "",
        instance=request.path,
    )
    for name in KEPT_ERROR_HEADERS:
        if name in response:
            problem[name] = response[name]
    return problem


class ApiGatewayMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path.startswith(API_PREFIX) or request.path in UNGUARDED_PATHS:
            return self.get_response(request)
        resolved = resolve_principal(request)
        if isinstance(resolved, HttpResponse):
            return resolved
        if resolved is None:
            # No credentials: the endpoint's auth answers 401 (or a public endpoint runs).
            return _as_problem(request, self.get_response(request))
        request.api_principal = resolved  # type: ignore[attr-defined]
        request.actor = resolved.actor  # type: ignore[attr-defined]
        bucket = resolved.name
        state = rate_limit_hit(bucket=bucket, limit=resolved.rate_limit_per_minute)
        response: HttpResponseBase
        if state.exceeded:
            response = problem_response(
                status=429,
                detail=_("Rate limit of %(limit)d requests per minute exceeded.")
                % {"limit": state.limit},
                headers={"Retry-After": str(state.reset_seconds)},
                instance=request.path,
            )
        else:
            # Naive times in a request (an event's occurred_at, a date-time field) are read in
            # the workspace's time zone, as the pages read them.
            with timezone.override(resolved.actor.workspace.zone):
                response = self._respond(request, resolved)
        _set_rate_limit_headers(response, state)
        return response

    def _respond(self, request: HttpRequest, principal: Principal) -> HttpResponseBase:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if request.method != "POST" or key is None:
            return _as_problem(request, self.get_response(request))
        try:
            request_hash = idempotency_request_hash(
                method=request.method,
                path=request.get_full_path(),
                content_type=request.content_type or "",
                body=request.body,
            )
            outcome = idempotency_begin(
                workspace_id=principal.actor.workspace.pk,
                principal=principal.name,
                key=key,
                request_hash=request_hash,
                method=request.method,
                path=request.path,
            )
        except HuikeError as error:
            return problem_for_huike_error(request, error)
        except RequestDataTooBig:
            return problem_response(
                status=413, detail=_("The request body is too large."), instance=request.path
            )
        if isinstance(outcome, StoredResponse):
            replay = HttpResponse(
                outcome.body, status=outcome.status_code, content_type=outcome.content_type
            )
            replay[REPLAYED_HEADER] = "true"
            return replay
        try:
            response = _as_problem(request, self.get_response(request))
        except BaseException:
            idempotency_abandon(outcome)
            raise
        if response.streaming or not isinstance(response, HttpResponse):
            idempotency_abandon(outcome)  # a stream cannot be stored; a retry runs again
            return response
        idempotency_complete(
            outcome,
            status_code=response.status_code,
            content_type=str(response.get("Content-Type", "")),
            body=response.content,
            secret_fields=idempotency_secret_fields(request),
        )
        return response


# --- ninja auth: hands the resolved actor to endpoints, describes the schemes in OpenAPI -----
def _resolved(request: HttpRequest, *, via_api_key: bool) -> Actor | None:
    principal: Principal | None = getattr(request, "api_principal", None)
    if principal is None or principal.via_api_key != via_api_key:
        return None
    return principal.actor


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer <API key>`, checked by the gateway."""

    openapi_bearerFormat = "API key"

    def authenticate(self, request: HttpRequest, token: str) -> Actor | None:
        return _resolved(request, via_api_key=True)


class SessionAuth(APIKeyCookie):
    """The browser session of a signed-in member (writes need the X-CSRFToken header)."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        # csrf=True makes the docs page embed the CSRF token so "Try it out" works when signed
        # in; the check itself is done by the gateway, once.
        super().__init__(csrf=True)

    def _get_key(self, request: HttpRequest) -> str | None:
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> Actor | None:
        return _resolved(request, via_api_key=False)


def request_actor(request: HttpRequest) -> Actor:
    """The Actor ninja's auth put on the request (endpoints are never reached without one)."""
    actor = getattr(request, "auth", None)
    if not isinstance(actor, Actor):
        raise AuthenticationError()
    return actor
