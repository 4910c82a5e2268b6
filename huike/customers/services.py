"""Writes of the customers part: customers, companies, tags, custom fields, consent, settings.

Each service checks the actor's permission, runs in one transaction, records the timeline event
of the change (huike.customers.events) and publishes it through the outbox. Identity
resolution is in huike.customers.resolution, merges in huike.customers.merging.
"""

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from django.db import IntegrityError, models, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team
from huike.core.audit import AuditTarget, audit_record
from huike.core.crypto import WorkspaceKeys, workspace_keys
from huike.core.errors import ConflictError, InvalidInputError, NotFoundError
from huike.core.outbox import outbox_publish
from huike.customers.custom_fields import (
    custom_field_unique_claims_sync,
    custom_field_values_clean,
    custom_fields_of,
)
from huike.customers.events import event_record
from huike.customers.identities import (
    IdentityKey,
    customer_personal_set,
    customer_personal_value,
    identities_find,
    identity_build,
    workspace_rules,
)
from huike.customers.models import (
    Company,
    ConsentPurpose,
    ConsentRecord,
    Customer,
    CustomerSettings,
    CustomerTag,
    CustomField,
    Gender,
    Identity,
    LifecycleStage,
    Tag,
    TagGroup,
)
from huike.customers.permissions import CustomerAudit
from huike.customers.rules import (
    IDENTITY_KINDS,
    STRENGTH_RANK,
    SURVIVORSHIP_FIELDS,
    SURVIVORSHIP_STRATEGIES,
)


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass
class CustomerData:
    """Fields of a customer to write; UNSET leaves a field as it is."""

    name: Any = UNSET
    gender: Any = UNSET
    locale: Any = UNSET
    lifecycle_stage: Any = UNSET
    company: Any = UNSET  # Company | None
    owner: Any = UNSET  # Membership | None
    team: Any = UNSET  # Team | None
    source_channel: Any = UNSET
    birthday: Any = UNSET  # date | None
    address: Any = UNSET
    id_number: Any = UNSET
    custom_fields: Any = UNSET  # {key: value}; keys not named stay as they are

    def given(self) -> dict[str, Any]:
        return {
            item.name: getattr(self, item.name)
            for item in fields(self)
            if getattr(self, item.name) is not UNSET
        }


PLAIN_FIELDS = ("name", "gender", "locale", "lifecycle_stage", "source_channel")
NAME_MAX_LENGTH = 200
PERSONAL_TEXT_MAX_LENGTH = 500


def _clean_plain(name: str, value: Any) -> str:
    text = "" if value is None else str(value).strip()
    if name == "name" and len(text) > NAME_MAX_LENGTH:
        raise InvalidInputError(
            _("At most %(max)d characters.") % {"max": NAME_MAX_LENGTH}, field="name"
        )
    if name == "gender" and text not in Gender.values:
        raise InvalidInputError(_("Choose female, male, other or leave it empty."), field="gender")
    if name == "lifecycle_stage" and text not in LifecycleStage.values:
        raise InvalidInputError(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(LifecycleStage.values)},
            field="lifecycle_stage",
        )
    if name in ("locale", "source_channel") and len(text) > 40:
        raise InvalidInputError(_("At most 40 characters."), field=name)
    return text


def _check_related(actor: Actor, data: Mapping[str, Any]) -> None:
    for name in ("company", "owner", "team"):
        value = data.get(name)
        if value is not None and value.workspace_id != actor.workspace.pk:
            raise InvalidInputError(_("Not found in this workspace."), field=name)
    owner = data.get("owner")
    if isinstance(owner, Membership) and not owner.is_active:
        raise InvalidInputError(_("This member is deactivated."), field="owner")


