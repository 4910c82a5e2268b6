"""Customer pages: the list (search, filters, sort, cursor pages, bulk actions), the 360 page
(profile, identities with audited reveal, tags, consent, derived profile, merges, timeline and
its weekly chart), and the create and edit forms."""

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from huike.accounts.access import Actor, lookup_membership
from huike.accounts.client_ip import client_ip_address
from huike.accounts.models import Membership
from huike.accounts.pii import pii_reveal
from huike.core.errors import ConflictError, InvalidInputError, NotFoundError
from huike.core.pagination import Page, paginate
from huike.customers import selectors, services
from huike.customers.access import access_customer, access_tag, visible_customers
from huike.customers.custom_fields import custom_fields_of
from huike.customers.forms import (
    UNASSIGNED,
    BulkActionForm,
    ConsentForm,
    CustomerFilterForm,
    CustomerForm,
    TagAddForm,
    TimelineFilterForm,
    add_service_error,
    custom_initial,
)
from huike.customers.identities import IdentityKey, identity_key, workspace_rules
from huike.customers.models import (
    Company,
    ConsentPurpose,
    Customer,
    CustomerTag,
    CustomField,
    Event,
    Identity,
)
from huike.customers.panels import customer_panels
from huike.customers.views import reads
from huike.customers.views.common import (
    TIMELINE_PAGE_SIZE,
    customers_page,
    page_limit,
    page_template,
    wants_fragment,
)
from huike.customers.views.display import custom_field_display, identity_kind_label
from huike.customers.views.sharing import sharing_context

TIMELINE_ORDERING = ("-occurred_at", "-id")
PERSONAL_FIELDS = ("birthday", "address", "id_number")
# Properties of an event shown on the timeline; the rest stay in the API's full view.
PROPERTIES_SHOWN = 8
# Filters of the list folded under "More filters" (open when one is in use).
FOLDED_FILTERS = ("tag", "owner", "team", "lifecycle_stage", "created_from", "created_to")
# Query parameters of the list that are not filters (an export takes the filters only).
NOT_FILTERS = frozenset({"cursor", "limit"})


@dataclass(frozen=True)
class CustomerRow:
    customer: Customer
    contacts: selectors.Contacts
    tags: list[CustomerTag]


def _list_url() -> str:
    return reverse("customers:customer_list")


# --- the list -------------------------------------------------------------------------------
@vary_on_headers("HX-Request")
@customers_page
@require_GET
def customer_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("customers.view")
    custom_fields = custom_fields_of(actor.workspace.pk)
    form = CustomerFilterForm(request.GET, actor=actor, custom_fields=custom_fields)
    filters = form.to_filters()
    try:
        customers: QuerySet[Customer] = selectors.customer_search(actor, filters)
    except InvalidInputError as error:
        add_service_error(form, error)
        customers = Customer.objects.none()
    page = paginate(
        customers.select_related("owner__user", "team"),
        cursor=request.GET.get("cursor"),
        limit=page_limit(request),
        ordering=selectors.CUSTOMER_ORDERINGS[form.ordering()],
    )
    contacts = selectors.customer_contacts(page.items)
    tags = selectors.customer_tags(page.items)
    rows = [
        CustomerRow(customer=customer, contacts=contacts[customer.pk], tags=tags[customer.pk])
        for customer in page.items
    ]
    filter_params = [
        (key, value)
        for key, values in request.GET.lists()
        if key not in NOT_FILTERS
        for value in values
    ]
    return render(
        request,
        page_template("customer_list.html", request, "customer_results"),
        {
            "form": form,
            "page": page,
            "rows": rows,
            "filter_params": filter_params,
            "filters_encoded": urlencode(filter_params),
            "bulk_form": BulkActionForm(workspace=actor.workspace)
            if actor.has("customers.manage") or actor.has("customers.merge")
            else None,
            "is_first_page": not request.GET.get("cursor"),
            "has_folded_filters": any(
                request.GET.get(name) for name in (*FOLDED_FILTERS, *form.custom_field_names())
            ),
        },
    )


def _uuids(values: list[str]) -> list[uuid.UUID]:
    parsed = []
    for value in values:
        try:
            parsed.append(uuid.UUID(value))
        except ValueError:
            continue
    return parsed


