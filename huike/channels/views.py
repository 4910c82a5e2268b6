"""Settings pages of the channels part: connect and manage channels (channels.view to look,
channels.manage to change) and write message templates (templates.manage).

Thin over huike.channels.services; the delivery logs show metadata only — never a delivery's
body and never a decrypted recipient address.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from huike.accounts.access import Actor
from huike.accounts.settings_views.common import settings_page, wants_fragment
from huike.channels import services
from huike.channels.base import Provider
from huike.channels.config import (
    API_BASE_URL,
    SECRET_MASK,
    channel_secrets,
    config_shown,
    webhook_url,
)
from huike.channels.forms import (
    ChannelForm,
    StaffLinkForm,
    TemplateForm,
    config_initial,
)
from huike.channels.models import (
    Channel,
    ChannelKind,
    ChannelStaff,
    InboundDelivery,
    MessageTemplate,
    OutboundDelivery,
)
from huike.channels.registry import provider_for, providers
from huike.channels.templates_render import (
    CUSTOM_FIELD_PREFIX,
    VARIABLES,
    TemplateValues,
    given_name,
    template_render,
)
from huike.core.errors import ConflictError, InvalidInputError
from huike.customers.access import visible_customers
from huike.customers.custom_fields import custom_fields_of

TEMPLATES = "channels/"
# The delivery logs on the detail page: enough to see what happened lately; the rest is in
# the database for support, not a page that grows without end.
LOG_ROWS = 50
# Sample values of the template preview: a Chinese and a Western name, so both greetings show.
SAMPLE_NAMES = {"zh_hans": "王小明", "en": "Ada Lovelace"}


def _provider(kind: str) -> Provider | None:
    """The provider of `kind`, None when this installation no longer has it."""
    try:
        return provider_for(kind)
    except KeyError:
        return None


def _channel_kind_label(kind: str) -> str:
    return str(ChannelKind(kind).label) if kind in ChannelKind.values else kind


# --- channels -------------------------------------------------------------------------------
@settings_page
@require_GET
def channel_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("channels.view")
    channels = Channel.objects.filter(workspace=actor.workspace).order_by("kind", "name")
    return render(
        request,
        f"{TEMPLATES}channel_list.html",
        {"channels": channels, "can_manage": actor.has("channels.manage")},
    )


@settings_page
@require_GET
def channel_connect(request: HttpRequest, actor: Actor) -> HttpResponse:
    """Pick the kind of channel to connect: every provider this installation has."""
    actor.require("channels.manage")
    return render(request, f"{TEMPLATES}channel_connect.html", {"providers": providers()})


@settings_page
@require_http_methods(["GET", "POST"])
def channel_create(request: HttpRequest, actor: Actor, kind: str) -> HttpResponse:
    actor.require("channels.manage")
    provider = _provider(kind)
    if provider is None:
        raise Http404(_("Channels of this kind are not available in this installation."))
    form = ChannelForm(
        request.POST if request.method == "POST" else None,
        provider=provider,
        workspace=actor.workspace,
        initial={"name": str(provider.label)},
    )
    if request.method == "POST" and form.is_valid():
        try:
            channel = services.channel_create(
                actor=actor,
                kind=kind,
                name=form.cleaned_data["name"],
                config=form.config_data(),
                team=form.cleaned_data["team"],
            )
        except (InvalidInputError, ConflictError) as error:
            form.add_service_error(error)
        else:
            messages.success(request, _("Channel %(name)s connected.") % {"name": channel.name})
            return redirect("channels:channel_detail", channel.public_id)
    return render(
        request,
        f"{TEMPLATES}channel_form.html",
        {"form": form, "provider": provider, "channel": None},
    )


@settings_page
@require_http_methods(["GET", "POST"])
def channel_edit(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("channels.manage")
    channel = services.access_channel(actor, public_id)
    provider = _provider(channel.kind)
    if provider is None:
        raise Http404(_("Channels of this kind are not available in this installation."))
    stored = frozenset(name for name, value in channel_secrets(channel).items() if value)
    form = ChannelForm(
        request.POST if request.method == "POST" else None,
        provider=provider,
        workspace=actor.workspace,
        stored_secrets=stored,
        initial={
            "name": channel.name,
            "team": channel.team,
            **config_initial(provider, config_shown(channel)),
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.channel_update(
                actor=actor,
                channel=channel,
                name=form.cleaned_data["name"],
                config=form.config_data(),
                team=form.cleaned_data["team"],
            )
        except (InvalidInputError, ConflictError) as error:
            form.add_service_error(error)
        else:
            messages.success(request, _("Channel %(name)s saved.") % {"name": channel.name})
            return redirect("channels:channel_detail", channel.public_id)
    return render(
        request,
        f"{TEMPLATES}channel_form.html",
        {"form": form, "provider": provider, "channel": channel},
    )


@dataclass(frozen=True)
class SettingRow:
    label: str
    value: str
    secret: bool


def _setting_rows(channel: Channel, provider: Provider) -> list[SettingRow]:
    shown = config_shown(channel)
    rows: list[SettingRow] = []
    names: set[str] = set()
    for config in provider.config_fields:
        names.add(config.name)
        value = shown.get(config.name, "")
        if config.widget == "bool":
            value = _("Yes") if value == "true" else _("No")
        elif config.secret and value == SECRET_MASK:
            value = _("stored")
        rows.append(SettingRow(str(config.label), value, config.secret))
    if API_BASE_URL not in names and shown.get(API_BASE_URL):
        rows.append(SettingRow(_("API base URL"), shown[API_BASE_URL], False))
    return rows


@dataclass(frozen=True)
class OutboundRow:
    delivery: OutboundDelivery
    # The customer when the viewer may see them (the name links to the record), else None.
    customer_shown: Any


def _outbound_rows(actor: Actor, channel: Channel) -> list[OutboundRow]:
    deliveries = list(
        OutboundDelivery.objects.filter(workspace=actor.workspace, channel=channel)
        .select_related("customer")
        .only(
            "public_id",
            "created_at",
            "status",
            "error",
            "purpose",
            "customer__public_id",
            "customer__name",
        )
        .order_by("-created_at", "-id")[:LOG_ROWS]
    )
    visible: set[int] = set()
    customer_ids = {delivery.customer_id for delivery in deliveries if delivery.customer_id}
    if customer_ids and actor.has("customers.view"):
        visible = set(
            visible_customers(actor).filter(pk__in=customer_ids).values_list("pk", flat=True)
        )
    return [
        OutboundRow(delivery, delivery.customer if delivery.customer_id in visible else None)
        for delivery in deliveries
    ]


def _detail_context(actor: Actor, channel: Channel) -> dict[str, Any]:
    provider = _provider(channel.kind)
    inbound = list(
        InboundDelivery.objects.filter(workspace=actor.workspace, channel=channel)
        .only("received_at", "status", "dedupe_key", "error", "items")
        .order_by("-received_at", "-id")[:LOG_ROWS]
    )
    inbound_counts = InboundDelivery.objects.filter(
        workspace=actor.workspace, channel=channel
    ).aggregate(
        pending=Count("id", filter=Q(status=InboundDelivery.Status.PENDING)),
        failed=Count("id", filter=Q(status=InboundDelivery.Status.FAILED)),
    )
    outbound_counts = OutboundDelivery.objects.filter(
        workspace=actor.workspace, channel=channel
    ).aggregate(
        pending=Count("id", filter=Q(status=OutboundDelivery.Status.QUEUED)),
        failed=Count("id", filter=Q(status=OutboundDelivery.Status.FAILED)),
    )
    staff = (
        list(
            ChannelStaff.objects.filter(workspace=actor.workspace, channel=channel)
            .select_related("membership__user")
            .order_by("external_id")
        )
        if channel.kind == ChannelKind.WECOM
        else []
    )
    can_manage = actor.has("channels.manage")
    snippet = ""
    if channel.kind == ChannelKind.WEBCHAT:
        snippet = (
            f'<script src="{settings.SITE_URL.rstrip("/")}/webchat/widget.js" '
            f'data-key="{channel.public_key}" async></script>'
        )
    return {
        "channel": channel,
        "kind_label": _channel_kind_label(channel.kind),
        "provider": provider,
        "settings_rows": _setting_rows(channel, provider) if provider else [],
        "webhook_url": webhook_url(channel) if provider and provider.receives_webhooks else "",
        "snippet": snippet,
        "inbound": inbound,
        "inbound_counts": inbound_counts,
        "outbound": _outbound_rows(actor, channel),
        "outbound_counts": outbound_counts,
        "staff": staff,
        "staff_form": StaffLinkForm(workspace=actor.workspace) if can_manage else None,
        "can_manage": can_manage,
    }


@settings_page
@require_GET
def channel_detail(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    channel = services.access_channel(actor, public_id)
    return render(request, f"{TEMPLATES}channel_detail.html", _detail_context(actor, channel))


@settings_page
@require_POST
def channel_test(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    """Test the connection; htmx swaps in the result, a plain form post returns to the page."""
    channel = services.access_channel(actor, public_id)
    actor.require("channels.manage")
    if _provider(channel.kind) is None:
        raise Http404(_("Channels of this kind are not available in this installation."))
    result = services.channel_test(actor=actor, channel=channel)
    if wants_fragment(request):
        return render(request, f"{TEMPLATES}channel_detail.html#test-result", {"channel": channel})
    if result.ok:
        messages.success(request, result.message or _("The connection works."))
    else:
        messages.error(request, result.message or _("The connection test failed."))
    return redirect("channels:channel_detail", channel.public_id)


@settings_page
@require_POST
def channel_set_active(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    channel = services.access_channel(actor, public_id)
    active = request.POST.get("active") == "1"
    services.channel_set_active(actor=actor, channel=channel, active=active)
    if active:
        messages.success(request, _("Channel %(name)s enabled.") % {"name": channel.name})
    else:
        messages.success(
            request,
            _("Channel %(name)s disabled: it receives and sends nothing until enabled.")
            % {"name": channel.name},
        )
    return redirect("channels:channel_detail", channel.public_id)


@settings_page
@require_POST
def channel_staff_add(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    channel = services.access_channel(actor, public_id)
    actor.require("channels.manage")
    form = StaffLinkForm(request.POST, workspace=actor.workspace)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(str(error) for error in errors))
        return redirect("channels:channel_detail", channel.public_id)
    try:
        link = services.channel_staff_link(
            actor=actor,
            channel=channel,
            external_id=form.cleaned_data["external_id"],
            membership=form.cleaned_data["membership"],
        )
    except InvalidInputError as error:
        messages.error(request, error.detail)
    else:
        messages.success(
            request,
            _("%(external_id)s is linked to %(member)s.")
            % {"external_id": link.external_id, "member": link.membership.user.display_name},
        )
    return redirect("channels:channel_detail", channel.public_id)


@settings_page
@require_POST
def channel_staff_remove(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    channel = services.access_channel(actor, public_id)
    external_id = request.POST.get("external_id", "")
    services.channel_staff_unlink(actor=actor, channel=channel, external_id=external_id)
    messages.success(request, _("%(external_id)s is unlinked.") % {"external_id": external_id})
    return redirect("channels:channel_detail", channel.public_id)


# --- message templates ------------------------------------------------------------------------
@settings_page
@require_GET
def template_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("templates.manage")
    templates = MessageTemplate.objects.filter(workspace=actor.workspace).order_by(
        "purpose", "name"
    )
    return render(request, f"{TEMPLATES}template_list.html", {"templates": templates})


def _variables(actor: Actor) -> list[tuple[str, str]]:
    found = [(name, str(label)) for name, label in VARIABLES.items()]
    found.extend(
        (f"{CUSTOM_FIELD_PREFIX}{field.key}", field.label)
        for field in custom_fields_of(actor.workspace.pk)
    )
    return found


def _template_data(form: TemplateForm) -> dict[str, Any]:
    return {name: form.cleaned_data[name] for name in services.TEMPLATE_FIELDS}


def _template_form_page(
    request: HttpRequest, actor: Actor, form: TemplateForm, template: MessageTemplate | None
) -> HttpResponse:
    return render(
        request,
        f"{TEMPLATES}template_form.html",
        {
            "form": form,
            "template": template,
            "variables": _variables(actor),
            "previews": _previews(actor, form.data or form.initial),
        },
    )


@settings_page
@require_http_methods(["GET", "POST"])
def template_create(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("templates.manage")
    form = TemplateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            template = services.template_create(actor=actor, data=_template_data(form))
        except (InvalidInputError, ConflictError) as error:
            form.add_service_error(error)
        else:
            messages.success(request, _("Template %(name)s saved.") % {"name": template.name})
            return redirect("channels:template_list")
    return _template_form_page(request, actor, form, None)


@settings_page
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("templates.manage")
    template = services.access_template(actor, public_id)
    form = TemplateForm(
        request.POST if request.method == "POST" else None,
        initial={name: getattr(template, name) for name in services.TEMPLATE_FIELDS},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.template_update(actor=actor, template=template, data=_template_data(form))
        except (InvalidInputError, ConflictError) as error:
            form.add_service_error(error)
        else:
            messages.success(request, _("Template %(name)s saved.") % {"name": template.name})
            return redirect("channels:template_list")
    return _template_form_page(request, actor, form, template)


@settings_page
@require_POST
def template_delete(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("templates.manage")
    template = services.access_template(actor, public_id)
    services.template_delete(actor=actor, template=template)
    messages.success(request, _("Template %(name)s deleted.") % {"name": template.name})
    return redirect("channels:template_list")


def _previews(actor: Actor, data: Any) -> list[tuple[str, str]]:
    """The editor's texts rendered with sample values, per language that has text."""
    agent = actor.user.display_name if actor.user else actor.label
    custom = {field.key: f"[{field.label}]" for field in custom_fields_of(actor.workspace.pk)}
    previews: list[tuple[str, str]] = []
    for language, label in (("zh_hans", _("Chinese")), ("en", _("English"))):
        text = str(data.get(f"body_{language}") or "")
        if not text.strip():
            continue
        name = SAMPLE_NAMES[language]
        values = TemplateValues(
            values={
                "customer.name": name,
                "customer.first_name": given_name(name),
                "agent.name": agent,
                "workspace.name": actor.workspace.name,
                "channel.name": _("Sample channel"),
            },
            custom_fields=custom,
        )
        previews.append((label, template_render(text, values)))
    return previews


@settings_page
@require_POST
def template_preview(request: HttpRequest, actor: Actor) -> HttpResponse:
    """The live preview beside the editor (htmx posts the form as it is typed)."""
    actor.require("templates.manage")
    return render(
        request,
        f"{TEMPLATES}template_form.html#preview",
        {"previews": _previews(actor, request.POST)},
    )