def _apply(
    *,
    actor: Actor,
    customer: Customer,
    data: Mapping[str, Any],
    keys: WorkspaceKeys,
    custom_fields: list[CustomField],
) -> list[str]:
    """Set `data` on the (unsaved or locked) customer; the names of the fields that changed."""
    _check_related(actor, data)
    changed = []
    for name in PLAIN_FIELDS:
        if name in data:
            value = _clean_plain(name, data[name])
            if getattr(customer, name) != value:
                setattr(customer, name, value)
                changed.append(name)
    for name in ("company", "owner", "team"):
        if name in data and getattr(customer, f"{name}_id") != (data[name] and data[name].pk):
            setattr(customer, name, data[name])
            changed.append(name)
    if "birthday" in data:
        birthday = data["birthday"]
        if birthday is not None and not isinstance(birthday, dt.date):
            raise InvalidInputError(_("Enter a date."), field="birthday")
        if birthday is not None and birthday > timezone.localdate():
            raise InvalidInputError(_("A birthday cannot be in the future."), field="birthday")
        text = birthday.isoformat() if birthday else ""
        # A form sends the values a customer has already: only a real change is one.
        if text != customer_personal_value(customer, "birthday", keys):
            customer_personal_set(customer, "birthday", text, keys)
            changed.append("birthday")
    for name in ("address", "id_number"):
        if name in data:
            text = (data[name] or "").strip()
            if len(text) > PERSONAL_TEXT_MAX_LENGTH:
                raise InvalidInputError(
                    _("At most %(max)d characters.") % {"max": PERSONAL_TEXT_MAX_LENGTH}, field=name
                )
            if text != customer_personal_value(customer, name, keys):
                customer_personal_set(customer, name, text, keys)
                changed.append(name)
    if "custom_fields" in data or customer.pk is None:
        cleaned = custom_field_values_clean(
            fields=custom_fields,
            values=data.get("custom_fields") or {},
            current=customer.custom_fields,
            currency=actor.workspace.currency,
        )
        if cleaned != customer.custom_fields:
            customer.custom_fields = cleaned
            changed.append("custom_fields")
    return changed


def _identities_claim(
    *, keys: WorkspaceKeys, customer: Customer, identity_keys: Sequence[IdentityKey], source: str
) -> list[Identity]:
    """Attach keys to `customer`; ConflictError naming the kind when one belongs to another
    customer. Keys it already holds are skipped."""
    existing = identities_find(keys=keys, identity_keys=identity_keys)
    created = []
    rules = workspace_rules(keys.workspace_id)
    counts = (
        dict(
            Identity.objects.filter(customer_id=customer.pk)
            .values_list("kind")
            .annotate(total=Count("id"))
            .values_list("kind", "total")
        )
        if customer.pk
        else {}
    )
    seen: set[tuple[str, str]] = set()
    for key in identity_keys:
        if key.slot in seen:
            continue
        seen.add(key.slot)
        found = existing.get(key.slot)
        if found is not None:
            if found.customer_id != customer.pk:
                raise ConflictError(
                    _("This %(kind)s already belongs to another customer.") % {"kind": key.kind},
                    field=key.base_kind,
                )
            continue
        if rules.is_junk(key.base_kind, key.value):
            raise InvalidInputError(
                _("This %(kind)s is on the list of placeholder values.") % {"kind": key.kind},
                field=key.base_kind,
            )
        if counts.get(key.kind, 0) >= rules.cap_of(key.base_kind):
            raise InvalidInputError(
                _("A customer holds at most %(cap)d identities of kind %(kind)s.")
                % {"cap": rules.cap_of(key.base_kind), "kind": key.kind},
                field=key.base_kind,
            )
        counts[key.kind] = counts.get(key.kind, 0) + 1
        identity = identity_build(keys=keys, customer=customer, key=key, source=source)
        identity.save(force_insert=True)
        created.append(identity)
    return created


def customer_create(
    *,
    actor: Actor,
    data: CustomerData,
    identity_keys: Sequence[IdentityKey] = (),
    tags: Sequence[Tag] = (),
    source: str = "manual",
) -> Customer:
    """Create a customer with its identities. The creator owns it unless `data.owner` says
    otherwise. Raises ConflictError when an identity already belongs to another customer (use
    `customer_upsert` to update that one instead) and InvalidInputError naming the field."""
    actor.require("customers.manage")
    values = data.given()
    with transaction.atomic():
        keys = workspace_keys(actor.workspace.pk)
        customer = Customer(workspace=actor.workspace)
        if "owner" not in values:
            values["owner"] = (
                actor.membership if actor.membership and actor.membership.is_active else None
            )
        if "team" not in values and values["owner"] is not None:
            values["team"] = values["owner"].team
        _apply(
            actor=actor,
            customer=customer,
            data=values,
            keys=keys,
            custom_fields=custom_fields_of(actor.workspace.pk),
        )
        now = timezone.now()
        customer.first_seen_at = customer.last_seen_at = now
        customer.save(force_insert=True)
        _identities_claim(keys=keys, customer=customer, identity_keys=identity_keys, source=source)
        custom_field_unique_claims_sync(
            customer=customer,
            fields=custom_fields_of(actor.workspace.pk),
            values=customer.custom_fields,
        )
        if tags:
            customer_tags_add(
                actor=actor, customers=[customer], tags=tags, source=_tag_source(source)
            )
        event_record(
            customer=customer,
            kind="customer.created",
            properties={"by": actor.label, "source": source},
            source=source,
        )
    return customer