@customers_page
@require_POST
def customer_bulk(request: HttpRequest, actor: Actor) -> HttpResponse:
    """Bulk action on the selected rows; back to the list with the same filters."""
    # The list's filters, re-encoded: whatever was posted becomes a query string of our page.
    filters = QueryDict(request.POST.get("filters", "")).urlencode()
    back = _list_url() + (f"?{filters}" if filters else "")
    form = BulkActionForm(request.POST, workspace=actor.workspace)
    selected = _uuids(request.POST.getlist("customer"))
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(str(error) for error in errors))
        return redirect(back)
    action = form.cleaned_data["action"]
    if action == "merge":
        actor.require("customers.merge")
        if len(set(selected)) != 2:
            messages.error(request, _("Select exactly two customers to merge."))
            return redirect(back)
        first, second = selected
        return redirect(f"{reverse('customers:merge_compare')}?a={first}&b={second}")
    actor.require("customers.manage")
    customers = list(
        visible_customers(actor).filter(status=Customer.Status.ACTIVE, public_id__in=selected)
    )
    if not customers:
        messages.error(request, _("Select at least one customer."))
        return redirect(back)
    if action == "tag":
        tag = form.cleaned_data["tag"]
        added = services.customer_tags_add(actor=actor, customers=customers, tags=[tag])
        messages.success(
            request,
            ngettext(
                "Tag %(tag)s added to %(count)d customer.",
                "Tag %(tag)s added to %(count)d customers.",
                added,
            )
            % {"tag": tag.name, "count": added},
        )
    else:
        owner_id = form.cleaned_data["owner"]
        owner: Membership | None = None
        if owner_id != UNASSIGNED:
            owner = lookup_membership(actor.workspace, owner_id)
        try:
            count = services.customers_assign(actor=actor, customers=customers, owner=owner)
        except (InvalidInputError, ConflictError) as error:
            messages.error(request, error.detail)
            return redirect(back)
        messages.success(
            request,
            ngettext("%(count)d customer assigned.", "%(count)d customers assigned.", count)
            % {"count": count},
        )
    return redirect(back)


# --- the 360 page ---------------------------------------------------------------------------
@dataclass(frozen=True)
class IdentityGroup:
    label: str
    values: list[tuple[Identity, str, str]]  # identity, shown value, scope ("wx123", "sap")


def _identity_groups(customer: Customer) -> list[IdentityGroup]:
    grouped: dict[str, list[tuple[Identity, str, str]]] = defaultdict(list)
    for identity, shown in selectors.customer_identities(customer):
        grouped[identity.base_kind].append((identity, shown, identity.kind.partition(":")[2]))
    return [
        IdentityGroup(label=identity_kind_label(kind), values=values)
        for kind, values in grouped.items()
    ]


def _timeline(request: HttpRequest, customer: Customer) -> tuple[Page[Event], dict[str, str]]:
    kind = request.GET.get("kind", "")
    channel = request.GET.get("channel", "")
    events = selectors.customer_timeline(
        customer, kinds=[kind] if kind else [], channels=[channel] if channel else []
    )
    page = paginate(
        events,
        cursor=request.GET.get("cursor"),
        limit=TIMELINE_PAGE_SIZE,
        ordering=TIMELINE_ORDERING,
    )
    return page, {"kind": kind, "channel": channel}


