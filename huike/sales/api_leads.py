"""The leads API: leads (list, capture, read, change, delete), the pool (claim, release,
assign), conversion into a deal, a lead's history, web forms and the pool settings.

Thin over huike.sales.leads and huike.sales.web_forms; every object comes through
huike.sales.access, so another workspace's ids are 404s. Phone and email go out masked (as
in the customers API); `?reveal=true` on one lead shows them to roles with pii.reveal and
audits each revealed field.
"""

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from ninja import Query, Router, Status

from huike.accounts.access import Actor, lookup_membership
from huike.accounts.api_gateway import request_actor
from huike.accounts.client_ip import client_ip_address
from huike.accounts.models import Membership
from huike.accounts.pii import pii_reveal
from huike.core.errors import InvalidInputError, NotFoundError
from huike.core.pagination import Page, PageOut, PageQuery, paginate
from huike.customers.selectors import customer_contacts
from huike.sales import leads, web_forms
from huike.sales.access import access_lead, access_pipeline, access_stage, access_web_form
from huike.sales.api_schemas_leads import (
    AssignIn,
    ConvertIn,
    ConvertOut,
    HistoryOut,
    LeadIn,
    LeadOut,
    LeadPatchIn,
    LeadQuery,
    LeadSettingsIn,
    LeadSettingsOut,
    ReleaseIn,
    RepClaimIn,
    RepClaimOut,
    RevealQuery,
    WebFormIn,
    WebFormOut,
    WebFormPatchIn,
)
from huike.sales.leads import LeadData, LeadFilters, SourceDetail
from huike.sales.models import Lead, LeadHistory, LeadSource, WebForm

router = Router(tags=["Leads"])
HISTORY_ORDERING = ("-created_at", "-id")


def _referenced[T](find: Callable[[], T], field: str) -> T:
    """An object named in a request body: unknown ids are a bad field (422), not a 404."""
    try:
        return find()
    except NotFoundError as error:
        raise InvalidInputError(error.detail, field=field) from None


def _member(actor: Actor, member_id: uuid.UUID, field: str) -> Membership:
    return _referenced(lambda: lookup_membership(actor.workspace, member_id), field)


# --- building the JSON -----------------------------------------------------------------------
def _lead_out(lead: Lead, *, phone: str | None, email: str | None) -> dict[str, Any]:
    return {
        "id": lead.public_id,
        "status": lead.status,
        "unqualified_reason": lead.unqualified_reason,
        "source": lead.source,
        "source_detail": lead.source_detail,
        "name": lead.name,
        "phone": phone,
        "email": email,
        "company_name": lead.company_name,
        "job_title": lead.job_title,
        "industry": lead.industry,
        "region": lead.region,
        "company_size": lead.company_size,
        "language": lead.language,
        "custom_fields": lead.custom_fields,
        "score": lead.score,
        "score_band": lead.score_band,
        "predicted_score": lead.predicted_score,
        "customer": lead.customer,
        "company": lead.company,
        "owner": lead.owner,
        "team": lead.team,
        "in_pool": lead.owner_id is None,
        "assigned_at": lead.assigned_at,
        "first_contact_due_at": lead.first_contact_due_at,
        "first_contacted_at": lead.first_contacted_at,
        "last_activity_at": lead.last_activity_at,
        "returned_to_pool_count": lead.returned_to_pool_count,
        "deal_id": lead.deal.public_id if lead.deal_id and lead.deal else None,
        "converted_at": lead.converted_at,
        "created_at": lead.created_at,
        "updated_at": lead.updated_at,
    }


def _leads_out(items: Sequence[Lead]) -> list[dict[str, Any]]:
    """A page of leads: one query for the contacts of all their customers, masked."""
    contacts = customer_contacts([lead.customer for lead in items])
    return [
        _lead_out(
            lead, phone=contacts[lead.customer_id].phone, email=contacts[lead.customer_id].email
        )
        for lead in items
    ]


def _loaded(actor: Actor, public_id: uuid.UUID) -> Lead:
    found = access_lead(actor, public_id)
    lead: Lead = Lead.objects.select_related(
        "customer", "company", "owner__user", "team", "deal"
    ).get(pk=found.pk)
    return lead


def _one(actor: Actor, public_id: uuid.UUID) -> dict[str, Any]:
    return _leads_out([_loaded(actor, public_id)])[0]


