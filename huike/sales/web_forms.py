"""Embeddable lead-capture forms: their configuration (permission leads.configure) and what a
visitor's submission does (a lead through huike.sales.leads.lead_capture, the form.submitted
event on the customer's timeline, consent when the visitor ticked it).

A form's `fields` is its ordered list of asked fields, `[{"name": "email", "required": true}]`,
chosen from FORM_FIELDS; a consent checkbox is the entry `{"name": "consent", "required": …,
"text": "…"}` (its wording is the form's, in the form owner's words). Spam protection (honeypot,
minimum fill time, per-IP rate) is the HTTP layer's, huike.sales.views_public.
"""

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import F
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.core.crypto import workspace_keys
from huike.core.errors import InvalidInputError
from huike.core.normalize import normalize_identity
from huike.customers.events import event_record
from huike.customers.identities import identities_find, workspace_rules
from huike.customers.models import ConsentPurpose, ConsentRecord
from huike.customers.services import consent_record
from huike.sales.leads import LeadData, SourceDetail, lead_capture, lead_identity_keys
from huike.sales.models import Lead, LeadSource, WebForm

# The fields a form may ask for, in the order the settings page offers them, with their label.
FORM_FIELDS: dict[str, Promise] = {
    "name": gettext_lazy("Name"),
    "phone": gettext_lazy("Phone"),
    "email": gettext_lazy("Email"),
    "company_name": gettext_lazy("Company"),
    "job_title": gettext_lazy("Job title"),
    "industry": gettext_lazy("Industry"),
    "region": gettext_lazy("Region"),
    "message": gettext_lazy("Message"),
}
CONSENT = "consent"
CONTACT_FIELDS = ("phone", "email")
# Lengths a visitor may type; longer is refused naming the field, not cut silently.
VALUE_LIMITS = {
    "name": 200,
    "phone": 40,
    "email": 254,
    "company_name": 200,
    "job_title": 100,
    "industry": 100,
    "region": 100,
    "message": 5_000,
}
CONSENT_TEXT_MAX_LENGTH = 500
MAX_ORIGINS = 20
# 18 random bytes: 24 URL-safe characters, unguessable, short enough for a snippet.
PUBLIC_KEY_BYTES = 18
DEFAULT_FIELDS = [
    {"name": "name", "required": True},
    {"name": "phone", "required": False},
    {"name": "email", "required": False},
    {"name": "company_name", "required": False},
    {"name": "message", "required": False},
]


@dataclass
class WebFormData:
    name: str
    fields: Sequence[Mapping[str, Any]] = field(default_factory=lambda: list(DEFAULT_FIELDS))
    success_message: str = ""
    allowed_origins: Sequence[str] = ()
    owner: Membership | None = None
    is_active: bool = True
    consent_text: str = ""
    consent_required: bool = False


class SubmissionInvalid(InvalidInputError):
    """The visitor's input, field by field: {"email": "Enter a valid email address.", ...}."""

    def __init__(self, errors: dict[str, str]) -> None:
        first = next(iter(errors))
        super().__init__(errors[first], field=first)
        self.errors = errors


def form_fields(form: WebForm) -> list[dict[str, Any]]:
    """The asked fields without the consent entry."""
    return [entry for entry in form.fields if entry.get("name") in FORM_FIELDS]


def form_consent(form: WebForm) -> dict[str, Any] | None:
    for entry in form.fields:
        if entry.get("name") == CONSENT:
            return dict(entry)
    return None


