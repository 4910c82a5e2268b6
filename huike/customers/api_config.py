"""API endpoints of what configures the customers part: companies, tags and tag groups, custom
fields and the identity rules (customer settings). Thin, as huike.customers.api."""

import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from huike.accounts.access import Actor, lookup_membership, lookup_team
from huike.accounts.api_gateway import request_actor
from huike.core.errors import InvalidInputError, NotFoundError
from huike.core.pagination import Page, PageOut, PageQuery, paginate
from huike.customers import services
from huike.customers.access import (
    access_company,
    access_custom_field,
    access_tag,
    access_tag_group,
)
from huike.customers.api_schemas import (
    CompanyIn,
    CompanyOut,
    CompanyPatchIn,
    CompanyQuery,
    CustomerSettingsIn,
    CustomerSettingsOut,
    CustomFieldIn,
    CustomFieldOut,
    CustomFieldPatchIn,
    TagGroupIn,
    TagGroupOut,
    TagGroupPatchIn,
    TagIn,
    TagOut,
    TagPatchIn,
    TagQuery,
)
from huike.customers.models import Company, CustomerSettings, CustomField, Tag, TagGroup
from huike.customers.services import UNSET

router = Router()


def _referenced[T](find: Callable[[], T], field: str) -> T:
    """An object named in a request body: unknown ids are a bad field (422), not a 404."""
    try:
        return find()
    except NotFoundError as error:
        raise InvalidInputError(error.detail, field=field) from None


# --- companies ------------------------------------------------------------------------------
def _company_data(actor: Actor, payload: CompanyPatchIn) -> dict[str, Any]:
    sent = payload.model_fields_set
    data: dict[str, Any] = {
        name: getattr(payload, name) or "" for name in services.COMPANY_FIELDS if name in sent
    }
    if "owner_id" in sent:
        owner_id = payload.owner_id
        data["owner"] = (
            _referenced(lambda: lookup_membership(actor.workspace, owner_id), "owner_id")
            if owner_id
            else None
        )
    if "team_id" in sent:
        team_id = payload.team_id
        data["team"] = (
            _referenced(lambda: lookup_team(actor.workspace, team_id), "team_id")
            if team_id
            else None
        )
    return data


def _company_out(actor: Actor, company: Company) -> Company:
    # Reload with what CompanyOut shows (owner and its user, team) in one query.
    found: Company = (
        Company.objects.filter(workspace=actor.workspace)
        .select_related("owner__user", "team")
        .get(pk=company.pk)
    )
    return found


@router.get(
    "/companies", response=PageOut[CompanyOut], tags=["Companies"], summary="List companies"
)
def company_list(
    request: HttpRequest, page: Query[PageQuery], query: Query[CompanyQuery]
) -> Page[Company]:
    """Companies the caller may see (record rules as for customers), oldest first."""
    actor = request_actor(request)
    actor.require("customers.view")
    companies = Company.objects.visible_to(actor).select_related("owner__user", "team")
    text = query.q.strip()
    if text:
        companies = companies.filter(name__icontains=text) | companies.filter(
            domain__icontains=text
        )
    return paginate(companies, cursor=page.cursor, limit=page.limit)


@router.post(
    "/companies", response={201: CompanyOut}, tags=["Companies"], summary="Create a company"
)
def company_create(request: HttpRequest, payload: CompanyIn) -> Status[Company]:
    actor = request_actor(request)
    actor.require("customers.manage")
    company = services.company_create(actor=actor, data=_company_data(actor, payload))
    return Status(201, _company_out(actor, company))


@router.get(
    "/companies/{company_id}", response=CompanyOut, tags=["Companies"], summary="Get a company"
)
def company_detail(request: HttpRequest, company_id: uuid.UUID) -> Company:
    actor = request_actor(request)
    return _company_out(actor, access_company(actor, company_id))


@router.patch(
    "/companies/{company_id}",
    response=CompanyOut,
    tags=["Companies"],
    summary="Change a company",
)
def company_update(request: HttpRequest, company_id: uuid.UUID, payload: CompanyPatchIn) -> Company:
    actor = request_actor(request)
    actor.require("customers.manage")
    company = access_company(actor, company_id)
    if "name" in payload.model_fields_set and payload.name is None:
        raise InvalidInputError(_("A company needs a name."), field="name")
    services.company_update(actor=actor, company=company, data=_company_data(actor, payload))
    return _company_out(actor, company)


