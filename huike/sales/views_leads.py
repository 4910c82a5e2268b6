"""Lead pages: the list (mine / team / all), the pool with its Claim buttons, a lead's page
(status, claim/release/assign, conversion, history, score), manual entry, the CSV upload and
the settings page of the pool and the web forms.

Thin: objects come through huike.sales.access, changes through huike.sales.leads and
huike.sales.web_forms. Errors are the customers pages' (customers_page): no permission → 403,
another workspace's or an invisible lead → 404.
"""

import uuid
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from huike.accounts.access import Actor
from huike.core.errors import ConflictError, HuikeError, InvalidInputError, PermissionDeniedError
from huike.core.pagination import paginate
from huike.customers.forms import add_service_error
from huike.customers.selectors import customer_contacts
from huike.customers.views.common import customers_page, page_limit, wants_fragment
from huike.customers.views.sharing import sharing_context
from huike.sales import leads, web_forms
from huike.sales.access import access_lead, access_web_form
from huike.sales.forms_leads import (
    LeadAssignForm,
    LeadConvertForm,
    LeadCreateForm,
    LeadEditForm,
    LeadFilterForm,
    LeadReleaseForm,
    LeadSettingsForm,
    LeadStatusForm,
    RepClaimLimitsForm,
    WebFormForm,
)
from huike.sales.leads import LeadData, LeadFilters
from huike.sales.models import Lead, LeadSource, LeadStatus, WebForm

TEMPLATES = "sales/leads/"
SCORE_PANEL = "sales/scoring/_lead_score.html"
SCORE_HISTORY_SHOWN = 20


def _template(name: str, request: HttpRequest | None = None, partial: str = "") -> str:
    if partial and request is not None and wants_fragment(request):
        return f"{TEMPLATES}{name}#{partial}"
    return f"{TEMPLATES}{name}"


def _has_score_panel() -> bool:
    """The scoring part's panel, shown on the lead when it is installed."""
    try:
        get_template(SCORE_PANEL)
    except TemplateDoesNotExist:
        return False
    return True


def _rows(actor: Actor, page_items: list[Lead]) -> list[dict[str, Any]]:
    contacts = customer_contacts([lead.customer for lead in page_items])
    return [{"lead": lead, "contacts": contacts[lead.customer_id]} for lead in page_items]


# --- lists -----------------------------------------------------------------------------------
@customers_page
@require_GET
def lead_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("leads.view")
    form = LeadFilterForm(request.GET or None, actor=actor)
    filters = form.to_filters()
    page = paginate(
        leads.lead_list(actor, filters),
        cursor=request.GET.get("cursor"),
        limit=page_limit(request),
        ordering=leads.LEAD_ORDERING,
    )
    return render(
        request,
        _template("lead_list.html", request, "lead_results"),
        {
            "form": form,
            "page": page,
            "rows": _rows(actor, page.items),
            "is_first_page": not request.GET.get("cursor"),
        },
    )