def _acting_member(actor: Actor) -> Membership | None:
    """Who owns what the actor creates: the member (or an API key's maker), if active."""
    membership = actor.membership
    return membership if membership is not None and membership.is_active else None


def _tag_source(source: str) -> str:
    return source if source in CustomerTag.Source.values else CustomerTag.Source.MANUAL


def customer_lock(customer: Customer) -> Customer:
    """The customer's row, locked for the rest of the transaction (PostgreSQL)."""
    locked: Customer = Customer.objects.select_for_update().get(pk=customer.pk)
    return locked


def customer_update(
    *,
    actor: Actor,
    customer: Customer,
    data: CustomerData,
    identity_keys: Sequence[IdentityKey] = (),
    source: str = "manual",
) -> Customer:
    """Change fields (and add identities). The customer must have come from access_customer.
    Records `customer.updated` naming the changed fields (never their personal values)."""
    actor.require("customers.manage")
    if customer.is_merged:
        raise ConflictError(_("This customer was merged into another one."))
    with transaction.atomic():
        keys = workspace_keys(actor.workspace.pk)
        locked = customer_lock(customer)
        if locked.is_merged:  # merged since `customer` was read
            raise ConflictError(_("This customer was merged into another one."))
        fields_list = custom_fields_of(actor.workspace.pk)
        changed = _apply(
            actor=actor, customer=locked, data=data.given(), keys=keys, custom_fields=fields_list
        )
        added = _identities_claim(
            keys=keys, customer=locked, identity_keys=identity_keys, source=source
        )
        if changed:
            locked.save()
            if "custom_fields" in changed:
                custom_field_unique_claims_sync(
                    customer=locked, fields=fields_list, values=locked.custom_fields
                )
        if changed or added:
            event_record(
                customer=locked,
                kind="customer.updated",
                properties={
                    "by": actor.label,
                    "fields": changed,
                    "identities_added": [identity.kind for identity in added],
                },
                source=source,
            )
    return locked


def customer_delete(*, actor: Actor, customer: Customer, ip_address: str | None = None) -> None:
    """Delete a customer with everything that belongs to them, including the customers merged
    into them (the same person). Audited."""
    actor.require("customers.delete")
    with transaction.atomic():
        locked = customer_lock(customer)
        # Merges chain (C into B, then B into A): every customer that ended up in this one.
        absorbed_pks: list[int] = []
        into = [locked.pk]
        while into:
            into = list(
                Customer.objects.filter(
                    workspace=actor.workspace, merged_into__in=into
                ).values_list("pk", flat=True)
            )
            absorbed_pks += into
        absorbed = list(
            Customer.objects.filter(pk__in=absorbed_pks).values_list("public_id", flat=True)
        )
        public_id = str(locked.public_id)
        Customer.objects.filter(workspace=actor.workspace, pk__in=absorbed_pks).delete()
        locked.delete()
        outbox_publish(
            workspace_id=actor.workspace.pk,
            kind="customer.deleted",
            payload={"customer_id": public_id},
        )
        audit_record(
            workspace_id=actor.workspace.pk,
            action=CustomerAudit.DELETED,
            actor_id=actor.user_id,
            actor_label=actor.label,
            target=AuditTarget("customer", public_id),
            ip_address=ip_address,
            data={"absorbed": [str(item) for item in absorbed]},
        )


# --- tags ------------------------------------------------------------------------------------
COLOR_PATTERN = "#rrggbb"


def _clean_color(color: str) -> str:
    text = color.strip().lower()
    if len(text) != 7 or text[0] != "#" or any(char not in "0123456789abcdef" for char in text[1:]):
        raise InvalidInputError(_("Write a colour as #rrggbb."), field="color")
    return text


def _clean_name(name: str, *, max_length: int = 100, field: str = "name") -> str:
    text = (name or "").strip()
    if not text:
        raise InvalidInputError(_("Enter a name."), field=field)
    if len(text) > max_length:
        raise InvalidInputError(_("At most %(max)d characters.") % {"max": max_length}, field=field)
    return text


