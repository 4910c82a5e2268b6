"""What every settings page shares: the `settings_page` decorator, the 403 page, htmx fragment
detection, template names, and the settings index that sends you to your first page.

Settings views are thin: each takes the actor WorkspaceMiddleware put on the request, gets
objects through `access_*` functions, reads lists through selectors and changes things through
services. `settings_page` turns the errors those raise into a 403 page (PermissionDeniedError)
or a 404 (NotFoundError, which is also what an object of another workspace gives); conflicts and
invalid input become form errors or messages.
"""

from collections.abc import Callable
from functools import wraps
from typing import Concatenate

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from huike.accounts.access import Actor
from huike.core.errors import NotFoundError, PermissionDeniedError
from huike.core.navigation import nav_items

TEMPLATES = "accounts/settings/"


def forbidden(request: HttpRequest, detail: str) -> HttpResponse:
    return render(request, "accounts/forbidden.html", {"detail": detail}, status=403)


def settings_page[**P](
    view: Callable[Concatenate[HttpRequest, Actor, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """Sign-in required; passes the actor; PermissionDeniedError → 403, NotFoundError → 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        actor: Actor | None = getattr(request, "actor", None)
        if actor is None:
            return forbidden(request, _("You are not a member of any workspace."))
        try:
            return view(request, actor, *args, **kwargs)
        except PermissionDeniedError as error:
            return forbidden(request, error.detail)
        except NotFoundError as error:
            raise Http404(error.detail) from None

    return login_required(wrapper)


def wants_fragment(request: HttpRequest) -> bool:
    """True for an htmx request that swaps part of the page (not a history restore)."""
    details = getattr(request, "htmx", None)
    return bool(details) and not details.history_restore_request  # type: ignore[union-attr]


def settings_template(name: str, request: HttpRequest | None = None, partial: str = "") -> str:
    """The settings template `name`, or only its `partial` when htmx asks for a fragment."""
    if partial and request is not None and wants_fragment(request):
        return f"{TEMPLATES}{name}#{partial}"
    return f"{TEMPLATES}{name}"


@settings_page
@require_GET
def settings_index(request: HttpRequest, actor: Actor) -> HttpResponse:
    items = nav_items("settings", actor.permissions)
    if not items:
        raise PermissionDeniedError(_("Your role does not allow any settings page."))
    return redirect(items[0].url_name)
