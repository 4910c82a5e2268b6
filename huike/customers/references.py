"""The registry of rows that belong to a customer and follow them through a merge.

Every model with a foreign key to Customer that describes the person (identities, events,
tags, consents here; conversations, leads, deals, tickets, points in later parts) registers
itself, usually in its AppConfig.ready(). A merge moves the absorbed customer's rows to the
survivor and lists each moved row (MergeMove); undoing the merge moves exactly those back.
"""

from dataclasses import dataclass

from django.db import models


@dataclass(frozen=True)
class CustomerReference:
    model: type[models.Model]
    field: str = "customer"
    # Rows of the absorbed customer whose values in these fields the survivor already has stay
    # where they are (e.g. a tag both carry): moving them would break a unique constraint, and
    # the survivor has the fact already.
    conflict_fields: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.model._meta.label_lower


_REFERENCES: dict[str, CustomerReference] = {}


def register_customer_reference(
    model: type[models.Model], field: str = "customer", *, conflict_fields: tuple[str, ...] = ()
) -> None:
    reference = CustomerReference(model=model, field=field, conflict_fields=conflict_fields)
    _REFERENCES[reference.label] = reference


def customer_references() -> list[CustomerReference]:
    return sorted(_REFERENCES.values(), key=lambda reference: reference.label)


def customer_reference(label: str) -> CustomerReference | None:
    return _REFERENCES.get(label)


def register_builtin_references() -> None:
    from huike.customers.models import ConsentRecord, CustomerTag, Event, Identity

    register_customer_reference(Identity)
    register_customer_reference(Event)
    register_customer_reference(ConsentRecord)
    register_customer_reference(CustomerTag, conflict_fields=("tag",))