def _create_unique[M: models.Model](model: type[M], conflict: ConflictError, **values: Any) -> M:
    """Insert a row whose unique constraint may already hold the value: the check before the
    insert gives the clear message, and the constraint the same message when another request
    inserted the value between the check and the insert."""
    try:
        with transaction.atomic():
            return model._default_manager.create(**values)
    except IntegrityError:
        raise conflict from None


def tag_group_create(*, actor: Actor, name: str, color: str = "#64748b") -> TagGroup:
    actor.require("customers.configure")
    name = _clean_name(name)
    conflict = ConflictError(_("A tag group with this name exists."), field="name")
    if TagGroup.objects.filter(workspace=actor.workspace, name=name).exists():
        raise conflict
    return _create_unique(
        TagGroup, conflict, workspace=actor.workspace, name=name, color=_clean_color(color)
    )


def tag_create(
    *, actor: Actor, name: str, color: str = "#2563eb", group: TagGroup | None = None
) -> Tag:
    actor.require("customers.configure")
    name = _clean_name(name)
    if group is not None and group.workspace_id != actor.workspace.pk:
        raise InvalidInputError(_("Not found in this workspace."), field="group")
    conflict = ConflictError(_("A tag with this name exists."), field="name")
    if Tag.objects.filter(workspace=actor.workspace, name=name).exists():
        raise conflict
    return _create_unique(
        Tag, conflict, workspace=actor.workspace, name=name, color=_clean_color(color), group=group
    )


def tag_update(
    *,
    actor: Actor,
    tag: Tag,
    name: str | None = None,
    color: str | None = None,
    group: Any = UNSET,  # TagGroup | None
) -> Tag:
    actor.require("customers.configure")
    if name is not None:
        name = _clean_name(name)
        if Tag.objects.filter(workspace=actor.workspace, name=name).exclude(pk=tag.pk).exists():
            raise ConflictError(_("A tag with this name exists."), field="name")
        tag.name = name
    if color is not None:
        tag.color = _clean_color(color)
    if group is not UNSET:
        if group is not None and group.workspace_id != actor.workspace.pk:
            raise InvalidInputError(_("Not found in this workspace."), field="group")
        tag.group = group
    tag.save()
    return tag


def tag_delete(*, actor: Actor, tag: Tag) -> None:
    actor.require("customers.configure")
    tag.delete()


def customer_tags_add(
    *, actor: Actor, customers: Iterable[Customer], tags: Sequence[Tag], source: str = "manual"
) -> int:
    """Tag customers (bulk action); tags they carry already stay as they are. Returns the number
    of new links. Customers and tags must come from access_* functions."""
    actor.require("customers.manage")
    customer_list = list(customers)
    if any(customer.is_merged for customer in customer_list):
        # A tag on an absorbed row would reach nobody: the person is the survivor now.
        raise ConflictError(_("This customer was merged into another one."))
    if not tag_list_is_own(actor, tags):
        raise InvalidInputError(_("Not found in this workspace."), field="tags")
    with transaction.atomic():
        have = set(
            CustomerTag.objects.filter(customer__in=customer_list, tag__in=list(tags)).values_list(
                "customer_id", "tag_id"
            )
        )
        links = [
            CustomerTag(workspace=actor.workspace, customer=customer, tag=tag, source=source)
            for customer in customer_list
            for tag in tags
            if (customer.pk, tag.pk) not in have
        ]
        # ignore_conflicts: a concurrent request tagging the same customer is not an error.
        CustomerTag.objects.bulk_create(links, ignore_conflicts=True)
        by_customer: dict[int, list[str]] = {}
        for link in links:
            by_customer.setdefault(link.customer_id, []).append(link.tag.name)
        for customer in customer_list:
            if customer.pk in by_customer:
                event_record(
                    customer=customer,
                    kind="tag.added",
                    properties={"tags": by_customer[customer.pk], "by": actor.label},
                    source=source,
                )
    return len(links)


