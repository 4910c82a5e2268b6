"""The only way views, endpoints and tasks get customers' objects (see huike.accounts.access).

Customers and companies follow the record rules of huike.accounts.visibility (own, team
subtree, all, shares). A merge, a review-queue entry or a consent is visible with the customers
it concerns; tags and custom fields are the workspace's vocabulary, visible to every role that
sees customers. Anything outside the actor's reach is NotFoundError, as if it did not exist.
"""

import uuid

from django.utils.translation import gettext as _

from huike.accounts.access import Actor, parse_public_id
from huike.accounts.visibility import OwnedQuerySet
from huike.core.errors import NotFoundError
from huike.customers.models import (
    Company,
    Customer,
    CustomerMerge,
    CustomField,
    MergeCandidate,
    Tag,
    TagGroup,
)


def visible_customers(actor: Actor) -> OwnedQuerySet:
    """Every customer (merged ones too) the actor's record rules let them see."""
    actor.require("customers.view")
    return Customer.objects.visible_to(actor)


def access_customer(actor: Actor, public_id: uuid.UUID | str) -> Customer:
    """A customer the actor may see (merged ones too: they say where they went)."""
    not_found = _("No such customer.")
    try:
        customer: Customer = (
            visible_customers(actor)
            .select_related("owner__user", "team", "company")
            .get(public_id=parse_public_id(public_id, not_found))
        )
        return customer
    except Customer.DoesNotExist:
        raise NotFoundError(not_found) from None


def access_company(actor: Actor, public_id: uuid.UUID | str) -> Company:
    actor.require("customers.view")
    not_found = _("No such company.")
    try:
        company: Company = Company.objects.visible_to(actor).get(
            public_id=parse_public_id(public_id, not_found)
        )
        return company
    except Company.DoesNotExist:
        raise NotFoundError(not_found) from None


def lookup_company(actor: Actor, public_id: uuid.UUID | str) -> Company:
    """A company a request names (a customer's company): the actor must be able to see it."""
    return access_company(actor, public_id)


def access_tag(actor: Actor, public_id: uuid.UUID | str) -> Tag:
    actor.require("customers.view")
    not_found = _("No such tag.")
    try:
        return Tag.objects.select_related("group").get(
            workspace=actor.workspace, public_id=parse_public_id(public_id, not_found)
        )
    except Tag.DoesNotExist:
        raise NotFoundError(not_found) from None


def access_tag_group(actor: Actor, public_id: uuid.UUID | str) -> TagGroup:
    actor.require("customers.view")
    not_found = _("No such tag group.")
    try:
        return TagGroup.objects.get(
            workspace=actor.workspace, public_id=parse_public_id(public_id, not_found)
        )
    except TagGroup.DoesNotExist:
        raise NotFoundError(not_found) from None


def access_custom_field(actor: Actor, public_id: uuid.UUID | str) -> CustomField:
    actor.require("customers.view")
    not_found = _("No such custom field.")
    try:
        return CustomField.objects.get(
            workspace=actor.workspace, public_id=parse_public_id(public_id, not_found)
        )
    except CustomField.DoesNotExist:
        raise NotFoundError(not_found) from None


def access_merge(actor: Actor, public_id: uuid.UUID | str) -> CustomerMerge:
    """A merge whose surviving customer the actor may see."""
    not_found = _("No such merge.")
    try:
        merge = CustomerMerge.objects.select_related("survivor", "absorbed").get(
            workspace=actor.workspace, public_id=parse_public_id(public_id, not_found)
        )
    except CustomerMerge.DoesNotExist:
        raise NotFoundError(not_found) from None
    if not visible_customers(actor).filter(pk=merge.survivor_id).exists():
        raise NotFoundError(not_found)
    return merge


def access_merge_candidate(actor: Actor, public_id: uuid.UUID | str) -> MergeCandidate:
    """A review-queue entry both of whose customers the actor may see."""
    not_found = _("No such suggestion.")
    try:
        candidate = MergeCandidate.objects.select_related("first", "second").get(
            workspace=actor.workspace, public_id=parse_public_id(public_id, not_found)
        )
    except MergeCandidate.DoesNotExist:
        raise NotFoundError(not_found) from None
    pair = [candidate.first_id, candidate.second_id]
    if visible_customers(actor).filter(pk__in=pair).count() != 2:
        raise NotFoundError(not_found)
    return candidate
