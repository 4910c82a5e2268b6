"""What every customers page shares: the `customers_page` decorator (the settings pages' rules:
sign-in required, the actor passed in, PermissionDeniedError → 403, NotFoundError → 404, and
here also InvalidInputError from a list's query — a forged cursor — → 400), htmx fragment
detection, template names and safe "back to where you were" redirects."""

from collections.abc import Callable
from functools import wraps
from typing import Concatenate

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from huike.accounts.access import Actor
from huike.accounts.settings_views.common import forbidden, wants_fragment
from huike.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from huike.core.pagination import MAX_PAGE_SIZE

TEMPLATES = "customers/"
# Rows per page of the lists; `?limit=` may ask for up to huike.core.pagination.MAX_PAGE_SIZE.
PAGE_SIZE = 50
TIMELINE_PAGE_SIZE = 20

__all__ = ["customers_page", "page_limit", "page_template", "redirect_back", "wants_fragment"]


def customers_page[**P](
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


def page_template(name: str, request: HttpRequest | None = None, partial: str = "") -> str:
    """The template `name`, or only its `partial` when htmx asks for a fragment."""
    if partial and request is not None and wants_fragment(request):
        return f"{TEMPLATES}{name}#{partial}"
    return f"{TEMPLATES}{name}"


def redirect_back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    """To the page a form's `next` names when it is one of ours, else to `default`."""
    next_url = request.POST.get("next") or ""
    if next_url and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return HttpResponseRedirect(next_url)
    return redirect(default)


def page_limit(request: HttpRequest) -> int:
    try:
        limit = int(request.GET.get("limit", PAGE_SIZE))
    except ValueError:
        return PAGE_SIZE
    return min(max(limit, 1), MAX_PAGE_SIZE)