def customer_tags_remove(
    *, actor: Actor, customers: Iterable[Customer], tags: Sequence[Tag]
) -> int:
    actor.require("customers.manage")
    customer_list = list(customers)
    with transaction.atomic():
        links = list(
            CustomerTag.objects.filter(
                workspace=actor.workspace, customer__in=customer_list, tag__in=list(tags)
            ).select_related("tag")
        )
        CustomerTag.objects.filter(pk__in=[link.pk for link in links]).delete()
        by_customer: dict[int, list[str]] = {}
        for link in links:
            by_customer.setdefault(link.customer_id, []).append(link.tag.name)
        for customer in customer_list:
            if customer.pk in by_customer:
                event_record(
                    customer=customer,
                    kind="tag.removed",
                    properties={"tags": by_customer[customer.pk], "by": actor.label},
                )
    return len(links)


def tag_list_is_own(actor: Actor, tags: Iterable[Tag]) -> bool:
    return all(tag.workspace_id == actor.workspace.pk for tag in tags)


def customers_assign(
    *,
    actor: Actor,
    customers: Iterable[Customer],
    owner: Membership | None,
    team: Team | None = None,
) -> int:
    """Give customers a new owner (bulk action); the team follows the owner's unless given."""
    actor.require("customers.manage")
    data = CustomerData(
        owner=owner, team=team if team is not None else (owner.team if owner else None)
    )
    count = 0
    # All or none: a merged customer among them must not leave the others half assigned.
    with transaction.atomic():
        for customer in customers:
            customer_update(actor=actor, customer=customer, data=data)
            count += 1
    return count


# --- companies -------------------------------------------------------------------------------
COMPANY_MAX_LENGTHS = {"name": 200, "domain": 253, "industry": 100, "size": 16, "region": 100}
COMPANY_FIELDS = tuple(COMPANY_MAX_LENGTHS)


def _company_apply(actor: Actor, company: Company, data: Mapping[str, Any]) -> None:
    for name in COMPANY_FIELDS:
        if name not in data:
            continue
        value = (data[name] or "").strip()
        if name == "name":
            value = _clean_name(value, max_length=200)
        if name == "size" and value not in Company.Size.values:
            raise InvalidInputError(
                _("Choose one of: %(choices)s.")
                % {"choices": ", ".join(v for v in Company.Size.values if v)},
                field="size",
            )
        if name == "domain":
            # The host alone: "https://www.acme.example/about" is the domain acme.example's.
            value = value.lower().removeprefix("https://").removeprefix("http://")
            value = value.split("/", 1)[0].split("?", 1)[0].removeprefix("www.")
        max_length = COMPANY_MAX_LENGTHS[name]
        if len(value) > max_length:
            raise InvalidInputError(
                _("At most %(max)d characters.") % {"max": max_length}, field=name
            )
        setattr(company, name, value)
    for name in ("owner", "team"):
        if name in data:
            value = data[name]
            if value is not None and value.workspace_id != actor.workspace.pk:
                raise InvalidInputError(_("Not found in this workspace."), field=name)
            setattr(company, name, value)


def company_create(*, actor: Actor, data: Mapping[str, Any]) -> Company:
    actor.require("customers.manage")
    company = Company(workspace=actor.workspace)
    values = dict(data)
    values.setdefault(
        "owner", actor.membership if actor.membership and actor.membership.is_active else None
    )
    if values.get("owner") is not None and "team" not in values:
        values["team"] = values["owner"].team
    values.setdefault("name", "")
    _company_apply(actor, company, values)
    company.save(force_insert=True)
    return company


def company_update(*, actor: Actor, company: Company, data: Mapping[str, Any]) -> Company:
    actor.require("customers.manage")
    _company_apply(actor, company, data)
    company.save()
    return company


def company_delete(*, actor: Actor, company: Company) -> None:
    """Delete a company; its customers stay, without a company."""
    actor.require("customers.delete")
    with transaction.atomic():
        public_id = str(company.public_id)
        company.delete()
        audit_record(
            workspace_id=actor.workspace.pk,
            action=CustomerAudit.COMPANY_DELETED,
            actor_id=actor.user_id,
            actor_label=actor.label,
            target=AuditTarget("company", public_id),
        )