@customers_page
@require_GET
def lead_pool(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("leads.claim")
    page = paginate(
        leads.lead_list(actor, LeadFilters(pool=True, status="open")),
        cursor=request.GET.get("cursor"),
        limit=page_limit(request),
        ordering=leads.POOL_ORDERING,
    )
    held, limit = (
        leads.claim_allowance(actor.membership) if actor.membership is not None else (0, 0)
    )
    return render(
        request,
        _template("lead_pool.html"),
        {
            "page": page,
            "rows": _rows(actor, page.items),
            "held": held,
            "claim_limit": limit,
            "remaining": max(0, limit - held),
            "is_first_page": not request.GET.get("cursor"),
        },
    )


# --- one lead --------------------------------------------------------------------------------
def _detail_context(actor: Actor, lead: Lead, **forms: Any) -> dict[str, Any]:
    membership = actor.membership
    is_owner = membership is not None and lead.owner_id == membership.pk
    can_change = actor.has("leads.manage") and (
        actor.has("leads.assign")
        or is_owner
        or (
            lead.owner_id is not None
            and (actor.has("records.view_all") or actor.has("records.view_team"))
        )
    )
    is_open = lead.status in leads.OPEN_STATUSES
    has_score_panel = _has_score_panel()
    return {
        "lead": lead,
        "contacts": customer_contacts([lead.customer])[lead.customer_id],
        "history": leads.lead_history(lead)[:100],
        "notes": lead.activities.select_related("author__user")[:20],
        "is_owner": is_owner,
        "is_open": is_open,
        "can_change": can_change and lead.status != LeadStatus.CONVERTED,
        "can_claim": lead.owner_id is None and is_open and actor.has("leads.claim"),
        "can_release": is_open
        and lead.owner_id is not None
        and actor.has("leads.manage")
        and (is_owner or actor.has("leads.assign")),
        "can_assign": actor.has("leads.assign") and lead.status != LeadStatus.CONVERTED,
        "can_convert": is_open
        and actor.has("leads.manage")
        and actor.has("deals.manage")
        and (can_change or (lead.owner_id is None and actor.has("leads.claim"))),
        "status_form": forms.get("status_form") or LeadStatusForm(initial={"status": lead.status}),
        "edit_form": forms.get("edit_form")
        or LeadEditForm(initial={name: getattr(lead, name) for name in LeadEditForm.base_fields}),
        "release_form": forms.get("release_form") or LeadReleaseForm(),
        "assign_form": forms.get("assign_form")
        or (
            LeadAssignForm(actor=actor, initial={"owner": lead.owner})
            if actor.has("leads.assign")
            else None
        ),
        "convert_form": forms.get("convert_form")
        or LeadConvertForm(actor=actor, initial={"deal_name": lead.company_name or lead.name}),
        "has_score_panel": has_score_panel,
        "score_changes": lead.score_changes.select_related("rule")[:SCORE_HISTORY_SHOWN]
        if has_score_panel
        else [],
        **sharing_context(actor, lead, "lead"),
    }


@customers_page
@require_GET
def lead_detail(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    lead = access_lead(actor, public_id)
    return render(request, _template("lead_detail.html"), _detail_context(actor, lead))


def _detail_with_error(
    request: HttpRequest, actor: Actor, lead: Lead, **forms: Any
) -> HttpResponse:
    return render(
        request, _template("lead_detail.html"), _detail_context(actor, lead, **forms), status=400
    )


def _done(request: HttpRequest, lead: Lead, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect("sales:lead_detail", lead.public_id)


def _refused(request: HttpRequest, lead: Lead, error: HuikeError) -> HttpResponse:
    if isinstance(error, PermissionDeniedError):
        raise error
    messages.error(request, error.detail)
    return redirect("sales:lead_detail", lead.public_id)


@customers_page
@require_POST
def lead_claim(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    lead = access_lead(actor, public_id)
    back = (
        redirect("sales:lead_pool")
        if request.POST.get("next") == "pool"
        else redirect("sales:lead_detail", lead.public_id)
    )
    try:
        leads.lead_claim(actor=actor, lead=lead)
    except ConflictError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("The lead is yours now."))
    return back


@customers_page
@require_POST
def lead_release(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    lead = access_lead(actor, public_id)
    form = LeadReleaseForm(request.POST)
    if not form.is_valid():
        return _detail_with_error(request, actor, lead, release_form=form)
    try:
        leads.lead_release(actor=actor, lead=lead, reason=form.cleaned_data["reason"])
    except ConflictError as error:
        return _refused(request, lead, error)
    return _done(request, lead, _("The lead is back in the pool."))


@customers_page
@require_POST
def lead_assign(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("leads.assign")
    lead = access_lead(actor, public_id)
    form = LeadAssignForm(request.POST, actor=actor)
    if not form.is_valid():
        return _detail_with_error(request, actor, lead, assign_form=form)
    try:
        leads.lead_assign(
            actor=actor,
            lead=lead,
            owner=form.cleaned_data["owner"],
            reason=form.cleaned_data["reason"],
        )
    except (ConflictError, InvalidInputError) as error:
        return _refused(request, lead, error)
    return _done(request, lead, _("Lead assigned."))


@customers_page
@require_POST
def lead_status(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    lead = access_lead(actor, public_id)
    form = LeadStatusForm(request.POST)
    if form.is_valid():
        try:
            leads.lead_status_set(
                actor=actor,
                lead=lead,
                status=form.cleaned_data["status"],
                reason=form.cleaned_data["reason"],
            )
        except InvalidInputError as error:
            add_service_error(form, error)
        except ConflictError as error:
            return _refused(request, lead, error)
        else:
            return _done(request, lead, _("Status changed."))
    return _detail_with_error(request, actor, lead, status_form=form)


@customers_page
@require_POST
def lead_edit(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    lead = access_lead(actor, public_id)
    form = LeadEditForm(request.POST)
    if form.is_valid():
        try:
            leads.lead_update(actor=actor, lead=lead, values=form.cleaned_data)
        except InvalidInputError as error:
            add_service_error(form, error)
        except ConflictError as error:
            return _refused(request, lead, error)
        else:
            return _done(request, lead, _("Lead saved."))
    return _detail_with_error(request, actor, lead, edit_form=form)


@customers_page
@require_POST
def lead_convert(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("leads.manage")
    lead = access_lead(actor, public_id)
    form = LeadConvertForm(request.POST, actor=actor)
    if form.is_valid():
        data = form.cleaned_data
        try:
            deal = leads.lead_convert(
                actor=actor,
                lead=lead,
                pipeline=data["pipeline"],
                stage=data["stage"],
                deal_name=data["deal_name"],
                amount=data["amount"] or Decimal(0),
                expected_close_date=data["expected_close_date"],
            )
        except InvalidInputError as error:
            add_service_error(form, error)
        except ConflictError as error:
            return _refused(request, lead, error)
        else:
            messages.success(request, _("Converted: the deal is open."))
            try:
                return redirect("sales:deal_detail", deal.public_id)
            except NoReverseMatch:  # the deals pages are another part's; the lead shows it
                return redirect("sales:lead_detail", lead.public_id)
    return _detail_with_error(request, actor, lead, convert_form=form)


@customers_page
@require_POST
def lead_delete(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    lead = access_lead(actor, public_id)
    try:
        leads.lead_delete(actor=actor, lead=lead)
    except ConflictError as error:
        return _refused(request, lead, error)
    messages.success(request, _("Lead deleted."))
    return redirect("sales:lead_list")


# --- entry and import ------------------------------------------------------------------------
@customers_page
@require_http_methods(["GET", "POST"])
def lead_create(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("leads.manage")
    form = LeadCreateForm(request.POST if request.method == "POST" else None, actor=actor)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        owner = data.get("owner")
        if owner is None and data.get("keep"):
            owner = actor.membership
        try:
            lead = leads.lead_capture(
                workspace=actor.workspace,
                source=LeadSource.MANUAL,
                data=LeadData(
                    name=data["name"],
                    phone=data["phone"],
                    email=data["email"],
                    company_name=data["company_name"],
                    job_title=data["job_title"],
                    industry=data["industry"],
                    region=data["region"],
                    company_size=data["company_size"],
                    message=data["message"],
                    owner=owner,
                ),
                actor=actor,
            )
        except (InvalidInputError, ConflictError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Lead saved."))
            return redirect("sales:lead_detail", lead.public_id)
    return render(request, _template("lead_form.html"), {"form": form})


# --- settings --------------------------------------------------------------------------------
def _snippet(request: HttpRequest, form: WebForm) -> str:
    url = request.build_absolute_uri(reverse("sales_public:form_embed", args=[form.public_key]))
    return f'<script src="{url}" async></script>'


def _save_rep_limits(actor: Actor, form: RepClaimLimitsForm) -> bool:
    """Every changed limit, or none: a rep refused (they can no longer hold leads since the
    page was shown) is shown on their field and nothing is saved."""
    try:
        with transaction.atomic():
            for rep, limit in form.changes():
                try:
                    leads.rep_claim_limit_set(
                        actor=actor, membership=rep.membership, claim_limit=limit
                    )
                except InvalidInputError as error:
                    form.add_error(form.field_name(rep), error.detail)
                    raise
    except InvalidInputError:
        return False
    return True


@customers_page
@require_http_methods(["GET", "POST"])
def settings_leads(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("leads.configure")
    current = leads.lead_settings(actor.workspace)
    posted = request.POST if request.method == "POST" else None
    # Two forms on the page: the claim limits per rep post "save_reps", the pool the rest.
    for_reps = posted is not None and "save_reps" in posted
    form = LeadSettingsForm(
        None if for_reps else posted,
        initial={"claim_limit": current.claim_limit, "follow_up_hours": current.follow_up_hours},
    )
    reps_form = RepClaimLimitsForm(
        leads.rep_claims(actor),
        current.claim_limit,
        posted if for_reps else None,
    )
    if form.is_bound and form.is_valid():
        leads.lead_settings_update(actor=actor, **form.cleaned_data)
        messages.success(request, _("Lead pool settings saved."))
        return redirect("sales:settings_leads")
    if reps_form.is_bound and reps_form.is_valid() and _save_rep_limits(actor, reps_form):
        messages.success(request, _("Claim limits saved."))
        return redirect(reverse("sales:settings_leads") + "#rep-limits")
    forms_list = WebForm.objects.filter(workspace=actor.workspace).order_by("name", "pk")
    return render(
        request,
        _template("settings.html"),
        {
            "form": form,
            "reps_form": reps_form,
            "claim_limit": current.claim_limit,
            "web_forms": [(web_form, _snippet(request, web_form)) for web_form in forms_list],
        },
        status=400 if (form.is_bound or reps_form.is_bound) else 200,
    )


def _web_form_page(request: HttpRequest, actor: Actor, web_form: WebForm | None) -> HttpResponse:
    initial: dict[str, Any] = {}
    if web_form is not None:
        data = web_forms.web_form_data(web_form)
        initial = {
            "name": data.name,
            "fields_asked": [entry["name"] for entry in data.fields],
            "fields_required": [entry["name"] for entry in data.fields if entry["required"]],
            "consent_text": data.consent_text,
            "consent_required": data.consent_required,
            "success_message": data.success_message,
            "allowed_origins": "\n".join(data.allowed_origins),
            "owner": data.owner,
            "is_active": data.is_active,
        }
    form = WebFormForm(
        request.POST if request.method == "POST" else None, actor=actor, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        values = web_forms.WebFormData(
            name=form.cleaned_data["name"],
            fields=form.asked_fields(),
            success_message=form.cleaned_data["success_message"],
            allowed_origins=form.origins(),
            owner=form.cleaned_data["owner"],
            is_active=form.cleaned_data["is_active"],
            consent_text=form.cleaned_data["consent_text"],
            consent_required=form.cleaned_data["consent_required"],
        )
        try:
            if web_form is None:
                web_form = web_forms.web_form_create(actor=actor, data=values)
            else:
                web_forms.web_form_update(actor=actor, form=web_form, data=values)
        except InvalidInputError as error:
            if error.field == "fields":
                error.field = "fields_asked"
            add_service_error(form, error)
        else:
            messages.success(request, _("Web form saved."))
            return redirect("sales:settings_web_form", web_form.public_id)
    return render(
        request,
        _template("web_form.html"),
        {
            "form": form,
            "web_form": web_form,
            "snippet": _snippet(request, web_form) if web_form is not None else "",
        },
    )


@customers_page
@require_http_methods(["GET", "POST"])
def settings_web_form_create(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("leads.configure")
    return _web_form_page(request, actor, None)


@customers_page
@require_http_methods(["GET", "POST"])
def settings_web_form(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    return _web_form_page(request, actor, access_web_form(actor, public_id))


@customers_page
@require_POST
def settings_web_form_delete(
    request: HttpRequest, actor: Actor, public_id: uuid.UUID
) -> HttpResponse:
    web_forms.web_form_delete(actor=actor, form=access_web_form(actor, public_id))
    messages.success(request, _("Web form deleted."))
    return redirect("sales:settings_leads")
