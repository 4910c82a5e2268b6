"""Merge then unmerge restores both customers exactly: identities, events, tags, consents and
field values, including events that arrived through the absorbed identities after the merge."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huike.accounts.access import Actor
from huike.core.errors import ConflictError, PermissionDeniedError
from huike.customers.identities import identity_key
from huike.customers.ingest import events_ingest
from huike.customers.merging import customer_merge, customer_snapshot, customer_unmerge
from huike.customers.models import ConsentRecord, Customer, CustomerTag, Event, Identity, Tag
from huike.customers.services import (
    CustomerData,
    consent_record,
    customer_create,
    customer_tags_add,
    customer_update,
    tag_create,
)


def state(customer: Customer) -> dict:
    customer.refresh_from_db()
    return {
        "fields": customer_snapshot(customer),
        "status": customer.status,
        "identities": sorted(
            Identity.objects.filter(customer=customer).values_list("pk", flat=True)
        ),
        "events": sorted(Event.objects.filter(customer=customer).values_list("pk", flat=True)),
        "tags": sorted(
            CustomerTag.objects.filter(customer=customer).values_list("tag_id", flat=True)
        ),
        "consents": sorted(
            ConsentRecord.objects.filter(customer=customer).values_list("pk", flat=True)
        ),
    }


names = st.text(alphabet="abcdef 张王李", max_size=8)
tag_sets = st.sets(st.integers(min_value=0, max_value=3), max_size=4)
phones = st.lists(st.integers(min_value=0, max_value=4), unique=True, max_size=3)


@pytest.mark.django_db
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    survivor_name=names,
    absorbed_name=names,
    survivor_phones=phones,
    absorbed_phones=phones,
    survivor_tags=tag_sets,
    absorbed_tags=tag_sets,
    absorbed_events=st.integers(min_value=0, max_value=3),
    later_events=st.integers(min_value=0, max_value=2),
    stage=st.sampled_from(["visitor", "lead", "customer", "loyal"]),
)
def test_unmerge_restores_both_customers(
    owner_actor: Actor,
    survivor_name,
    absorbed_name,
    survivor_phones,
    absorbed_phones,
    survivor_tags,
    absorbed_tags,
    absorbed_events,
    later_events,
    stage,
):
    # given two customers with distinct phones, tags, events and consent
    Customer.objects.filter(workspace=owner_actor.workspace).delete()
    tags = {f"t{n}": _tag(owner_actor, f"t{n}") for n in range(4)}
    absorbed_phone_set = [p for p in absorbed_phones if p not in survivor_phones]
    survivor = customer_create(
        actor=owner_actor,
        data=CustomerData(name=survivor_name),
        identity_keys=[identity_key("phone", f"1381234{1000 + p}") for p in survivor_phones]
        + [identity_key("email", "s@example.org")],
    )
    absorbed = customer_create(
        actor=owner_actor,
        data=CustomerData(name=absorbed_name, lifecycle_stage=stage, address="上海市 1 号"),
        identity_keys=[identity_key("phone", f"1381234{1000 + p}") for p in absorbed_phone_set]
        + [identity_key("wechat_openid", "o-absorbed")],
    )
    customer_tags_add(
        actor=owner_actor, customers=[survivor], tags=[tags[f"t{n}"] for n in survivor_tags]
    )
    customer_tags_add(
        actor=owner_actor, customers=[absorbed], tags=[tags[f"t{n}"] for n in absorbed_tags]
    )
    consent_record(actor=owner_actor, customer=absorbed, purpose="marketing", status="granted")
    events_ingest(
        actor=owner_actor,
        items=[
            {
                "kind": "order.paid",
                "identities": {"wechat_openid": "o-absorbed"},
                "properties": {"amount": "10"},
            }
            for _ in range(absorbed_events)
        ],
    )
    before_survivor, before_absorbed = state(survivor), state(absorbed)
    # when merged, events arrive through the absorbed identity, and the merge is undone
    merge = customer_merge(actor=owner_actor, survivor=survivor, absorbed=absorbed)
    assert state(absorbed)["identities"] == []
    report = events_ingest(
        actor=owner_actor,
        items=[
            {"kind": "message.received", "identities": {"wechat_openid": "o-absorbed"}}
            for _ in range(later_events)
        ],
    )
    late_ids = {Event.objects.get(public_id=result.event_id).pk for result in report.results}
    assert all(Event.objects.get(pk=pk).customer_id == survivor.pk for pk in late_ids)
    customer_unmerge(actor=owner_actor, merge=merge)
    # then both are as before, and the late events are the absorbed customer's
    after_absorbed = state(absorbed)
    assert state(survivor) == before_survivor
    assert after_absorbed["events"] == sorted(set(before_absorbed["events"]) | late_ids)
    assert {k: v for k, v in after_absorbed.items() if k not in ("events", "fields")} == {
        k: v for k, v in before_absorbed.items() if k not in ("events", "fields")
    }
    changed = {
        name
        for name, value in after_absorbed["fields"].items()
        if before_absorbed["fields"][name] != value
    }
    # Only what the late events themselves change differs (the last interaction).
    assert changed <= {"last_interaction_at", "last_seen_at"}
    assert bool(changed) == bool(late_ids)


def _tag(actor, name):
    """The workspace's tag `name`, created on first use (examples share the database)."""
    existing = Tag.objects.filter(workspace=actor.workspace, name=name).first()
    return existing or tag_create(actor=actor, name=name)


def test_survivor_edits_after_the_merge_are_kept_by_unmerge(owner_actor):
    survivor = customer_create(actor=owner_actor, data=CustomerData(name=""))
    absorbed = customer_create(actor=owner_actor, data=CustomerData(name="Zhang Wei"))
    merge = customer_merge(actor=owner_actor, survivor=survivor, absorbed=absorbed)
    survivor.refresh_from_db()
    assert survivor.name == "Zhang Wei"
    customer_update(actor=owner_actor, customer=survivor, data=CustomerData(name="Wei Zhang"))
    customer_unmerge(actor=owner_actor, merge=merge)
    survivor.refresh_from_db()
    absorbed.refresh_from_db()
    assert survivor.name == "Wei Zhang"
    assert absorbed.name == "Zhang Wei"
    assert absorbed.status == Customer.Status.ACTIVE


def test_newest_merge_is_undone_first(owner_actor):
    a, b, c = (customer_create(actor=owner_actor, data=CustomerData(name=n)) for n in "abc")
    first = customer_merge(actor=owner_actor, survivor=a, absorbed=b)
    second = customer_merge(actor=owner_actor, survivor=c, absorbed=a)
    with pytest.raises(ConflictError):
        customer_unmerge(actor=owner_actor, merge=first)
    customer_unmerge(actor=owner_actor, merge=second)
    customer_unmerge(actor=owner_actor, merge=first)
    assert set(Customer.objects.values_list("status", flat=True)) == {"active"}
    with pytest.raises(ConflictError):
        customer_unmerge(actor=owner_actor, merge=first)


def test_member_without_merge_permission_cannot_merge(owner_actor, member_actor):
    a = customer_create(actor=member_actor, data=CustomerData(name="a"))
    b = customer_create(actor=member_actor, data=CustomerData(name="b"))
    with pytest.raises(PermissionDeniedError):
        customer_merge(actor=member_actor, survivor=a, absorbed=b)
    assert Customer.objects.filter(status="merged").count() == 0
