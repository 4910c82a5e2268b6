"""Consent (services.consent_record, selectors.consent_current / consent_allows): opt-in by
default, the latest record for the channel or for any channel decides, and every record is
kept unchanged as evidence."""

import datetime as dt

import pytest

from huike.accounts.access import Actor
from huike.accounts.models import Role
from huike.accounts.services import api_key_create
from huike.core.errors import ConflictError, InvalidInputError, PermissionDeniedError
from huike.customers.merging import customer_merge
from huike.customers.models import ConsentRecord, Customer, Event
from huike.customers.selectors import ConsentState, consent_allows, consent_current
from huike.customers.services import CustomerData, consent_record, customer_create

T0 = dt.datetime(2024, 3, 5, 9, 0, tzinfo=dt.UTC)
GRANTED = ConsentRecord.Status.GRANTED
WITHDRAWN = ConsentRecord.Status.WITHDRAWN


@pytest.fixture
def customer(owner_actor: Actor) -> Customer:
    return customer_create(actor=owner_actor, data=CustomerData(name="Chen"))


def record(actor, customer, status, channel="any", minutes=0, purpose="marketing", **extra):
    return consent_record(
        actor=actor,
        customer=customer,
        purpose=purpose,
        status=status,
        channel=channel,
        recorded_at=T0 + dt.timedelta(minutes=minutes),
        **extra,
    )


def allows(customer: Customer) -> dict[str, bool]:
    return {channel: consent_allows(customer, "marketing", channel) for channel in ("sms", "email")}


def test_without_a_record_nothing_is_allowed(customer):
    assert allows(customer) == {"sms": False, "email": False}
    assert consent_allows(customer, "analytics", "web") is False
    assert consent_current(customer) == []


def test_a_grant_for_a_channel_allows_that_channel_only(owner_actor, customer):
    record(owner_actor, customer, GRANTED, channel="sms")
    assert allows(customer) == {"sms": True, "email": False}
    assert consent_allows(customer, "analytics", "sms") is False


def test_a_grant_for_any_channel_allows_every_channel(owner_actor, customer):
    record(owner_actor, customer, GRANTED)
    assert allows(customer) == {"sms": True, "email": True}


def test_a_later_withdrawal_for_any_channel_overrides_a_channel_grant(owner_actor, customer):
    record(owner_actor, customer, GRANTED, channel="sms", minutes=0)
    record(owner_actor, customer, WITHDRAWN, minutes=1)
    assert allows(customer) == {"sms": False, "email": False}


def test_a_later_channel_grant_after_a_withdrawal_for_any_allows_that_channel(
    owner_actor, customer
):
    record(owner_actor, customer, GRANTED, minutes=0)
    record(owner_actor, customer, WITHDRAWN, minutes=1)
    record(owner_actor, customer, GRANTED, channel="sms", minutes=2)
    assert allows(customer) == {"sms": True, "email": False}


def test_a_later_channel_withdrawal_leaves_the_other_channels_granted(owner_actor, customer):
    record(owner_actor, customer, GRANTED, minutes=0)
    record(owner_actor, customer, WITHDRAWN, channel="sms", minutes=1)
    assert allows(customer) == {"sms": False, "email": True}


def test_a_record_entered_late_for_an_earlier_time_does_not_override(owner_actor, customer):
    # given the customer withdrew at 09:10
    record(owner_actor, customer, WITHDRAWN, minutes=10)
    # when a paper form from 09:00 granting consent is entered afterwards
    record(owner_actor, customer, GRANTED, minutes=0)
    # then the withdrawal, which is later, still decides
    assert allows(customer) == {"sms": False, "email": False}


def test_records_at_the_same_moment_are_decided_by_the_later_entry(owner_actor, customer):
    record(owner_actor, customer, GRANTED, minutes=0)
    record(owner_actor, customer, WITHDRAWN, minutes=0)
    assert allows(customer) == {"sms": False, "email": False}


def test_current_consent_is_the_latest_record_per_purpose_and_channel(owner_actor, customer):
    record(owner_actor, customer, GRANTED, channel="sms", minutes=0, source="form")
    record(owner_actor, customer, WITHDRAWN, channel="sms", minutes=5, source="sms STOP")
    record(owner_actor, customer, GRANTED, channel="any", minutes=1, purpose="third_party")
    record(owner_actor, customer, GRANTED, channel="email", minutes=2, evidence="double opt-in")
    record(owner_actor, customer, GRANTED, channel="web", minutes=3, purpose="analytics")
    # then: purposes in their declared order, channels by name
    assert consent_current(customer) == [
        ConsentState(
            "marketing", "email", GRANTED, T0 + dt.timedelta(minutes=2), "", "double opt-in"
        ),
        ConsentState("marketing", "sms", WITHDRAWN, T0 + dt.timedelta(minutes=5), "sms STOP", ""),
        ConsentState("analytics", "web", GRANTED, T0 + dt.timedelta(minutes=3), "", ""),
        ConsentState("third_party", "any", GRANTED, T0 + dt.timedelta(minutes=1), "", ""),
    ]


