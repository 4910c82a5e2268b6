import pytest

from huike.accounts.access import Actor
from huike.core.crypto import workspace_keys
from huike.core.errors import InvalidInputError
from huike.customers.identities import identity_key, identity_value
from huike.customers.ingest import events_ingest
from huike.customers.models import Customer, CustomerMerge, Event, Identity, MergeCandidate
from huike.customers.resolution import (
    SKIPPED_ELSEWHERE,
    SKIPPED_JUNK,
    SKIPPED_UNVERIFIED,
    identity_resolve,
)
from huike.customers.tests.conftest import keys_of


def _identities_of(customer: Customer) -> list[tuple[str, str, bool]]:
    keys = workspace_keys(customer.workspace_id)
    return sorted(
        (identity.kind, identity_value(identity, keys), identity.is_verified)
        for identity in Identity.objects.filter(customer=customer)
    )


def test_unknown_identities_create_one_customer(workspace):
    # when
    result = identity_resolve(
        workspace_id=workspace.pk, identity_keys=keys_of(phone="138 1234 0001"), source="api"
    )
    # then
    assert result.is_new
    identity = Identity.objects.get(customer=result.customer)
    assert identity.kind == "phone"
    assert identity_value(identity, workspace_keys(workspace.pk)) == "+8613812340001"


def test_known_identity_finds_the_same_customer_and_attaches_new_keys(workspace, make_customer):
    customer = make_customer(phone="13812340002")
    # when
    result = identity_resolve(
        workspace_id=workspace.pk,
        identity_keys=keys_of(phone="+86 138-1234-0002", wechat_openid="oAbc"),
        source="wechat",
    )
    # then
    assert result.customer.pk == customer.pk
    assert not result.is_new
    assert sorted(Identity.objects.filter(customer=customer).values_list("kind", flat=True)) == [
        "phone",
        "wechat_openid",
    ]


def test_an_unverified_source_gives_a_known_customer_no_new_keys(workspace, make_customer):
    customer = make_customer(phone="13812340012")
    # when a source anyone can fill in names the phone and a new e-mail
    result = identity_resolve(
        workspace_id=workspace.pk,
        identity_keys=keys_of(phone="13812340012", email="someone.else@example.org"),
        source="web_form",
        verified=False,
    )
    # then it finds the customer but does not give them the e-mail
    assert result.customer.pk == customer.pk
    assert [(key.kind, reason) for key, reason in result.skipped] == [("email", SKIPPED_UNVERIFIED)]
    assert list(Identity.objects.filter(customer=customer).values_list("kind", flat=True)) == [
        "phone"
    ]


def test_a_typed_key_of_another_customer_neither_merges_nor_attaches(workspace, make_customer):
    known = make_customer(email="li.lei@example.org", phone="13812340021")
    visitor = identity_resolve(
        workspace_id=workspace.pk, identity_keys=keys_of(web_visitor_id="v-21"), source="web"
    ).customer
    # when the visitor types the known customer's e-mail
    result = identity_resolve(
        workspace_id=workspace.pk,
        identity_keys=keys_of(web_visitor_id="v-21"),
        unverified_keys=keys_of(email="Li.Lei@Example.org"),
        source="channel:webchat",
    )
    # then the visitor stays their own customer and a person is asked about the pair
    assert (result.customer.pk, result.is_new) == (visitor.pk, False)
    assert result.merges == []
    assert CustomerMerge.objects.count() == 0
    assert [(key.kind, key.value, reason) for key, reason in result.skipped] == [
        ("email", "li.lei@example.org", SKIPPED_ELSEWHERE)
    ]
    candidate = MergeCandidate.objects.get()
    assert result.candidates == [candidate]
    assert {candidate.first_id, candidate.second_id} == {known.pk, visitor.pk}
    assert (candidate.matched_kinds, candidate.source) == ("email", "channel:webchat")
    assert candidate.status == MergeCandidate.Status.OPEN
    known.refresh_from_db()
    visitor.refresh_from_db()
    assert (known.status, visitor.status) == (Customer.Status.ACTIVE, Customer.Status.ACTIVE)
    assert _identities_of(known) == [
        ("email", "li.lei@example.org", False),
        ("phone", "+8613812340021", False),
    ]
    assert _identities_of(visitor) == [("web_visitor_id", "v-21", False)]
    assert result.identity is not None
    assert result.identity.kind == "web_visitor_id"