# --- leads -----------------------------------------------------------------------------------
@router.get("/leads", response=PageOut[LeadOut], summary="List leads")
def lead_list(
    request: HttpRequest, page: Query[PageQuery], query: Query[LeadQuery]
) -> dict[str, Any]:
    """Leads the caller may see (own, team subtree, all, per role; the pool for roles that
    may claim), newest first; `pool=true` lists the pool best score first."""
    actor = request_actor(request)
    filters = LeadFilters(
        status=query.status,
        owner=query.owner,
        pool=query.pool,
        source=query.source,
        score_min=query.score_min,
        score_max=query.score_max,
        band=query.band,
        q=query.q,
    )
    found = paginate(
        leads.lead_list(actor, filters).select_related("company", "deal"),
        cursor=page.cursor,
        limit=page.limit,
        ordering=leads.POOL_ORDERING if query.pool else leads.LEAD_ORDERING,
    )
    return {"items": _leads_out(found.items), "next": found.next}


@router.post("/leads", response={201: LeadOut}, summary="Capture a lead")
def lead_create(request: HttpRequest, payload: LeadIn) -> Status[dict[str, Any]]:
    """The phone, email and identities find the customer (or make a new one); a customer who
    already has an open lead gets that lead back, the repeat recorded in its history."""
    actor = request_actor(request)
    actor.require("leads.manage")
    owner = None
    if payload.owner_id is not None:
        owner = _member(actor, payload.owner_id, "owner_id")
        if owner != actor.membership:
            actor.require("leads.assign")
    lead = leads.lead_capture(
        workspace=actor.workspace,
        source=LeadSource.API,
        data=LeadData(
            name=payload.name,
            phone=payload.phone,
            email=payload.email,
            identities=tuple((item.kind, item.value) for item in payload.identities),
            company_name=payload.company_name,
            job_title=payload.job_title,
            industry=payload.industry,
            region=payload.region,
            company_size=payload.company_size,
            language=payload.language,
            custom_fields=payload.custom_fields,
            source_detail=SourceDetail.from_mapping(payload.source_detail),
            owner=owner,
            message=payload.note,
        ),
        actor=actor,
    )
    found = Lead.objects.select_related("customer", "company", "owner__user", "team", "deal")
    return Status(201, _leads_out([found.get(pk=lead.pk)])[0])


@router.get("/leads/{lead_id}", response=LeadOut, summary="Get one lead")
def lead_detail(
    request: HttpRequest, lead_id: uuid.UUID, query: Query[RevealQuery]
) -> dict[str, Any]:
    actor = request_actor(request)
    lead = _loaded(actor, lead_id)
    if not query.reveal:
        return _leads_out([lead])[0]
    actor.require("pii.reveal")
    contacts = customer_contacts([lead.customer], reveal=True)[lead.customer_id]
    address = client_ip_address(request)
    shown = {
        name: pii_reveal(
            actor=actor,
            record_type="customer",
            record_id=str(lead.customer.public_id),
            field=name,
            value=value,
            ip_address=address,
        )
        if value
        else None
        for name, value in (("phone", contacts.phone), ("email", contacts.email))
    }
    return _lead_out(lead, phone=shown["phone"], email=shown["email"])


@router.patch("/leads/{lead_id}", response=LeadOut, summary="Change a lead")
def lead_update(request: HttpRequest, lead_id: uuid.UUID, payload: LeadPatchIn) -> dict[str, Any]:
    """Fields sent are changed; `status` moves it (unqualified needs `unqualified_reason`;
    conversion is POST /leads/{id}/convert)."""
    actor = request_actor(request)
    lead = access_lead(actor, lead_id)
    sent = payload.model_dump(exclude_unset=True)
    status = sent.pop("status", None)
    reason = sent.pop("unqualified_reason", "")
    values = {name: value for name, value in sent.items() if value is not None}
    if values:
        lead = leads.lead_update(actor=actor, lead=lead, values=values)
    if status is not None:
        leads.lead_status_set(actor=actor, lead=lead, status=status, reason=reason)
    if not values and status is None:
        leads.lead_update(actor=actor, lead=lead, values={})  # checks the right to change it
    return _one(actor, lead_id)


