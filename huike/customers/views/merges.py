"""Merge pages: the side-by-side compare (with what the survivor would get), the merge itself,
the merge history with one-click undo, and the review queue."""

import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from huike.accounts.access import Actor
from huike.core.errors import ConflictError, InvalidInputError
from huike.core.pagination import paginate
from huike.customers import merging, selectors
from huike.customers.access import access_customer, access_merge, access_merge_candidate
from huike.customers.custom_fields import custom_fields_of
from huike.customers.forms import MergeForm
from huike.customers.models import Customer, CustomField, MergeCandidate
from huike.customers.views import reads
from huike.customers.views.common import (
    customers_page,
    page_limit,
    page_template,
    redirect_back,
)
from huike.customers.views.display import custom_field_display, identity_kind_label

MERGE_ORDERING = ("-created_at", "-id")


@dataclass(frozen=True)
class Preview:
    """The survivor as it would be after the merge."""

    name: str
    gender: str
    lifecycle_stage: str
    owner: str
    team: str
    company: str
    source_channel: str
    personal: dict[str, str]
    custom_values: list[tuple[str, str]]


@dataclass(frozen=True)
class Side:
    customer: Customer
    identities: list[tuple[str, str]]  # kind label, masked value
    tag_count: int
    event_count: int
    personal: dict[str, str]
    custom_values: list[tuple[str, str]]
    preview: Preview  # if this one survives


def _preview(survivor: Customer, absorbed: Customer, custom_fields: list[CustomField]) -> Preview:
    merged = reads.merge_preview(survivor, absorbed)
    # Relations of the preview are one of the two customers' (already loaded) relations.
    owners = {c.owner_id: c.owner for c in (survivor, absorbed)}
    teams = {c.team_id: c.team for c in (survivor, absorbed)}
    companies = {c.company_id: c.company for c in (survivor, absorbed)}
    owner = owners.get(merged.owner_id)
    return Preview(
        name=merged.name,
        gender=merged.get_gender_display(),
        lifecycle_stage=merged.get_lifecycle_stage_display(),
        owner=owner.user.display_name if owner else "",
        team=str(teams.get(merged.team_id) or ""),
        company=str(companies.get(merged.company_id) or ""),
        source_channel=merged.source_channel,
        personal=selectors.customer_personal(merged),
        custom_values=[
            (field_row.label, custom_field_display(field_row, merged.custom_fields))
            for field_row in custom_fields
        ],
    )


def _side(customer: Customer, other: Customer, custom_fields: list[CustomField]) -> Side:
    tag_count, event_count = reads.customer_counts(customer)
    return Side(
        customer=customer,
        identities=[
            (identity_kind_label(identity.kind), shown)
            for identity, shown in selectors.customer_identities(customer)
        ],
        tag_count=tag_count,
        event_count=event_count,
        personal=selectors.customer_personal(customer),
        custom_values=[
            (field_row.label, custom_field_display(field_row, customer.custom_fields))
            for field_row in custom_fields
        ],
        preview=_preview(customer, other, custom_fields),
    )


@customers_page
@require_http_methods(["GET", "POST"])
def merge_compare(request: HttpRequest, actor: Actor) -> HttpResponse:
    """GET ?a=&b=[&candidate=]: the two side by side; POST: merge the one not chosen into the
    chosen survivor."""
    actor.require("customers.merge")
    if request.method == "POST":
        return _merge(request, actor)
    first = access_customer(actor, request.GET.get("a", ""))
    second = access_customer(actor, request.GET.get("b", ""))
    candidate: MergeCandidate | None = None
    if request.GET.get("candidate"):
        candidate = access_merge_candidate(actor, request.GET["candidate"])
    context: dict[str, Any] = {"first": first, "second": second, "candidate": candidate}
    if first.pk == second.pk:
        context["problem"] = _("Choose two different customers.")
    elif first.is_merged or second.is_merged:
        context["problem"] = _("One of these customers was merged already.")
    else:
        custom_fields = custom_fields_of(actor.workspace.pk)
        context["sides"] = [
            _side(first, second, custom_fields),
            _side(second, first, custom_fields),
        ]
    return render(request, "customers/merge_compare.html", context)


def _merge(request: HttpRequest, actor: Actor) -> HttpResponse:
    form = MergeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose which customer survives."))
        return redirect("customers:customer_list")
    survivor = access_customer(actor, form.cleaned_data["survivor"])
    absorbed = access_customer(actor, form.absorbed())
    compare = f"{reverse('customers:merge_compare')}?a={survivor.public_id}&b={absorbed.public_id}"
    try:
        if form.cleaned_data["candidate"]:
            candidate = access_merge_candidate(actor, form.cleaned_data["candidate"])
            if {candidate.first_id, candidate.second_id} != {survivor.pk, absorbed.pk}:
                raise InvalidInputError(_("Choose one of the two customers."))
            merging.merge_candidate_accept(actor=actor, candidate=candidate, survivor=survivor)
        else:
            merging.customer_merge(actor=actor, survivor=survivor, absorbed=absorbed)
    except (InvalidInputError, ConflictError) as error:
        messages.error(request, error.detail)
        return redirect(compare)
    messages.success(
        request,
        _("%(absorbed)s was merged into %(survivor)s.")
        % {"absorbed": absorbed, "survivor": survivor},
    )
    return redirect("customers:customer_detail", public_id=survivor.public_id)


@vary_on_headers("HX-Request")
@customers_page
@require_GET
def merge_history(request: HttpRequest, actor: Actor) -> HttpResponse:
    page = paginate(
        selectors.merge_history(actor),
        cursor=request.GET.get("cursor"),
        limit=page_limit(request),
        ordering=MERGE_ORDERING,
    )
    return render(
        request,
        page_template("merge_history.html", request, "merge_results"),
        {
            "page": page,
            "can_merge": actor.has("customers.merge"),
            "is_first_page": not request.GET.get("cursor"),
        },
    )


@customers_page
@require_POST
def merge_undo(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("customers.merge")
    merge = access_merge(actor, public_id)
    try:
        merging.customer_unmerge(actor=actor, merge=merge)
    except ConflictError as error:
        messages.error(request, error.detail)
    else:
        messages.success(
            request,
            _("The merge was undone: %(absorbed)s is a customer of its own again.")
            % {"absorbed": merge.absorbed},
        )
    return redirect_back(request, reverse("customers:merge_history"))


@vary_on_headers("HX-Request")
@customers_page
@require_GET
def review_queue(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("customers.merge")
    page = paginate(
        selectors.merge_candidates_open(actor),
        cursor=request.GET.get("cursor"),
        limit=page_limit(request),
        ordering=MERGE_ORDERING,
    )
    return render(
        request,
        page_template("review_queue.html", request, "review_results"),
        {"page": page, "is_first_page": not request.GET.get("cursor")},
    )


@customers_page
@require_POST
def review_dismiss(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("customers.merge")
    candidate = access_merge_candidate(actor, public_id)
    try:
        merging.merge_candidate_dismiss(actor=actor, candidate=candidate)
    except ConflictError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("Marked as not the same person."))
    return redirect("customers:review_queue")