def test_a_typed_key_nobody_holds_is_given_unverified_to_the_sources_customer(workspace):
    visitor = identity_resolve(
        workspace_id=workspace.pk, identity_keys=keys_of(web_visitor_id="v-22"), source="web"
    ).customer
    # when the visitor types a fresh e-mail, even one a caller wrongly marks verified
    result = identity_resolve(
        workspace_id=workspace.pk,
        identity_keys=keys_of(web_visitor_id="v-22"),
        unverified_keys=[identity_key("email", "fresh@example.org", is_verified=True)],
        source="channel:webchat",
    )
    # then the visitor's customer holds it, as an unverified e-mail
    assert result.customer.pk == visitor.pk
    assert [identity.kind for identity in result.attached] == ["email"]
    assert result.skipped == []
    assert _identities_of(visitor) == [
        ("email", "fresh@example.org", False),
        ("web_visitor_id", "v-22", False),
    ]
    # and the event still came through the visitor id
    assert result.identity is not None
    assert result.identity.kind == "web_visitor_id"


def test_a_new_source_key_with_a_known_typed_key_makes_a_customer_of_its_own(
    workspace, make_customer
):
    known = make_customer(phone="13812340023")
    # when a visitor nobody knows types the known customer's phone
    result = identity_resolve(
        workspace_id=workspace.pk,
        identity_keys=keys_of(web_visitor_id="v-23"),
        unverified_keys=keys_of(phone="138 1234 0023"),
        source="channel:webchat",
    )
    # then they are a new customer holding only their visitor id
    assert result.is_new
    assert result.customer.pk != known.pk
    assert _identities_of(result.customer) == [("web_visitor_id", "v-23", False)]
    assert _identities_of(known) == [("phone", "+8613812340023", False)]
    assert [(key.kind, reason) for key, reason in result.skipped] == [("phone", SKIPPED_ELSEWHERE)]
    candidate = MergeCandidate.objects.get()
    assert {candidate.first_id, candidate.second_id} == {known.pk, result.customer.pk}
    assert CustomerMerge.objects.count() == 0


def test_resolving_the_same_typed_keys_again_changes_nothing(workspace, make_customer):
    known = make_customer(email="known@example.org")
    arguments = {
        "workspace_id": workspace.pk,
        "identity_keys": keys_of(web_visitor_id="v-24"),
        "unverified_keys": keys_of(email="known@example.org", phone="13812340024"),
        "source": "channel:webchat",
    }
    first = identity_resolve(**arguments)
    # when the same keys come again
    again = identity_resolve(**arguments)
    # then the same customer is found, nothing is attached or queued twice
    assert (again.customer.pk, again.is_new) == (first.customer.pk, False)
    assert again.attached == []
    assert again.candidates == []
    assert [(key.kind, reason) for key, reason in again.skipped] == [("email", SKIPPED_ELSEWHERE)]
    assert MergeCandidate.objects.count() == 1
    assert _identities_of(first.customer) == [
        ("phone", "+8613812340024", False),
        ("web_visitor_id", "v-24", False),
    ]
    assert _identities_of(known) == [("email", "known@example.org", False)]


def test_typed_keys_of_an_unverified_source_go_to_a_new_customer_only(workspace, make_customer):
    customer = make_customer(phone="13812340025")
    # when an unverified source names the customer and a typed e-mail comes with it
    result = identity_resolve(
        workspace_id=workspace.pk,
        identity_keys=keys_of(phone="13812340025"),
        unverified_keys=keys_of(email="typed@example.org"),
        source="web_form",
        verified=False,
    )
    # then the e-mail is not given to them, as with every key of such a source
    assert result.customer.pk == customer.pk
    assert [(key.kind, reason) for key, reason in result.skipped] == [("email", SKIPPED_UNVERIFIED)]
    assert _identities_of(customer) == [("phone", "+8613812340025", False)]


def test_typed_keys_alone_are_no_usable_identity(workspace):
    with pytest.raises(InvalidInputError):
        identity_resolve(
            workspace_id=workspace.pk,
            identity_keys=keys_of(phone="13800000000"),
            unverified_keys=keys_of(email="someone@example.org"),
            source="channel:webchat",
        )
    assert Customer.objects.count() == 0


def test_junk_values_are_never_attached(workspace):
    with pytest.raises(InvalidInputError):
        identity_resolve(
            workspace_id=workspace.pk, identity_keys=keys_of(phone="13800000000"), source="form"
        )
    result = identity_resolve(
        workspace_id=workspace.pk,
        identity_keys=keys_of(phone="13800000000", email="real.person@example.org"),
        source="form",
    )
    assert [reason for _key, reason in result.skipped] == [SKIPPED_JUNK]
    assert list(
        Identity.objects.filter(customer=result.customer).values_list("kind", flat=True)
    ) == ["email"]


