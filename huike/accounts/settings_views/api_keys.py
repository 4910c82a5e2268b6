"""Settings pages for API keys: the list (which also issues keys) and revoking one."""

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from huike.accounts import selectors, services
from huike.accounts.access import Actor, access_api_key
from huike.accounts.settings_forms import ApiKeyForm, add_service_error
from huike.accounts.settings_views.common import settings_page, settings_template
from huike.core.errors import ConflictError, InvalidInputError


@settings_page
@require_http_methods(["GET", "POST"])
def settings_api_keys(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("api_keys.manage")
    form = ApiKeyForm(request.POST if request.method == "POST" else None, workspace=actor.workspace)
    new_key: dict[str, str] | None = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.api_key_create(
                actor=actor,
                workspace=actor.workspace,
                name=form.cleaned_data["name"],
                role=form.cleaned_data["role"],
                rate_limit_per_minute=form.cleaned_data["rate_limit_per_minute"],
            )
        except (InvalidInputError, ConflictError) as error:
            add_service_error(form, error)
        else:
            # The plaintext is shown in this response only: not parked in the (database)
            # session for a redirect, and the page is not cached anywhere.
            new_key = {"name": issued.api_key.name, "plaintext": issued.plaintext}
            form = ApiKeyForm(workspace=actor.workspace)
            messages.success(
                request, _("API key %(name)s created.") % {"name": issued.api_key.name}
            )
    response = render(
        request,
        settings_template("api_keys.html"),
        {
            "form": form,
            "api_keys": selectors.api_key_list(workspace=actor.workspace),
            "new_key": new_key,
        },
    )
    if new_key is not None:
        add_never_cache_headers(response)
    return response


@settings_page
@require_http_methods(["GET", "POST"])
def settings_api_key_revoke(
    request: HttpRequest, actor: Actor, public_id: uuid.UUID
) -> HttpResponse:
    api_key = access_api_key(actor, public_id)
    if request.method == "POST":
        services.api_key_revoke(actor=actor, api_key=api_key)
        messages.success(request, _("API key %(name)s revoked.") % {"name": api_key.name})
        return redirect("accounts:settings_api_keys")
    return render(request, settings_template("api_key_revoke.html"), {"api_key": api_key})