@router.delete(
    "/companies/{company_id}",
    response={204: None},
    tags=["Companies"],
    summary="Delete a company",
)
def company_delete(request: HttpRequest, company_id: uuid.UUID) -> Status[None]:
    """Delete a company (customers.delete); its customers stay, without a company."""
    actor = request_actor(request)
    actor.require("customers.delete")
    services.company_delete(actor=actor, company=access_company(actor, company_id))
    return Status(204, None)


# --- tags and tag groups --------------------------------------------------------------------
@router.get("/tags", response=PageOut[TagOut], tags=["Tags"], summary="List tags")
def tag_list(request: HttpRequest, page: Query[PageQuery], query: Query[TagQuery]) -> Page[Tag]:
    """The workspace's tags by name; `?group=` for one group's."""
    actor = request_actor(request)
    actor.require("customers.view")
    tags = Tag.objects.filter(workspace=actor.workspace).select_related("group")
    if query.group is not None:
        tags = tags.filter(group__public_id=query.group)
    return paginate(tags, cursor=page.cursor, limit=page.limit, ordering=("name", "id"))


@router.post("/tags", response={201: TagOut}, tags=["Tags"], summary="Create a tag")
def tag_create(request: HttpRequest, payload: TagIn) -> Status[Tag]:
    actor = request_actor(request)
    actor.require("customers.configure")
    group_id = payload.group_id
    group = _referenced(lambda: access_tag_group(actor, group_id), "group_id") if group_id else None
    tag = services.tag_create(actor=actor, name=payload.name, color=payload.color, group=group)
    return Status(201, tag)


@router.get("/tags/{tag_id}", response=TagOut, tags=["Tags"], summary="Get a tag")
def tag_detail(request: HttpRequest, tag_id: uuid.UUID) -> Tag:
    return access_tag(request_actor(request), tag_id)


@router.patch("/tags/{tag_id}", response=TagOut, tags=["Tags"], summary="Change a tag")
def tag_update(request: HttpRequest, tag_id: uuid.UUID, payload: TagPatchIn) -> Tag:
    """Rename, recolour, or move to another group (null: no group)."""
    actor = request_actor(request)
    actor.require("customers.configure")
    tag = access_tag(actor, tag_id)
    group: Any = UNSET
    if "group_id" in payload.model_fields_set:
        group_id = payload.group_id
        group = (
            _referenced(lambda: access_tag_group(actor, group_id), "group_id") if group_id else None
        )
    return services.tag_update(
        actor=actor, tag=tag, name=payload.name, color=payload.color, group=group
    )


@router.delete("/tags/{tag_id}", response={204: None}, tags=["Tags"], summary="Delete a tag")
def tag_delete(request: HttpRequest, tag_id: uuid.UUID) -> Status[None]:
    """Delete a tag; the customers carrying it lose it."""
    actor = request_actor(request)
    actor.require("customers.configure")
    services.tag_delete(actor=actor, tag=access_tag(actor, tag_id))
    return Status(204, None)


@router.get("/tag-groups", response=PageOut[TagGroupOut], tags=["Tags"], summary="List tag groups")
def tag_group_list(request: HttpRequest, page: Query[PageQuery]) -> Page[TagGroup]:
    actor = request_actor(request)
    actor.require("customers.view")
    groups = TagGroup.objects.filter(workspace=actor.workspace)
    return paginate(groups, cursor=page.cursor, limit=page.limit, ordering=("name", "id"))


@router.post(
    "/tag-groups", response={201: TagGroupOut}, tags=["Tags"], summary="Create a tag group"
)
def tag_group_create(request: HttpRequest, payload: TagGroupIn) -> Status[TagGroup]:
    actor = request_actor(request)
    actor.require("customers.configure")
    group = services.tag_group_create(actor=actor, name=payload.name, color=payload.color)
    return Status(201, group)