def test_weak_visitor_profile_is_merged_into_known_customer(workspace, make_customer):
    known = make_customer(phone="13812340003")
    visitor = identity_resolve(
        workspace_id=workspace.pk, identity_keys=keys_of(web_visitor_id="v-1"), source="web"
    ).customer
    # when the visitor leaves their phone number
    result = identity_resolve(
        workspace_id=workspace.pk,
        identity_keys=keys_of(web_visitor_id="v-1", phone="13812340003"),
        source="web",
    )
    # then
    assert result.customer.pk == known.pk
    visitor.refresh_from_db()
    assert visitor.status == Customer.Status.MERGED
    assert visitor.merged_into_id == known.pk
    assert CustomerMerge.objects.get().reason == CustomerMerge.Reason.RESOLUTION


def test_two_normal_matches_go_to_review_instead_of_merging(workspace, make_customer):
    first = make_customer(phone="13812340004")
    second = make_customer(email="second@example.org")
    result = identity_resolve(
        workspace_id=workspace.pk,
        identity_keys=keys_of(phone="13812340004", email="second@example.org"),
        source="form",
    )
    assert result.customer.pk == first.pk
    assert not result.merges
    candidate = MergeCandidate.objects.get()
    assert {candidate.first_id, candidate.second_id} == {first.pk, second.pk}
    # a second sighting does not queue the pair twice
    identity_resolve(
        workspace_id=workspace.pk,
        identity_keys=keys_of(phone="13812340004", email="second@example.org"),
        source="form",
    )
    assert MergeCandidate.objects.count() == 1


def test_batch_ingest_creates_events_and_deduplicates_by_id(workspace, owner_actor: Actor):
    items = [
        {"id": "e1", "kind": "page.viewed", "identities": {"web_visitor_id": "v-9"}},
        {"id": "e2", "kind": "page.viewed", "identities": {"web_visitor_id": "v-9"}},
        {
            "id": "e3",
            "kind": "order.paid",
            "identities": {"phone": "13812340005"},
            "properties": {"amount": "99.50"},
        },
        {"kind": "bad kind", "identities": {"phone": "13812340005"}},
        {"id": "e1", "kind": "page.viewed", "identities": {"web_visitor_id": "v-9"}},
    ]
    report = events_ingest(actor=owner_actor, items=items)
    assert [r.status for r in report.results] == [
        "created",
        "created",
        "created",
        "error",
        "duplicate",
    ]
    assert report.results[0].customer_id == report.results[1].customer_id
    assert report.results[0].customer_created
    assert not report.results[1].customer_created
    assert Event.objects.count() == 3
    buyer = Customer.objects.get(public_id=report.results[2].customer_id)
    assert buyer.order_count == 1
    assert str(buyer.total_spent) == "99.50"
    # the retry of the whole batch records nothing new
    again = events_ingest(actor=owner_actor, items=items)
    assert [r.status for r in again.results] == [
        "duplicate",
        "duplicate",
        "duplicate",
        "error",
        "duplicate",
    ]
    assert Event.objects.count() == 3


def test_batch_conflict_item_merges_and_later_items_follow(workspace, owner_actor, make_customer):
    known = make_customer(phone="13812340006")
    items = [
        {"kind": "page.viewed", "identities": {"web_visitor_id": "v-7"}},
        {"kind": "form.submitted", "identities": {"web_visitor_id": "v-7", "phone": "13812340006"}},
        {"kind": "page.viewed", "identities": {"web_visitor_id": "v-7"}},
    ]
    report = events_ingest(actor=owner_actor, items=items)
    assert [r.status for r in report.results] == ["created"] * 3
    assert report.results[1].customer_id == str(known.public_id)
    assert report.results[2].customer_id == str(known.public_id)
    assert (
        Event.objects.filter(customer=known, kind__in=["page.viewed", "form.submitted"]).count()
        == 3
    )


def test_rfm_job_lowers_recency_as_time_passes(workspace, owner_actor):
    import datetime as dt

    from django.utils import timezone

    from huike.customers.jobs import refresh_rfm_scores

    # given a purchase 100 days ago, scored when it was 10 days old
    paid = timezone.now() - dt.timedelta(days=100)
    report = events_ingest(
        actor=owner_actor,
        items=[
            {
                "kind": "order.paid",
                "occurred_at": paid.isoformat(),
                "identities": {"phone": "13812340007"},
                "properties": {"amount": "300"},
            }
        ],
    )
    customer = Customer.objects.get(public_id=report.results[0].customer_id)
    Customer.objects.filter(pk=customer.pk).update(rfm_recency=5)
    # when
    moved = refresh_rfm_scores.call()
    # then
    customer.refresh_from_db()
    assert moved == 1
    assert (customer.rfm_recency, customer.rfm_frequency, customer.rfm_monetary) == (3, 1, 2)


