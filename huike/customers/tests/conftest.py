"""Fixtures of the customers part: an actor of each persona and helpers that build customers
through the services (never by writing rows directly)."""

from collections.abc import Callable
from typing import Any

import pytest

from huike.accounts.access import Actor
from huike.customers.identities import IdentityKey, identity_key
from huike.customers.models import Customer
from huike.customers.services import CustomerData, customer_create


def keys_of(**identities: str) -> list[IdentityKey]:
    return [identity_key(kind, value) for kind, value in identities.items()]


@pytest.fixture
def make_customer(owner_actor: Actor) -> Callable[..., Customer]:
    def make(actor: Actor | None = None, name: str = "", **identities: Any) -> Customer:
        return customer_create(
            actor=actor or owner_actor,
            data=CustomerData(name=name),
            identity_keys=keys_of(**identities),
        )

    return make