@router.delete("/leads/{lead_id}", response={204: None}, summary="Delete a lead")
def lead_delete(request: HttpRequest, lead_id: uuid.UUID) -> Status[None]:
    actor = request_actor(request)
    leads.lead_delete(actor=actor, lead=access_lead(actor, lead_id))
    return Status(204, None)


@router.post("/leads/{lead_id}/claim", response=LeadOut, summary="Claim a lead from the pool")
def lead_claim(request: HttpRequest, lead_id: uuid.UUID) -> dict[str, Any]:
    """The calling member takes it: 409 when someone else claimed it first or the member holds
    their claim limit of open leads (their own, else the pool's)."""
    actor = request_actor(request)
    leads.lead_claim(actor=actor, lead=access_lead(actor, lead_id))
    return _one(actor, lead_id)


@router.post("/leads/{lead_id}/release", response=LeadOut, summary="Release a lead to the pool")
def lead_release(request: HttpRequest, lead_id: uuid.UUID, payload: ReleaseIn) -> dict[str, Any]:
    actor = request_actor(request)
    leads.lead_release(actor=actor, lead=access_lead(actor, lead_id), reason=payload.reason)
    return _one(actor, lead_id)


@router.post("/leads/{lead_id}/assign", response=LeadOut, summary="Assign a lead by hand")
def lead_assign(request: HttpRequest, lead_id: uuid.UUID, payload: AssignIn) -> dict[str, Any]:
    actor = request_actor(request)
    actor.require("leads.assign")
    lead = access_lead(actor, lead_id)
    owner = _member(actor, payload.owner_id, "owner_id") if payload.owner_id else None
    leads.lead_assign(actor=actor, lead=lead, owner=owner, reason=payload.reason)
    return _one(actor, lead_id)


@router.post("/leads/{lead_id}/convert", response=ConvertOut, summary="Convert a lead to a deal")
def lead_convert(request: HttpRequest, lead_id: uuid.UUID, payload: ConvertIn) -> dict[str, Any]:
    """Links or creates the company, opens a deal for the lead's customer in the pipeline
    (at `stage_id`, or its first open stage) and marks the lead converted; 409 the second
    time."""
    actor = request_actor(request)
    actor.require("leads.manage")
    lead = access_lead(actor, lead_id)
    pipeline = _referenced(lambda: access_pipeline(actor, payload.pipeline_id), "pipeline_id")
    stage_id = payload.stage_id
    stage = _referenced(lambda: access_stage(actor, stage_id), "stage_id") if stage_id else None
    deal = leads.lead_convert(
        actor=actor,
        lead=lead,
        pipeline=pipeline,
        stage=stage,
        deal_name=payload.deal_name,
        amount=payload.amount,
        currency=payload.currency,
        expected_close_date=payload.expected_close_date,
    )
    return {"deal_id": deal.public_id, "lead_id": lead.public_id}


@router.get("/leads/{lead_id}/history", response=PageOut[HistoryOut], summary="A lead's history")
def lead_history(
    request: HttpRequest, lead_id: uuid.UUID, page: Query[PageQuery]
) -> Page[LeadHistory]:
    """Captures (and repeats), claims, releases, assignments, returns to the pool, status
    changes, qualification and conversion, newest first."""
    actor = request_actor(request)
    lead = access_lead(actor, lead_id)
    return paginate(
        leads.lead_history(lead), cursor=page.cursor, limit=page.limit, ordering=HISTORY_ORDERING
    )


# --- web forms -------------------------------------------------------------------------------
def _web_form_out(request: HttpRequest, form: WebForm) -> dict[str, Any]:
    data = web_forms.web_form_data(form)
    url = request.build_absolute_uri(reverse("sales_public:form_embed", args=[form.public_key]))
    return {
        "id": form.public_id,
        "public_key": form.public_key,
        "name": form.name,
        "fields": list(data.fields),
        "consent_text": data.consent_text,
        "consent_required": data.consent_required,
        "success_message": form.success_message,
        "allowed_origins": list(form.allowed_origins),
        "owner": form.owner,
        "is_active": form.is_active,
        "submission_count": form.submission_count,
        "embed_snippet": f'<script src="{url}" async></script>',
        "created_at": form.created_at,
        "updated_at": form.updated_at,
    }


