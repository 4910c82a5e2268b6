"""What every inbox page shares: the `inbox_page` decorator (sign-in required, the actor
passed in, PermissionDeniedError → 403, NotFoundError → 404, InvalidInputError from a list's
query — a forged cursor — → 400) and htmx fragment detection."""

from collections.abc import Callable
from functools import wraps
from typing import Concatenate

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from huike.accounts.access import Actor
from huike.accounts.settings_views.common import forbidden, wants_fragment
from huike.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from huike.core.pagination import MAX_PAGE_SIZE

TEMPLATES = "inbox/"
# Conversations per page of the list, messages per page of a thread.
PAGE_SIZE = 30
THREAD_PAGE_SIZE = 50

__all__ = ["inbox_page", "page_limit", "template", "wants_fragment"]


def inbox_page[**P](
    view: Callable[Concatenate[HttpRequest, Actor, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
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
        except InvalidInputError as error:
            return render(request, "customers/invalid.html", {"detail": error.detail}, status=400)

    return login_required(wrapper)


def template(name: str, partial: str = "") -> str:
    return f"{TEMPLATES}{name}#{partial}" if partial else f"{TEMPLATES}{name}"


def page_limit(request: HttpRequest, default: int = PAGE_SIZE) -> int:
    try:
        limit = int(request.GET.get("limit", default))
    except ValueError:
        return default
    return min(max(limit, 1), MAX_PAGE_SIZE)