# --- custom fields ---------------------------------------------------------------------------
def custom_field_create(
    *,
    actor: Actor,
    key: str,
    label: str,
    type: str,
    choices: Sequence[str] = (),
    is_required: bool = False,
    is_unique: bool = False,
) -> CustomField:
    actor.require("customers.configure")
    key = (key or "").strip()
    if not key or not key.replace("_", "").isalnum() or not key[0].isalpha() or not key.isascii():
        raise InvalidInputError(
            _("Use letters, digits and _ and start with a letter."), field="key"
        )
    if len(key) > 63:
        raise InvalidInputError(_("At most 63 characters."), field="key")
    if type not in CustomField.Type.values:
        raise InvalidInputError(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(CustomField.Type.values)},
            field="type",
        )
    clean_choices = _clean_choices(type, choices)
    if is_unique and type in (CustomField.Type.MULTI_CHOICE, CustomField.Type.BOOLEAN):
        raise InvalidInputError(_("Fields of this type cannot be unique."), field="is_unique")
    if CustomField.objects.filter(workspace=actor.workspace, key=key).exists():
        raise ConflictError(_("A field with this key exists."), field="key")
    with transaction.atomic():
        position = CustomField.objects.filter(workspace=actor.workspace).count()
        field_row = _create_unique(
            CustomField,
            ConflictError(_("A field with this key exists."), field="key"),
            workspace=actor.workspace,
            key=key,
            label=_clean_name(label, field="label"),
            type=type,
            choices=clean_choices,
            is_required=is_required,
            is_unique=is_unique,
            position=position,
        )
        _audit_field(actor, field_row, "created")
    return field_row


def _clean_choices(type: str, choices: Sequence[str]) -> list[str]:
    cleaned: list[str] = []
    for choice in choices:
        text = str(choice).strip()
        if text and text not in cleaned:
            cleaned.append(text[:100])
    if type in (CustomField.Type.CHOICE, CustomField.Type.MULTI_CHOICE) and not cleaned:
        raise InvalidInputError(_("Give at least one choice."), field="choices")
    return cleaned


def _audit_field(actor: Actor, field_row: CustomField, change: str) -> None:
    audit_record(
        workspace_id=actor.workspace.pk,
        action=CustomerAudit.FIELD_CHANGED,
        actor_id=actor.user_id,
        actor_label=actor.label,
        target=AuditTarget("custom_field", str(field_row.public_id)),
        data={"key": field_row.key, "change": change},
    )


def custom_field_update(
    *,
    actor: Actor,
    field_row: CustomField,
    label: str | None = None,
    choices: Sequence[str] | None = None,
    is_required: bool | None = None,
) -> CustomField:
    """Rename, change choices or make (not) required. The key and type stay: stored values are
    in that key and of that type. Making a field unique later is not offered, because existing
    values may already repeat."""
    actor.require("customers.configure")
    with transaction.atomic():
        if label is not None:
            field_row.label = _clean_name(label, field="label")
        if choices is not None:
            field_row.choices = _clean_choices(field_row.type, choices)
        if is_required is not None:
            field_row.is_required = is_required
        field_row.save()
        _audit_field(actor, field_row, "updated")
    return field_row


def custom_field_delete(*, actor: Actor, field_row: CustomField) -> None:
    """Delete a field definition. Customers keep no value for it afterwards (values are dropped
    the next time each customer is written, and never shown)."""
    actor.require("customers.configure")
    with transaction.atomic():
        _audit_field(actor, field_row, "deleted")
        field_row.delete()


# --- consent ---------------------------------------------------------------------------------
def consent_record(
    *,
    actor: Actor | None,
    customer: Customer,
    purpose: str,
    status: str,
    channel: str = ConsentRecord.ANY_CHANNEL,
    source: str = "",
    evidence: str = "",
    recorded_at: dt.datetime | None = None,
) -> ConsentRecord:
    """Record a grant or withdrawal. `actor` is None for the customer's own action (an
    unsubscribe link, a STOP reply), which the channel records with its evidence."""
    if actor is not None:
        actor.require("customers.manage")
    if customer.is_merged:
        # Recorded on the absorbed row, a withdrawal would never reach the survivor.
        raise ConflictError(_("This customer was merged into another one."))
    if purpose not in ConsentPurpose.values:
        raise InvalidInputError(
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(ConsentPurpose.values)},
            field="purpose",
        )
    if status not in ConsentRecord.Status.values:
        raise InvalidInputError(_("Choose granted or withdrawn."), field="status")
    channel = consent_channel(channel)
    if len(channel) > 40:
        raise InvalidInputError(_("At most 40 characters."), field="channel")
    with transaction.atomic():
        record = ConsentRecord.objects.create(
            workspace_id=customer.workspace_id,
            customer=customer,
            purpose=purpose,
            channel=channel,
            status=status,
            recorded_at=recorded_at or timezone.now(),
            source=(source or "")[:100],
            evidence=(evidence or "")[:5000],
            recorded_by=actor.membership if actor and not actor.api_key else None,
        )
        event_record(
            customer=customer,
            kind=f"consent.{status}",
            channel=channel if channel != ConsentRecord.ANY_CHANNEL else "",
            properties={"purpose": purpose, "source": record.source},
            source=record.source,
        )
    return record