@router.patch(
    "/tag-groups/{group_id}", response=TagGroupOut, tags=["Tags"], summary="Change a tag group"
)
def tag_group_update(
    request: HttpRequest, group_id: uuid.UUID, payload: TagGroupPatchIn
) -> TagGroup:
    actor = request_actor(request)
    actor.require("customers.configure")
    group = access_tag_group(actor, group_id)
    return services.tag_group_update(
        actor=actor, group=group, name=payload.name, color=payload.color
    )


@router.delete(
    "/tag-groups/{group_id}",
    response={204: None},
    tags=["Tags"],
    summary="Delete a tag group",
)
def tag_group_delete(request: HttpRequest, group_id: uuid.UUID) -> Status[None]:
    """Delete a group; its tags stay, without a group."""
    actor = request_actor(request)
    actor.require("customers.configure")
    services.tag_group_delete(actor=actor, group=access_tag_group(actor, group_id))
    return Status(204, None)


# --- custom fields --------------------------------------------------------------------------
@router.get(
    "/custom-fields",
    response=PageOut[CustomFieldOut],
    tags=["Custom fields"],
    summary="List custom fields",
)
def custom_field_list(request: HttpRequest, page: Query[PageQuery]) -> Page[CustomField]:
    actor = request_actor(request)
    actor.require("customers.view")
    fields = CustomField.objects.filter(workspace=actor.workspace)
    return paginate(fields, cursor=page.cursor, limit=page.limit, ordering=("position", "id"))


@router.post(
    "/custom-fields",
    response={201: CustomFieldOut},
    tags=["Custom fields"],
    summary="Create a custom field",
)
def custom_field_create(request: HttpRequest, payload: CustomFieldIn) -> Status[CustomField]:
    actor = request_actor(request)
    actor.require("customers.configure")
    field = services.custom_field_create(
        actor=actor,
        key=payload.key,
        label=payload.label,
        type=payload.type,
        choices=payload.choices,
        is_required=payload.is_required,
        is_unique=payload.is_unique,
    )
    return Status(201, field)


@router.patch(
    "/custom-fields/{field_id}",
    response=CustomFieldOut,
    tags=["Custom fields"],
    summary="Change a custom field",
)
def custom_field_update(
    request: HttpRequest, field_id: uuid.UUID, payload: CustomFieldPatchIn
) -> CustomField:
    """Relabel, change the choices or make (not) required; the key and type stay."""
    actor = request_actor(request)
    actor.require("customers.configure")
    field = access_custom_field(actor, field_id)
    return services.custom_field_update(
        actor=actor,
        field_row=field,
        label=payload.label,
        choices=payload.choices,
        is_required=payload.is_required,
    )


@router.delete(
    "/custom-fields/{field_id}",
    response={204: None},
    tags=["Custom fields"],
    summary="Delete a custom field",
)
def custom_field_delete(request: HttpRequest, field_id: uuid.UUID) -> Status[None]:
    actor = request_actor(request)
    actor.require("customers.configure")
    services.custom_field_delete(actor=actor, field_row=access_custom_field(actor, field_id))
    return Status(204, None)


# --- identity rules -------------------------------------------------------------------------
def _settings_of(actor: Actor) -> CustomerSettings:
    # Never written until changed: an unsaved row shows the defaults.
    return CustomerSettings.objects.filter(workspace=actor.workspace).first() or CustomerSettings(
        workspace=actor.workspace
    )


@router.get(
    "/customer-settings",
    response=CustomerSettingsOut,
    tags=["Customer settings"],
    summary="Identity rules and survivorship",
)
def customer_settings_detail(request: HttpRequest) -> CustomerSettings:
    """The workspace's own rules (customers.configure); kinds and fields not named follow the
    built-in defaults."""
    actor = request_actor(request)
    actor.require("customers.configure")
    return _settings_of(actor)


@router.patch(
    "/customer-settings",
    response=CustomerSettingsOut,
    tags=["Customer settings"],
    summary="Change identity rules and survivorship",
)
def customer_settings_update(request: HttpRequest, payload: CustomerSettingsIn) -> CustomerSettings:
    """Each object sent replaces the stored one (send {} to go back to the defaults)."""
    actor = request_actor(request)
    return services.customer_settings_update(
        actor=actor, **payload.model_dump(exclude_unset=True, exclude_none=True)
    )