def test_every_record_is_kept_unchanged(owner_actor, customer):
    first = record(owner_actor, customer, GRANTED, channel="sms", minutes=0, source="form")
    record(owner_actor, customer, WITHDRAWN, minutes=1, source="unsubscribe link")
    record(owner_actor, customer, GRANTED, channel="sms", minutes=2, source="form")
    # then
    assert list(
        ConsentRecord.objects.filter(customer=customer)
        .order_by("recorded_at")
        .values_list("channel", "status", "source", "recorded_at")
    ) == [
        ("sms", GRANTED, "form", T0),
        ("any", WITHDRAWN, "unsubscribe link", T0 + dt.timedelta(minutes=1)),
        ("sms", GRANTED, "form", T0 + dt.timedelta(minutes=2)),
    ]
    first.refresh_from_db()
    assert (first.status, first.recorded_by_id) == (GRANTED, owner_actor.membership.pk)


def test_each_record_is_an_event_on_the_timeline(owner_actor, customer):
    record(owner_actor, customer, GRANTED, channel=" sms ", source="form")
    record(None, customer, WITHDRAWN, source="unsubscribe link")
    assert list(
        Event.objects.filter(customer=customer, kind__startswith="consent.")
        .order_by("pk")
        .values_list("kind", "channel", "properties", "source")
    ) == [
        ("consent.granted", "sms", {"purpose": "marketing", "source": "form"}, "form"),
        (
            "consent.withdrawn",
            "",
            {"purpose": "marketing", "source": "unsubscribe link"},
            "unsubscribe link",
        ),
    ]


def test_the_customers_own_action_is_recorded_without_a_member(customer):
    withdrawal = record(None, customer, WITHDRAWN, evidence="STOP", source="sms")
    assert (withdrawal.recorded_by_id, withdrawal.evidence, withdrawal.channel) == (
        None,
        "STOP",
        "any",
    )


def test_long_source_and_evidence_are_cut(owner_actor, customer):
    saved = record(owner_actor, customer, GRANTED, source="s" * 150, evidence="e" * 6000)
    saved.refresh_from_db()
    assert (len(saved.source), len(saved.evidence)) == (100, 5000)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"purpose": "spam"}, "purpose"),
        ({"status": "maybe"}, "status"),
        ({"channel": "x" * 41}, "channel"),
    ],
)
def test_bad_consent_is_refused_and_nothing_is_recorded(owner_actor, customer, changes, field):
    arguments = {"purpose": "marketing", "status": GRANTED, "channel": "sms", **changes}
    events = Event.objects.count()
    with pytest.raises(InvalidInputError) as raised:
        consent_record(actor=owner_actor, customer=customer, **arguments)
    assert raised.value.field == field
    assert ConsentRecord.objects.count() == 0
    assert Event.objects.count() == events


@pytest.mark.parametrize("role", ["analyst", "read_only", "finance"])
def test_a_role_without_manage_cannot_record_consent(make_member, customer, role):
    actor = Actor.for_membership(make_member(f"{role}@acme.test", role))
    events = Event.objects.count()
    with pytest.raises(PermissionDeniedError):
        record(actor, customer, GRANTED)
    assert ConsentRecord.objects.count() == 0
    assert Event.objects.count() == events


def test_consent_for_a_merged_customer_is_refused(owner_actor, customer):
    survivor = customer_create(actor=owner_actor, data=CustomerData(name="Survivor"))
    customer_merge(actor=owner_actor, survivor=survivor, absorbed=customer)
    customer.refresh_from_db()
    # when: a withdrawal on the absorbed row would never reach the survivor's marketing
    with pytest.raises(ConflictError) as raised:
        record(owner_actor, customer, WITHDRAWN)
    # then
    assert raised.value.detail == "This customer was merged into another one."
    assert ConsentRecord.objects.count() == 0


def test_consents_of_one_customer_say_nothing_about_another(owner_actor, customer):
    other = customer_create(actor=owner_actor, data=CustomerData(name="Other"))
    record(owner_actor, customer, GRANTED)
    assert allows(other) == {"sms": False, "email": False}
    assert consent_current(other) == []


def test_consent_recorded_through_an_api_key_names_no_member(owner_actor, customer):
    issued = api_key_create(
        actor=owner_actor,
        workspace=owner_actor.workspace,
        name="Shop",
        role=Role.objects.get(workspace=owner_actor.workspace, key="manager"),
    )
    key_actor = Actor.for_api_key(issued.api_key)
    saved = record(key_actor, customer, GRANTED, channel="email", source="shop checkout")
    assert saved.recorded_by_id is None
    assert consent_allows(customer, "marketing", "email") is True


def test_channels_are_one_spelling_whatever_the_case_and_spaces(owner_actor, customer):
    consent_record(
        actor=owner_actor, customer=customer, purpose="marketing", status="granted", channel=" SMS "
    )
    assert ConsentRecord.objects.get(customer=customer).channel == "sms"
    assert consent_allows(customer, "marketing", "sms")
    assert consent_allows(customer, "marketing", "SMS")
    assert not consent_allows(customer, "marketing", "email")