def _web_form_data(actor: Actor, payload: WebFormIn | WebFormPatchIn, base: Any) -> Any:
    sent = payload.model_dump(exclude_unset=True)
    if "owner_id" in sent:
        owner_id = sent.pop("owner_id")
        base.owner = _member(actor, owner_id, "owner_id") if owner_id else None
    for name, value in sent.items():
        if value is not None:
            setattr(base, name, value)
    return base


@router.get("/web-forms", response=PageOut[WebFormOut], summary="List web forms")
def web_form_list(request: HttpRequest, page: Query[PageQuery]) -> dict[str, Any]:
    actor = request_actor(request)
    actor.require("leads.configure")
    found = paginate(
        WebForm.objects.filter(workspace=actor.workspace).select_related("owner__user"),
        cursor=page.cursor,
        limit=page.limit,
    )
    return {"items": [_web_form_out(request, form) for form in found.items], "next": found.next}


@router.post("/web-forms", response={201: WebFormOut}, summary="Create a web form")
def web_form_create(request: HttpRequest, payload: WebFormIn) -> Status[dict[str, Any]]:
    actor = request_actor(request)
    actor.require("leads.configure")
    data = _web_form_data(actor, payload, web_forms.WebFormData(name=payload.name))
    form = web_forms.web_form_create(actor=actor, data=data)
    return Status(201, _web_form_out(request, form))


@router.get("/web-forms/{form_id}", response=WebFormOut, summary="Get one web form")
def web_form_detail(request: HttpRequest, form_id: uuid.UUID) -> dict[str, Any]:
    actor = request_actor(request)
    return _web_form_out(request, access_web_form(actor, form_id))


@router.patch("/web-forms/{form_id}", response=WebFormOut, summary="Change a web form")
def web_form_update(
    request: HttpRequest, form_id: uuid.UUID, payload: WebFormPatchIn
) -> dict[str, Any]:
    actor = request_actor(request)
    form = access_web_form(actor, form_id)
    data = _web_form_data(actor, payload, web_forms.web_form_data(form))
    return _web_form_out(request, web_forms.web_form_update(actor=actor, form=form, data=data))


@router.delete("/web-forms/{form_id}", response={204: None}, summary="Delete a web form")
def web_form_delete(request: HttpRequest, form_id: uuid.UUID) -> Status[None]:
    actor = request_actor(request)
    web_forms.web_form_delete(actor=actor, form=access_web_form(actor, form_id))
    return Status(204, None)


# --- settings --------------------------------------------------------------------------------
@router.get("/lead-settings", response=LeadSettingsOut, summary="The lead pool settings")
def lead_settings_detail(request: HttpRequest) -> Any:
    actor = request_actor(request)
    actor.require_any("leads.view", "leads.configure")
    return leads.lead_settings(actor.workspace)


@router.patch("/lead-settings", response=LeadSettingsOut, summary="Change the pool settings")
def lead_settings_update(request: HttpRequest, payload: LeadSettingsIn) -> Any:
    actor = request_actor(request)
    return leads.lead_settings_update(
        actor=actor, claim_limit=payload.claim_limit, follow_up_hours=payload.follow_up_hours
    )


def _rep_claim_out(rep: leads.RepClaim) -> dict[str, Any]:
    return {
        "member": rep.membership,
        "open_leads": rep.held,
        "own_limit": rep.own_limit,
        "claim_limit": rep.limit,
    }


@router.get(
    "/lead-settings/rep-limits",
    response=list[RepClaimOut],
    summary="Every rep who can hold leads, with the open leads held and their claim limit",
)
def rep_claim_list(request: HttpRequest) -> Any:
    return [_rep_claim_out(rep) for rep in leads.rep_claims(request_actor(request))]


@router.patch(
    "/lead-settings/rep-limits/{member_id}",
    response=RepClaimOut,
    summary="Set a rep's own claim limit (null: the pool's)",
)
def rep_claim_set(request: HttpRequest, member_id: uuid.UUID, payload: RepClaimIn) -> Any:
    actor = request_actor(request)
    actor.require("leads.configure")
    membership = lookup_membership(actor.workspace, member_id)
    leads.rep_claim_limit_set(actor=actor, membership=membership, claim_limit=payload.claim_limit)
    held, limit = leads.claim_allowance(membership)
    return _rep_claim_out(
        leads.RepClaim(membership=membership, held=held, own_limit=payload.claim_limit, limit=limit)
    )