def consent_channel(channel: str | None) -> str:
    """One spelling per channel ("SMS " and "sms" are one channel); empty means any channel."""
    return (channel or "").strip().lower() or ConsentRecord.ANY_CHANNEL


# --- settings --------------------------------------------------------------------------------
def customer_settings_update(
    *,
    actor: Actor,
    default_region: str | None = None,
    identity_strength: Mapping[str, str] | None = None,
    identity_caps: Mapping[str, int] | None = None,
    junk_values: Mapping[str, Sequence[str]] | None = None,
    survivorship: Mapping[str, str] | None = None,
    auto_merge_strong: bool | None = None,
) -> CustomerSettings:
    actor.require("customers.configure")
    from huike.core.normalize import normalize_identity

    with transaction.atomic():
        row, _created = CustomerSettings.objects.select_for_update().get_or_create(
            workspace=actor.workspace
        )
        if default_region is not None:
            import phonenumbers

            region = default_region.strip().upper()
            if region not in phonenumbers.SUPPORTED_REGIONS:
                raise InvalidInputError(_("Not a region code, e.g. CN."), field="default_region")
            row.default_region = region
        if identity_strength is not None:
            for kind, strength in identity_strength.items():
                if kind not in IDENTITY_KINDS or strength not in STRENGTH_RANK:
                    raise InvalidInputError(
                        _("Unknown kind or strength."), field="identity_strength"
                    )
            row.identity_strength = dict(identity_strength)
        if identity_caps is not None:
            for kind, cap in identity_caps.items():
                if (
                    kind not in IDENTITY_KINDS
                    or not isinstance(cap, int)
                    or isinstance(cap, bool)  # JSON true is no cap of 1
                    or not 1 <= cap <= 1000
                ):
                    raise InvalidInputError(
                        _("Caps are 1 to 1000 per known kind."), field="identity_caps"
                    )
            row.identity_caps = dict(identity_caps)
        if junk_values is not None:
            clean: dict[str, list[str]] = {}
            for kind, values in junk_values.items():
                if kind not in IDENTITY_KINDS:
                    raise InvalidInputError(_("Unknown identity kind."), field="junk_values")
                try:
                    clean[kind] = sorted(
                        {
                            normalize_identity(kind, value, row.default_region)
                            for value in values
                            if value.strip()
                        }
                    )
                except InvalidInputError as error:
                    raise InvalidInputError(error.detail, field="junk_values") from None
            row.junk_values = clean
        if survivorship is not None:
            for name, strategy in survivorship.items():
                if name not in SURVIVORSHIP_FIELDS or strategy not in SURVIVORSHIP_STRATEGIES:
                    raise InvalidInputError(_("Unknown field or strategy."), field="survivorship")
            row.survivorship = dict(survivorship)
        if auto_merge_strong is not None:
            row.auto_merge_strong = auto_merge_strong
        row.save()
        audit_record(
            workspace_id=actor.workspace.pk,
            action=CustomerAudit.SETTINGS_CHANGED,
            actor_id=actor.user_id,
            actor_label=actor.label,
            target=AuditTarget("customer_settings", str(actor.workspace.public_id)),
        )
    return row