def _clean_fields(raw: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in raw:
        name = str(entry.get("name", ""))
        if name not in FORM_FIELDS:
            raise InvalidInputError(
                _("Choose fields from: %(choices)s.") % {"choices": ", ".join(FORM_FIELDS)},
                field="fields",
            )
        if name in seen:
            continue
        seen.add(name)
        cleaned.append({"name": name, "required": bool(entry.get("required", False))})
    if not seen & set(CONTACT_FIELDS):
        raise InvalidInputError(
            _("Ask for a phone number or an email address, or leads cannot be reached."),
            field="fields",
        )
    return cleaned


def _clean_origin(value: str) -> str:
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
        raise InvalidInputError(
            _("An origin is a scheme and host, like https://www.example.com."),
            field="allowed_origins",
        )
    return f"{parts.scheme}://{parts.netloc}".lower()


def _apply(actor: Actor, form: WebForm, data: WebFormData) -> None:
    name = data.name.strip()
    if not name or len(name) > 100:
        raise InvalidInputError(_("Give the form a name of at most 100 characters."), field="name")
    if len(data.success_message) > 300:
        raise InvalidInputError(
            _("At most %(max)d characters.") % {"max": 300}, field="success_message"
        )
    if len(data.allowed_origins) > MAX_ORIGINS:
        raise InvalidInputError(
            _("At most %(max)d origins.") % {"max": MAX_ORIGINS}, field="allowed_origins"
        )
    if data.owner is not None and (
        data.owner.workspace_id != actor.workspace.pk or not data.owner.is_active
    ):
        raise InvalidInputError(_("Not an active member of this workspace."), field="owner")
    consent_text = data.consent_text.strip()
    if len(consent_text) > CONSENT_TEXT_MAX_LENGTH:
        raise InvalidInputError(
            _("At most %(max)d characters.") % {"max": CONSENT_TEXT_MAX_LENGTH},
            field="consent_text",
        )
    fields_list = _clean_fields(data.fields)
    if consent_text:
        fields_list.append(
            {"name": CONSENT, "required": data.consent_required, "text": consent_text}
        )
    form.name = name
    form.fields = fields_list
    form.success_message = data.success_message.strip()
    form.allowed_origins = sorted(
        {_clean_origin(origin) for origin in data.allowed_origins if origin.strip()}
    )
    form.owner = data.owner
    form.is_active = data.is_active


def web_form_create(*, actor: Actor, data: WebFormData) -> WebForm:
    actor.require("leads.configure")
    form = WebForm(workspace=actor.workspace, public_key=secrets.token_urlsafe(PUBLIC_KEY_BYTES))
    _apply(actor, form, data)
    form.save(force_insert=True)
    return form


def web_form_update(*, actor: Actor, form: WebForm, data: WebFormData) -> WebForm:
    actor.require("leads.configure")
    _apply(actor, form, data)
    form.save()
    return form


def web_form_delete(*, actor: Actor, form: WebForm) -> None:
    """Delete a form; its leads stay (their source names the form)."""
    actor.require("leads.configure")
    form.delete()


def web_form_data(form: WebForm) -> WebFormData:
    """The form as WebFormData (what an edit starts from)."""
    consent = form_consent(form) or {}
    return WebFormData(
        name=form.name,
        fields=form_fields(form),
        success_message=form.success_message,
        allowed_origins=list(form.allowed_origins),
        owner=form.owner,
        is_active=form.is_active,
        consent_text=str(consent.get("text", "")),
        consent_required=bool(consent.get("required", False)),
    )


def web_form_for_key(public_key: str) -> WebForm | None:
    """The active form with this key (the public endpoints' only lookup)."""
    if not public_key or len(public_key) > 40:
        return None
    found: WebForm | None = (
        WebForm.objects.select_related("workspace", "owner")
        .filter(public_key=public_key, is_active=True)
        .first()
    )
    return found


def origin_allowed(form: WebForm, origin: str) -> bool:
    return not form.allowed_origins or origin.rstrip("/").lower() in form.allowed_origins


def _submitted_values(form: WebForm, values: Mapping[str, Any]) -> tuple[dict[str, str], bool]:
    """The visitor's values of the asked fields and whether they consented; SubmissionInvalid
    with every field's error at once."""
    errors: dict[str, str] = {}
    cleaned: dict[str, str] = {}
    region = workspace_rules(form.workspace_id).default_region
    for entry in form_fields(form):
        name = entry["name"]
        value = str(values.get(name) or "").strip()
        if not value:
            if entry.get("required"):
                errors[name] = _("This field is required.")
            continue
        if len(value) > VALUE_LIMITS[name]:
            errors[name] = _("At most %(max)d characters.") % {"max": VALUE_LIMITS[name]}
            continue
        if name in CONTACT_FIELDS:
            try:
                normalize_identity(name, value, region)
            except InvalidInputError:
                errors[name] = (
                    _("Enter a valid phone number.")
                    if name == "phone"
                    else _("Enter a valid email address.")
                )
                continue
        cleaned[name] = value
    if not errors and not any(cleaned.get(name) for name in CONTACT_FIELDS):
        asked = [entry["name"] for entry in form_fields(form) if entry["name"] in CONTACT_FIELDS]
        for name in asked:
            errors[name] = _("Leave a phone number or an email address.")
    consent = form_consent(form)
    consented = bool(consent) and str(values.get(CONSENT) or "").lower() in (
        "1",
        "true",
        "on",
        "yes",
    )
    if consent and consent.get("required") and not consented:
        errors[CONSENT] = _("Please agree to continue.")
    if errors:
        raise SubmissionInvalid(errors)
    return cleaned, consented


def web_form_submit(
    *,
    form: WebForm,
    values: Mapping[str, Any],
    source_detail: SourceDetail,
    language: str = "",
) -> Lead:
    """A visitor's submission: the lead (or the person's open lead, the repeat recorded), the
    form.submitted event and, when ticked, the marketing consent with the form's wording as
    evidence — one transaction. Raises SubmissionInvalid naming every bad field."""
    cleaned, consented = _submitted_values(form, values)
    detail = SourceDetail(
        **{
            **source_detail.as_json(),
            "form_id": str(form.public_id),
            "form_name": form.name,
        }
    )
    data = LeadData(
        name=cleaned.get("name", ""),
        phone=cleaned.get("phone", ""),
        email=cleaned.get("email", ""),
        company_name=cleaned.get("company_name", ""),
        job_title=cleaned.get("job_title", ""),
        industry=cleaned.get("industry", ""),
        region=cleaned.get("region", ""),
        language=language,
        message=cleaned.get("message", ""),
        source_detail=detail,
        owner=form.owner if form.owner is not None and form.owner.is_active else None,
    )
    with transaction.atomic():
        # Anyone can type a known customer's phone: a submission naming someone we know is a
        # lead on them (lead_capture does not hand them the other keys it names, nor merge),
        # but it cannot speak for them, so their consent is not recorded from it.
        known = bool(
            identities_find(
                keys=workspace_keys(form.workspace_id),
                identity_keys=lead_identity_keys(form.workspace_id, data),
            )
        )
        lead = lead_capture(workspace=form.workspace, source=LeadSource.WEB_FORM, data=data)
        event_record(
            customer=lead.customer,
            kind="form.submitted",
            properties={
                "form": form.name,
                "form_id": str(form.public_id),
                "lead": str(lead.public_id),
                "fields": sorted(cleaned),
                **source_detail.as_json(),
                **({"consent_unconfirmed": True} if consented and known else {}),
            },
            source="web_form",
        )
        if consented and not known:
            consent = form_consent(form) or {}
            consent_record(
                actor=None,
                customer=lead.customer,
                purpose=ConsentPurpose.MARKETING,
                status=ConsentRecord.Status.GRANTED,
                source=f"web_form:{form.public_id}",
                evidence=f"{consent.get('text', '')}\n{source_detail.landing_page}".strip(),
            )
        WebForm.objects.filter(pk=form.pk).update(submission_count=F("submission_count") + 1)
    return lead
