"""Settings pages of the customers part (permission customers.configure): tags and tag groups,
custom fields, and the identity rules (phone region, caps, junk values, survivorship,
automatic merging)."""

import uuid
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from huike.accounts.access import Actor
from huike.core.errors import ConflictError, HuikeError, InvalidInputError
from huike.customers import services
from huike.customers.access import access_custom_field, access_tag, access_tag_group
from huike.customers.custom_fields import custom_fields_of
from huike.customers.forms import (
    CustomFieldCreateForm,
    CustomFieldEditForm,
    IdentityRulesForm,
    TagForm,
    TagGroupForm,
    add_service_error,
)
from huike.customers.identities import workspace_rules
from huike.customers.models import CustomField, Tag, TagGroup
from huike.customers.rules import DEFAULT_JUNK_VALUES, IDENTITY_KINDS
from huike.customers.views.common import customers_page

SETTINGS = "customers/settings/"


def _form_errors(request: HttpRequest, form: Any) -> None:
    for errors in form.errors.values():
        messages.error(request, " ".join(errors))


# --- tags and tag groups ----------------------------------------------------------------
@customers_page
@require_http_methods(["GET", "POST"])
def settings_tags(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("customers.configure")
    posted = request.POST.get("form") if request.method == "POST" else None
    group_form = TagGroupForm(request.POST if posted == "group" else None, prefix="group")
    tag_form = TagForm(
        request.POST if posted == "tag" else None, workspace=actor.workspace, prefix="tag"
    )
    if posted == "group" and group_form.is_valid():
        try:
            services.tag_group_create(
                actor=actor,
                name=group_form.cleaned_data["name"],
                color=group_form.cleaned_data["color"],
            )
        except (InvalidInputError, ConflictError) as error:
            add_service_error(group_form, error)
        else:
            messages.success(request, _("Tag group created."))
            return redirect("customers:settings_tags")
    if posted == "tag" and tag_form.is_valid():
        try:
            services.tag_create(
                actor=actor,
                name=tag_form.cleaned_data["name"],
                color=tag_form.cleaned_data["color"],
                group=tag_form.cleaned_data["group"],
            )
        except (InvalidInputError, ConflictError) as error:
            add_service_error(tag_form, error)
        else:
            messages.success(request, _("Tag created."))
            return redirect("customers:settings_tags")
    groups = list(TagGroup.objects.filter(workspace=actor.workspace).order_by("name"))
    tags = list(Tag.objects.filter(workspace=actor.workspace).order_by("name"))
    return render(
        request,
        f"{SETTINGS}tags.html",
        {
            "group_form": group_form,
            "tag_form": tag_form,
            "groups": groups,
            "tags": tags,
        },
    )


@customers_page
@require_POST
def settings_tag(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("customers.configure")
    tag = access_tag(actor, public_id)
    form = TagForm(request.POST, workspace=actor.workspace)
    if not form.is_valid():
        _form_errors(request, form)
        return redirect("customers:settings_tags")
    try:
        services.tag_update(
            actor=actor,
            tag=tag,
            name=form.cleaned_data["name"],
            color=form.cleaned_data["color"],
            group=form.cleaned_data["group"],
        )
    except HuikeError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("Tag %(name)s saved.") % {"name": tag.name})
    return redirect("customers:settings_tags")


@customers_page
@require_POST
def settings_tag_delete(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("customers.configure")
    tag = access_tag(actor, public_id)
    services.tag_delete(actor=actor, tag=tag)
    messages.success(request, _("Tag %(name)s deleted.") % {"name": tag.name})
    return redirect("customers:settings_tags")


@customers_page
@require_POST
def settings_tag_group(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("customers.configure")
    group = access_tag_group(actor, public_id)
    form = TagGroupForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return redirect("customers:settings_tags")
    try:
        services.tag_group_update(
            actor=actor,
            group=group,
            name=form.cleaned_data["name"],
            color=form.cleaned_data["color"],
        )
    except HuikeError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("Tag group %(name)s saved.") % {"name": group.name})
    return redirect("customers:settings_tags")


@customers_page
@require_POST
def settings_tag_group_delete(
    request: HttpRequest, actor: Actor, public_id: uuid.UUID
) -> HttpResponse:
    actor.require("customers.configure")
    group = access_tag_group(actor, public_id)
    services.tag_group_delete(actor=actor, group=group)
    messages.success(
        request, _("Tag group %(name)s deleted; its tags stay.") % {"name": group.name}
    )
    return redirect("customers:settings_tags")


# --- custom fields ----------------------------------------------------------------------
@customers_page
@require_http_methods(["GET", "POST"])
def settings_fields(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("customers.configure")
    form = CustomFieldCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            field_row = services.custom_field_create(
                actor=actor,
                key=data["key"],
                label=data["label"],
                type=data["type"],
                choices=form.choice_list(),
                is_required=data["is_required"],
                is_unique=data["is_unique"],
            )
        except (InvalidInputError, ConflictError) as error:
            add_service_error(form, error)
        else:
            messages.success(
                request, _("Custom field %(label)s created.") % {"label": field_row.label}
            )
            return redirect("customers:settings_fields")
    return render(
        request,
        f"{SETTINGS}fields.html",
        {"form": form, "fields": custom_fields_of(actor.workspace.pk)},
    )


@customers_page
@require_http_methods(["GET", "POST"])
def settings_field(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("customers.configure")
    field_row = access_custom_field(actor, public_id)
    form = CustomFieldEditForm(
        request.POST if request.method == "POST" else None,
        initial={
            "label": field_row.label,
            "choices": "\n".join(field_row.choices),
            "is_required": field_row.is_required,
        },
    )
    has_choices = field_row.type in (CustomField.Type.CHOICE, CustomField.Type.MULTI_CHOICE)
    if not has_choices:
        del form.fields["choices"]
    if request.method == "POST" and form.is_valid():
        try:
            services.custom_field_update(
                actor=actor,
                field_row=field_row,
                label=form.cleaned_data["label"],
                choices=form.choice_list() if has_choices else None,
                is_required=form.cleaned_data["is_required"],
            )
        except (InvalidInputError, ConflictError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Custom field saved."))
            return redirect("customers:settings_fields")
    return render(request, f"{SETTINGS}field_form.html", {"form": form, "field": field_row})


@customers_page
@require_POST
def settings_field_delete(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("customers.configure")
    field_row = access_custom_field(actor, public_id)
    services.custom_field_delete(actor=actor, field_row=field_row)
    messages.success(request, _("Custom field %(label)s deleted.") % {"label": field_row.label})
    return redirect("customers:settings_fields")


# --- identity rules ---------------------------------------------------------------------
def _rules_initial(workspace_id: int) -> dict[str, Any]:
    rules = workspace_rules(workspace_id)
    initial: dict[str, Any] = {
        "default_region": rules.default_region,
        "auto_merge_strong": rules.auto_merge_strong,
    }
    for kind in IDENTITY_KINDS:
        initial[f"cap_{kind}"] = rules.cap_of(kind)
        # Only the workspace's own additions: the built-in list is always applied.
        extra = sorted(rules.junk.get(kind, frozenset()) - DEFAULT_JUNK_VALUES.get(kind, set()))
        initial[f"junk_{kind}"] = "\n".join(extra)
    for name, strategy in rules.survivorship.items():
        initial[f"survivorship_{name}"] = strategy
    return initial


@customers_page
@require_http_methods(["GET", "POST"])
def settings_identity(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("customers.configure")
    form = IdentityRulesForm(
        request.POST if request.method == "POST" else None,
        initial=_rules_initial(actor.workspace.pk),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_settings_update(
                actor=actor,
                default_region=form.cleaned_data["default_region"],
                identity_caps=form.caps(),
                junk_values=form.junk(),
                survivorship=form.survivorship(),
                auto_merge_strong=form.cleaned_data["auto_merge_strong"],
            )
        except (InvalidInputError, ConflictError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Identity rules saved."))
            return redirect("customers:settings_identity")
    return render(
        request,
        f"{SETTINGS}identity.html",
        {"form": form},
    )
