"""Settings pages for roles: the list, adding one (optionally copied from another), editing or
viewing one (built-in roles read-only), and deleting one."""

import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from huike.accounts import selectors, services
from huike.accounts.access import Actor, access_role
from huike.accounts.models import Role, Workspace
from huike.accounts.settings_forms import RoleForm, add_service_error
from huike.accounts.settings_views.common import settings_page, settings_template
from huike.core.errors import ConflictError, InvalidInputError
from huike.core.permissions import all_permissions


@dataclass(frozen=True)
class RoleRow:
    role: Role
    permission_labels: list[str]


def _role_rows(workspace: Workspace) -> list[RoleRow]:
    labels = {permission.code: str(permission.label) for permission in all_permissions()}
    return [
        RoleRow(role, [labels.get(code, code) for code in role.permissions])
        for role in selectors.role_list(workspace=workspace)
    ]


@settings_page
@require_GET
def settings_roles(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("roles.manage")
    rows = _role_rows(actor.workspace)
    return render(
        request,
        settings_template("roles.html"),
        {
            "builtin_rows": [row for row in rows if row.role.is_builtin],
            "custom_rows": [row for row in rows if not row.role.is_builtin],
        },
    )


@settings_page
@require_http_methods(["GET", "POST"])
def settings_role_add(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("roles.manage")
    if request.method == "POST":
        form = RoleForm(request.POST)
        if form.is_valid():
            name = form.cleaned_data["name"]
            try:
                role = services.role_create(
                    actor=actor,
                    name=name,
                    description=form.cleaned_data["description"],
                    permissions=form.cleaned_data["permissions"],
                )
            except (InvalidInputError, ConflictError) as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("Role %(name)s created.") % {"name": role.display_name})
                return redirect("accounts:settings_roles")
        source = None
    else:
        source = None
        initial: dict[str, Any] = {}
        if copy_id := request.GET.get("copy"):
            source = access_role(actor, copy_id)
            initial = {
                "name": _("Copy of %(name)s") % {"name": source.name},
                "description": source.description,
                "permissions": list(source.permissions),
            }
        form = RoleForm(initial=initial)
    return render(
        request,
        settings_template("role_form.html"),
        {"form": form, "role": None, "source": source},
    )


@settings_page
@require_http_methods(["GET", "POST"])
def settings_role(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("roles.manage")
    role = access_role(actor, public_id)
    form = RoleForm(
        request.POST if request.method == "POST" else None,
        initial={
            "name": role.display_name,
            "description": role.description,
            "permissions": list(role.permissions),
        },
    )
    if role.is_builtin:
        # Shown with the same grouped checkboxes, read-only, so it can be compared and copied.
        for field in form.fields.values():
            field.disabled = True
    if request.method == "POST" and form.is_valid():
        try:
            services.role_update(
                actor=actor,
                role=role,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                permissions=form.cleaned_data["permissions"],
            )
        except (InvalidInputError, ConflictError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Role %(name)s saved.") % {"name": role.display_name})
            return redirect("accounts:settings_roles")
    return render(
        request,
        settings_template("role_form.html"),
        {
            "form": form,
            "role": role,
            "source": None,
            "member_count": selectors.role_member_count(role=role),
        },
    )


@settings_page
@require_POST
def settings_role_delete(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("roles.manage")
    role = access_role(actor, public_id)
    try:
        services.role_delete(actor=actor, role=role)
    except ConflictError as error:
        messages.error(request, error.detail)
        return redirect("accounts:settings_role", public_id=role.public_id)
    messages.success(request, _("Role %(name)s deleted.") % {"name": role.display_name})
    return redirect("accounts:settings_roles")