def _property_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_property_text(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _timeline_rows(events: list[Event]) -> list[tuple[Event, list[tuple[str, str]]]]:
    """Each event with its first properties as text (lists joined, objects as JSON)."""
    return [
        (
            event,
            [
                (str(key), _property_text(value))
                for key, value in list((event.properties or {}).items())[:PROPERTIES_SHOWN]
            ],
        )
        for event in events
    ]


def _detail_context(
    request: HttpRequest,
    actor: Actor,
    customer: Customer,
    *,
    consent_form: ConsentForm | None = None,
) -> dict[str, Any]:
    can_manage = actor.has("customers.manage") and not customer.is_merged
    custom_fields = custom_fields_of(actor.workspace.pk)
    tags = selectors.customer_tags([customer])[customer.pk]
    timeline, timeline_filters = _timeline(request, customer)
    kinds, channels = reads.timeline_facets(customer)
    return {
        "customer": customer,
        "survivor": customer.merged_into if customer.is_merged else None,
        "identity_groups": _identity_groups(customer),
        "personal": selectors.customer_personal(customer),
        "custom_values": [
            (field_row.label, custom_field_display(field_row, customer.custom_fields))
            for field_row in custom_fields
        ],
        "tags": tags,
        "tag_form": TagAddForm(workspace=actor.workspace, exclude=[link.tag_id for link in tags])
        if can_manage
        else None,
        "consents": [
            (_choice_label(ConsentPurpose, state.purpose), state)
            for state in selectors.consent_current(customer)
        ],
        "consent_form": consent_form or (ConsentForm() if can_manage else None),
        "merges": list(selectors.customer_merges(customer)[:20]),
        "timeline": timeline,
        "timeline_rows": _timeline_rows(timeline.items),
        "timeline_form": TimelineFilterForm(timeline_filters, kinds=kinds, channels=channels),
        "activity": reads.activity_weeks(customer),
        "can_manage": can_manage,
        "can_merge": actor.has("customers.merge"),
        "can_reveal": actor.has("pii.reveal"),
        "can_see_amounts": actor.has("amounts.view"),
        "panels": [] if customer.is_merged else customer_panels(actor, customer),
        **({} if customer.is_merged else sharing_context(actor, customer, "customer")),
    }


@customers_page
@require_GET
def customer_detail(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    customer = access_customer(actor, public_id)
    return render(
        request, "customers/customer_detail.html", _detail_context(request, actor, customer)
    )


@vary_on_headers("HX-Request")
@customers_page
@require_GET
def customer_timeline(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    """The timeline's next page or filtered first page, as list items for htmx; without htmx
    the whole 360 page with the same filters."""
    customer = access_customer(actor, public_id)
    if not wants_fragment(request):
        query = request.GET.urlencode()
        return redirect(
            reverse("customers:customer_detail", args=[customer.public_id])
            + (f"?{query}" if query else "")
        )
    timeline, _filters = _timeline(request, customer)
    return render(
        request,
        "customers/customer_detail.html#timeline_items",
        {
            "customer": customer,
            "timeline": timeline,
            "timeline_rows": _timeline_rows(timeline.items),
        },
    )


@customers_page
@require_POST
def customer_reveal(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    """One personal value in clear, audited (huike.accounts.pii.pii_reveal)."""
    actor.require("pii.reveal")
    customer = access_customer(actor, public_id)
    identity_id = request.POST.get("identity", "")
    field = request.POST.get("field", "")
    if identity_id:
        match = [
            (identity, value)
            for identity, value in selectors.customer_identities(customer, reveal=True)
            if str(identity.public_id) == identity_id
        ]
        if not match:
            raise NotFoundError(_("No such identity."))
        identity, value = match[0]
        audited_field = f"identity.{identity.kind}"
    elif field in PERSONAL_FIELDS:
        value = selectors.customer_personal(customer, reveal=True)[field]
        audited_field = field
    else:
        raise NotFoundError(_("No such field."))
    shown = pii_reveal(
        actor=actor,
        record_type="customer",
        record_id=str(customer.public_id),
        field=audited_field,
        value=value,
        ip_address=client_ip_address(request),
    )
    return render(
        request,
        page_template("reveal.html", request, "revealed"),
        {"customer": customer, "value": shown, "field": audited_field},
    )


def _choice_label(choices: Any, value: str) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def _detail_url(customer: Customer) -> str:
    return reverse("customers:customer_detail", args=[customer.public_id])


@customers_page
@require_POST
def customer_tag_add(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("customers.manage")
    customer = access_customer(actor, public_id)
    form = TagAddForm(request.POST, workspace=actor.workspace)
    if form.is_valid():
        tag = form.cleaned_data["tag"]
        services.customer_tags_add(actor=actor, customers=[customer], tags=[tag])
        messages.success(request, _("Tag %(tag)s added.") % {"tag": tag.name})
    else:
        messages.error(request, _("Choose a tag."))
    return redirect(_detail_url(customer))


@customers_page
@require_POST
def customer_tag_remove(
    request: HttpRequest, actor: Actor, public_id: uuid.UUID, tag_id: uuid.UUID
) -> HttpResponse:
    actor.require("customers.manage")
    customer = access_customer(actor, public_id)
    tag = access_tag(actor, tag_id)
    services.customer_tags_remove(actor=actor, customers=[customer], tags=[tag])
    messages.success(request, _("Tag %(tag)s removed.") % {"tag": tag.name})
    return redirect(_detail_url(customer))


@customers_page
@require_POST
def customer_consent(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("customers.manage")
    customer = access_customer(actor, public_id)
    form = ConsentForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.consent_record(
                actor=actor,
                customer=customer,
                purpose=data["purpose"],
                status=data["status"],
                channel=data["channel"],
                source=data["source"],
                evidence=data["evidence"],
            )
        except (InvalidInputError, ConflictError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Consent recorded."))
            return redirect(_detail_url(customer) + "#consent")
    context = _detail_context(request, actor, customer, consent_form=form)
    return render(request, "customers/customer_detail.html", context)


# --- create and edit ------------------------------------------------------------------------
def _identity_keys(form: CustomerForm, region: str) -> list[IdentityKey]:
    keys = []
    for kind in ("phone", "email"):
        value = form.cleaned_data.get(kind) or ""
        if value.strip():
            try:
                keys.append(identity_key(kind, value, default_region=region))
            except InvalidInputError as error:
                form.add_error(kind, error.detail)
    return keys


def _customer_data(form: CustomerForm, customer: Customer | None) -> services.CustomerData:
    cleaned = form.cleaned_data
    owner = cleaned["owner"]
    team = cleaned["team"] or (owner.team if owner else None)
    data = services.CustomerData(
        name=cleaned["name"],
        gender=cleaned["gender"],
        lifecycle_stage=cleaned["lifecycle_stage"],
        locale=cleaned["locale"],
        source_channel=cleaned["source_channel"],
        company=cleaned["company"],
        custom_fields=form.custom_values(),
    )
    # Unchanged relations are not sent again: the service refuses a deactivated owner, and a
    # customer whose owner left must still be editable.
    if customer is None or owner != customer.owner:
        data.owner = owner
    if customer is None or team != customer.team:
        data.team = team
    for name in PERSONAL_FIELDS:
        value = cleaned[name]
        if customer is None or value:
            setattr(data, name, value or (None if name == "birthday" else ""))
    return data


def _form_for(
    request: HttpRequest,
    actor: Actor,
    custom_fields: list[CustomField],
    customer: Customer | None,
) -> CustomerForm:
    data = request.POST if request.method == "POST" else None
    if customer is None:
        return CustomerForm(
            data,
            actor=actor,
            custom_fields=custom_fields,
            is_new=True,
            initial={"owner": actor.membership},
        )
    initial: dict[str, Any] = {
        "name": customer.name,
        "gender": customer.gender,
        "lifecycle_stage": customer.lifecycle_stage,
        "locale": customer.locale,
        "source_channel": customer.source_channel,
        "company": customer.company,
        "owner": customer.owner,
        "team": customer.team,
    }
    for field_row in custom_fields:
        initial[f"cf_{field_row.key}"] = custom_initial(
            field_row, customer.custom_fields.get(field_row.key)
        )
    form = CustomerForm(
        data, actor=actor, custom_fields=custom_fields, is_new=False, initial=initial
    )
    # The customer's own company and owner stay choosable even when the actor could not
    # pick them today (a company they cannot see, an owner who left).
    company_field: Any = form.fields["company"]
    owner_field: Any = form.fields["owner"]
    if customer.company_id is not None:
        company_field.queryset = company_field.queryset | Company.objects.filter(
            pk=customer.company_id
        )
    if customer.owner_id is not None:
        owner_field.queryset = owner_field.queryset | Membership.objects.filter(
            pk=customer.owner_id
        )
    return form


@customers_page
@require_http_methods(["GET", "POST"])
def customer_create(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("customers.manage")
    custom_fields = custom_fields_of(actor.workspace.pk)
    form = _form_for(request, actor, custom_fields, None)
    if request.method == "POST" and form.is_valid():
        keys = _identity_keys(form, workspace_rules(actor.workspace.pk).default_region)
        if not form.errors:
            try:
                customer = services.customer_create(
                    actor=actor, data=_customer_data(form, None), identity_keys=keys
                )
            except (InvalidInputError, ConflictError) as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("Customer created."))
                return redirect(_detail_url(customer))
    return render(
        request,
        "customers/customer_form.html",
        {"form": form, "customer": None},
    )


@customers_page
@require_http_methods(["GET", "POST"])
def customer_edit(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("customers.manage")
    customer = access_customer(actor, public_id)
    if customer.is_merged:
        messages.error(request, _("This customer was merged into another one."))
        return redirect(_detail_url(customer))
    custom_fields = custom_fields_of(actor.workspace.pk)
    form = _form_for(request, actor, custom_fields, customer)
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_update(
                actor=actor, customer=customer, data=_customer_data(form, customer)
            )
        except (InvalidInputError, ConflictError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Customer saved."))
            return redirect(_detail_url(customer))
    return render(
        request,
        "customers/customer_form.html",
        {"form": form, "customer": customer},
    )