# --- one customer's identities, upsert by identity, tag groups (used by the API) -------------
def customer_identity_add(
    *, actor: Actor, customer: Customer, key: IdentityKey, source: str = "manual"
) -> Identity:
    """Attach one identity to a customer from access_customer; records `customer.updated`.

    Raises ConflictError naming the kind when the customer holds it already or another customer
    does (also when one is created at the same moment), InvalidInputError for a placeholder
    value or a kind at its cap."""
    actor.require("customers.manage")
    if customer.is_merged:
        raise ConflictError(_("This customer was merged into another one."))
    try:
        with transaction.atomic():
            keys = workspace_keys(actor.workspace.pk)
            locked = customer_lock(customer)
            if locked.is_merged:  # merged since `customer` was read
                raise ConflictError(_("This customer was merged into another one."))
            held = identities_find(keys=keys, identity_keys=[key]).get(key.slot)
            if held is not None and held.customer_id == locked.pk:
                raise ConflictError(
                    _("The customer has this %(kind)s already.") % {"kind": key.kind},
                    field=key.base_kind,
                )
            (identity,) = _identities_claim(
                keys=keys, customer=locked, identity_keys=[key], source=source
            )
            event_record(
                customer=locked,
                kind="customer.updated",
                properties={"by": actor.label, "fields": [], "identities_added": [key.kind]},
                source=source,
            )
    except IntegrityError:
        raise ConflictError(
            _("This %(kind)s already belongs to another customer.") % {"kind": key.kind},
            field=key.base_kind,
        ) from None
    return identity


def customer_identity_remove(*, actor: Actor, customer: Customer, identity: Identity) -> None:
    """Detach and delete one identity of a customer from access_customer. Its events stay on
    the timeline. Records `customer.updated` naming the kind (never the value)."""
    actor.require("customers.manage")
    with transaction.atomic():
        locked = customer_lock(customer)
        if identity.customer_id != locked.pk:
            raise NotFoundError(_("No such identity."))
        kind = identity.kind
        identity.delete()
        event_record(
            customer=locked,
            kind="customer.updated",
            properties={"by": actor.label, "fields": [], "identities_removed": [kind]},
        )


@dataclass(frozen=True)
class Upserted:
    customer: Customer
    is_new: bool


def customer_upsert(
    *,
    actor: Actor,
    data: CustomerData,
    identity_keys: Sequence[IdentityKey],
    tags: Sequence[Tag] = (),
    source: str = "api",
) -> Upserted:
    """Update the customer the identities name (exact blind-index match), attaching the keys it
    lacks, or create one when none is known.

    Raises ConflictError(field="identities") when the keys name two different customers (merge
    them first) or a customer the actor may not see, InvalidInputError when no key is given.
    Two writers creating the same new customer at once: the loser's identity insert fails on
    the unique constraint and it updates the winner's customer instead."""
    actor.require("customers.manage")
    if not identity_keys:
        raise InvalidInputError(
            _("Name the customer by at least one identity (phone, email or another kind)."),
            field="identities",
        )
    for attempt in (1, 2):
        keys = workspace_keys(actor.workspace.pk)
        found = identities_find(keys=keys, identity_keys=identity_keys)
        owners = {identity.customer_id: identity.customer for identity in found.values()}
        if len(owners) > 1:
            raise ConflictError(
                _("These identities belong to different customers; merge them first."),
                field="identities",
            )
        if owners:
            (existing,) = owners.values()
            if not Customer.objects.visible_to(actor).filter(pk=existing.pk).exists():
                raise ConflictError(
                    _("These identities belong to a customer you cannot see."),
                    field="identities",
                )
            with transaction.atomic():
                customer = customer_update(
                    actor=actor,
                    customer=existing,
                    data=data,
                    identity_keys=identity_keys,
                    source=source,
                )
                if tags:
                    customer_tags_add(
                        actor=actor, customers=[customer], tags=tags, source=_tag_source(source)
                    )
            return Upserted(customer=customer, is_new=False)
        try:
            with transaction.atomic():
                customer = customer_create(
                    actor=actor, data=data, identity_keys=identity_keys, tags=tags, source=source
                )
            return Upserted(customer=customer, is_new=True)
        except (IntegrityError, ConflictError):
            # The other writer's identity committed after the lookup above: the insert fails
            # (IntegrityError), or customer_create finds it (ConflictError). Look again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def tag_group_update(
    *, actor: Actor, group: TagGroup, name: str | None = None, color: str | None = None
) -> TagGroup:
    actor.require("customers.configure")
    if name is not None:
        name = _clean_name(name)
        if (
            TagGroup.objects.filter(workspace=actor.workspace, name=name)
            .exclude(pk=group.pk)
            .exists()
        ):
            raise ConflictError(_("A tag group with this name exists."), field="name")
        group.name = name
    if color is not None:
        group.color = _clean_color(color)
    group.save()
    return group


def tag_group_delete(*, actor: Actor, group: TagGroup) -> None:
    """Delete a tag group; its tags stay, without a group."""
    actor.require("customers.configure")
    group.delete()