def test_identities_beyond_the_cap_are_skipped(workspace, owner_actor):
    from huike.customers.resolution import SKIPPED_CAP
    from huike.customers.services import customer_settings_update

    customer_settings_update(actor=owner_actor, identity_caps={"web_visitor_id": 2})
    first = identity_resolve(
        workspace_id=workspace.pk,
        identity_keys=keys_of(phone="13812340010", web_visitor_id="v-a"),
        source="web",
    ).customer
    identity_resolve(
        workspace_id=workspace.pk,
        identity_keys=[*keys_of(phone="13812340010"), identity_key("web_visitor_id", "v-b")],
        source="web",
    )
    # when a third visitor id arrives for the same person
    result = identity_resolve(
        workspace_id=workspace.pk,
        identity_keys=[*keys_of(phone="13812340010"), identity_key("web_visitor_id", "v-c")],
        source="web",
    )
    # then it is not attached
    assert [(key.value, reason) for key, reason in result.skipped] == [("v-c", SKIPPED_CAP)]
    assert Identity.objects.filter(customer=first, kind="web_visitor_id").count() == 2


def test_strong_matches_merge_only_when_the_workspace_allows_it(workspace, owner_actor):
    from huike.customers.services import customer_settings_update

    a = identity_resolve(
        workspace_id=workspace.pk, identity_keys=keys_of(wechat_unionid="u-1"), source="wechat"
    ).customer
    b = identity_resolve(
        workspace_id=workspace.pk,
        identity_keys=keys_of(wecom_external_userid="wm-1"),
        source="wecom",
    ).customer
    customer_settings_update(actor=owner_actor, auto_merge_strong=False)
    # when both strong keys arrive together
    held = identity_resolve(
        workspace_id=workspace.pk,
        identity_keys=keys_of(wechat_unionid="u-1", wecom_external_userid="wm-1"),
        source="wecom",
    )
    # then with automatic merging off the pair waits for review
    assert held.merges == []
    assert len(held.candidates) == 1
    customer_settings_update(actor=owner_actor, auto_merge_strong=True)
    merged = identity_resolve(
        workspace_id=workspace.pk,
        identity_keys=keys_of(wechat_unionid="u-1", wecom_external_userid="wm-1"),
        source="wecom",
    )
    assert [(m.survivor_id, m.absorbed_id) for m in merged.merges] == [(a.pk, b.pk)]
    assert MergeCandidate.objects.get().status == MergeCandidate.Status.MERGED


def test_a_dismissed_pair_is_not_suggested_again(workspace, owner_actor, make_customer):
    from huike.customers.merging import merge_candidate_dismiss

    make_customer(phone="13812340011")
    make_customer(email="other@example.org")
    keys = keys_of(phone="13812340011", email="other@example.org")
    identity_resolve(workspace_id=workspace.pk, identity_keys=keys, source="form")
    merge_candidate_dismiss(actor=owner_actor, candidate=MergeCandidate.objects.get())
    # when the same pair is seen again
    again = identity_resolve(workspace_id=workspace.pk, identity_keys=keys, source="form")
    # then nobody is asked twice
    assert again.candidates == []
    assert MergeCandidate.objects.filter(status=MergeCandidate.Status.OPEN).count() == 0


def test_verified_email_is_strong(workspace, make_customer):
    a = make_customer(wechat_unionid="u-9")
    b = make_customer(email="verified@example.org")
    result = identity_resolve(
        workspace_id=workspace.pk,
        identity_keys=[
            identity_key("wechat_unionid", "u-9"),
            identity_key("email", "verified@example.org", is_verified=True),
        ],
        source="login",
    )
    assert [(m.survivor_id, m.absorbed_id) for m in result.merges] == [(a.pk, b.pk)]


def test_batch_ingest_respects_the_cap_for_known_customers(workspace, owner_actor):
    from huike.customers.services import customer_settings_update

    customer_settings_update(actor=owner_actor, identity_caps={"web_visitor_id": 2})
    items = [
        {"kind": "page.viewed", "identities": {"phone": "13812340012", "web_visitor_id": f"w-{n}"}}
        for n in range(4)
    ]
    # when the first event creates the customer and the next ones bring more visitor ids
    report = events_ingest(actor=owner_actor, items=items[:1])
    events_ingest(actor=owner_actor, items=items[1:])
    # then the customer holds two, the cap, and every event is on its timeline
    customer = Customer.objects.get(public_id=report.results[0].customer_id)
    assert Identity.objects.filter(customer=customer, kind="web_visitor_id").count() == 2
    assert Event.objects.filter(customer=customer, kind="page.viewed").count() == 4
