"""Lead services: capture through identity resolution (no duplicate people, no second open
lead), the pool (claims, the claim limit, releases, reassignment, the return of stale leads
through the periodic task), statuses and conversion without duplicates."""

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.utils import timezone

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.core.errors import ConflictError, InvalidInputError, PermissionDeniedError
from huike.core.models import OutboxMessage
from huike.customers.identities import identity_key
from huike.customers.models import Company, Customer, Event, LifecycleStage
from huike.customers.services import CustomerData, customer_create
from huike.sales import leads
from huike.sales.deals import pipeline_default
from huike.sales.leads import LeadData, SourceDetail
from huike.sales.models import Deal, Lead, LeadHistory, LeadSource, LeadStatus, Notification

pytestmark = pytest.mark.django_db


def _capture(workspace: Workspace, **values: object) -> Lead:
    return leads.lead_capture(
        workspace=workspace,
        source=LeadSource.WEB_FORM,
        data=LeadData(**values),  # type: ignore[arg-type]
    )


def _pool_lead(workspace: Workspace, phone: str = "13912345678", **values: object) -> Lead:
    lead = _capture(workspace, name="Wang Fang", phone=phone, **values)
    if "owner" not in values:
        assert lead.owner_id is None  # no assignment rule in these tests: it stays in the pool
    return lead


def _ago(hours: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(hours=hours)


# --- capture ---------------------------------------------------------------------------------
def test_capture_of_a_new_person_makes_a_customer_at_lifecycle_lead(workspace: Workspace) -> None:
    # when
    lead = _capture(
        workspace,
        name="Li Lei",
        email="Li.Lei@Example.com",
        company_name="Hanmei Tech",
        source_detail=SourceDetail(utm_source="baidu", utm_campaign="spring"),
    )
    # then
    customer = Customer.objects.get(pk=lead.customer_id)
    assert (customer.name, customer.lifecycle_stage) == ("Li Lei", LifecycleStage.LEAD)
    assert (lead.status, lead.source, lead.name, lead.company_name) == (
        LeadStatus.NEW,
        LeadSource.WEB_FORM,
        "Li Lei",
        "Hanmei Tech",
    )
    assert lead.source_detail == {"utm_source": "baidu", "utm_campaign": "spring"}
    assert list(lead.history.values_list("kind", flat=True)) == [LeadHistory.Kind.CREATED]
    event = Event.objects.get(customer=customer, kind="lead.created")
    assert event.properties["lead"] == str(lead.public_id)
    assert event.properties["utm_campaign"] == "spring"
    outbox = OutboxMessage.objects.get(workspace=workspace, kind="lead.created")
    assert outbox.payload["lead_id"] == lead.pk


def test_capture_with_a_known_phone_attaches_to_that_customer_without_a_second_lead(
    workspace: Workspace, owner_actor: Actor
) -> None:
    # given a customer we know, already a customer (further along than lead)
    known = customer_create(
        actor=owner_actor,
        data=CustomerData(name="Zhang Wei", lifecycle_stage=LifecycleStage.CUSTOMER),
        identity_keys=[identity_key("phone", "13700001111")],
    )
    first = _capture(workspace, name="Z. Wei", phone="+86 137 0000 1111")
    # when the same person fills in a form again
    second = _capture(
        workspace,
        phone="137-0000-1111",
        job_title="CTO",
        source_detail=SourceDetail(utm_source="wechat"),
    )
    # then
    assert first.customer_id == second.customer_id == known.pk
    assert second.pk == first.pk
    assert Lead.objects.filter(workspace=workspace).count() == 1
    assert Customer.objects.filter(workspace=workspace).count() == 1
    known.refresh_from_db()
    assert known.lifecycle_stage == LifecycleStage.CUSTOMER  # never backwards
    second.refresh_from_db()
    assert second.job_title == "CTO"  # a blank filled by the repeat
    assert [repeat["utm_source"] for repeat in second.source_detail["repeats"]] == ["wechat"]
    assert list(second.history.values_list("details__repeat", flat=True)) == [True, None]
    assert Event.objects.filter(customer=known, kind="lead.created").count() == 1


def test_capture_after_a_closed_lead_opens_a_new_one(
    workspace: Workspace, owner_actor: Actor
) -> None:
    # given
    first = _capture(workspace, phone="13700001111")
    leads.lead_status_set(actor=owner_actor, lead=first, status="unqualified", reason="Student")
    # when
    second = _capture(workspace, phone="13700001111")
    # then
    assert second.pk != first.pk
    assert second.customer_id == first.customer_id


def test_capture_refuses_a_bad_phone_naming_the_field_and_stores_nothing(
    workspace: Workspace,
) -> None:
    # when
    with pytest.raises(InvalidInputError) as raised:
        _capture(workspace, name="X", phone="not a phone")
    # then
    assert raised.value.field == "phone"
    assert not Lead.objects.exists()
    assert not Customer.objects.filter(workspace=workspace).exists()


def test_capture_without_any_contact_is_refused(workspace: Workspace) -> None:
    with pytest.raises(InvalidInputError) as raised:
        _capture(workspace, name="Nobody")
    assert raised.value.field == "phone"


def test_capture_with_an_owner_gives_it_to_them(workspace: Workspace, member: Membership) -> None:
    # when
    lead = _capture(workspace, phone="13700001111", owner=member)
    # then
    assert lead.owner_id == member.pk
    assert lead.assigned_at is not None
    assert list(lead.history.values_list("kind", flat=True)) == ["assigned", "created"]
    assert Notification.objects.get(recipient=member).kind == "lead.assigned"


def test_a_rep_capturing_a_person_whose_open_lead_is_another_reps_gets_a_conflict(
    workspace: Workspace, member: Membership, make_member: Callable[..., Membership]
) -> None:
    # given the member's open lead on a person
    lead = _capture(workspace, name="Wang Fang", phone="13700002222", owner=member)
    other = Actor.for_membership(make_member("other@acme.test", "sales"))
    history = lead.history.count()
    # when another rep enters the same phone
    with pytest.raises(ConflictError) as error:
        leads.lead_capture(
            workspace=workspace,
            source=LeadSource.MANUAL,
            data=LeadData(name="Probe", phone="137 0000 2222", company_name="Elsewhere"),
            actor=other,
        )
    # then nothing is recorded on the lead, and the error names the phone
    assert error.value.field == "phone"
    lead.refresh_from_db()
    assert "repeats" not in lead.source_detail
    assert lead.company_name == ""
    assert lead.history.count() == history
    # while its owner entering it again records the repeat as before
    again = leads.lead_capture(
        workspace=workspace,
        source=LeadSource.MANUAL,
        data=LeadData(name="Wang Fang", phone="13700002222"),
        actor=Actor.for_membership(member),
    )
    assert again.pk == lead.pk
    assert len(again.source_detail["repeats"]) == 1


# --- touch -----------------------------------------------------------------------------------
def test_touch_sets_first_contact_once_and_moves_last_activity_forward(
    workspace: Workspace,
) -> None:
    # given
    lead = _pool_lead(workspace)
    first, later, earlier = _ago(5), _ago(1), _ago(10)
    # when
    leads.lead_touch(lead=lead, at=first)
    leads.lead_touch(lead=lead, at=later)
    leads.lead_touch(lead=lead, at=earlier)
    # then
    lead.refresh_from_db()
    assert lead.first_contacted_at == first
    assert lead.last_activity_at == later


# --- claim, release, assign ------------------------------------------------------------------
def test_rep_claims_a_pool_lead(
    workspace: Workspace, member: Membership, member_actor: Actor
) -> None:
    # given
    lead = _pool_lead(workspace)
    # when
    leads.lead_claim(actor=member_actor, lead=lead)
    # then
    lead.refresh_from_db()
    assert lead.owner_id == member.pk
    history = lead.history.first()
    assert history is not None
    assert (history.kind, history.to_owner_id, history.actor_id) == (
        "claimed",
        member.pk,
        member.pk,
    )


def test_claim_beyond_the_claim_limit_is_refused_and_changes_nothing(
    workspace: Workspace, member_actor: Actor
) -> None:
    # given a limit of 1 and one held lead
    settings = leads.lead_settings(workspace)
    settings.claim_limit = 1
    settings.save()
    held = _pool_lead(workspace, phone="13811111111")
    leads.lead_claim(actor=member_actor, lead=held)
    other = _pool_lead(workspace, phone="13822222222")
    # when
    with pytest.raises(ConflictError):
        leads.lead_claim(actor=member_actor, lead=other)
    # then
    other.refresh_from_db()
    assert other.owner_id is None
    assert other.history.count() == 1


def test_claim_limit_counts_open_leads_only(workspace: Workspace, member_actor: Actor) -> None:
    # given
    settings = leads.lead_settings(workspace)
    settings.claim_limit = 1
    settings.save()
    held = _pool_lead(workspace, phone="13811111111")
    leads.lead_claim(actor=member_actor, lead=held)
    leads.lead_status_set(actor=member_actor, lead=held, status="unqualified", reason="Spam")
    other = _pool_lead(workspace, phone="13822222222")
    # when
    leads.lead_claim(actor=member_actor, lead=other)
    # then
    assert leads.claim_allowance(member_actor.membership) == (1, 1)  # type: ignore[arg-type]


def test_claiming_a_lead_someone_else_holds_is_a_conflict(
    workspace: Workspace, make_member: Callable[..., Membership], member_actor: Actor
) -> None:
    # given
    rival = Actor.for_membership(make_member("rival@acme.test"))
    lead = _pool_lead(workspace)
    leads.lead_claim(actor=rival, lead=lead)
    # when
    with pytest.raises(ConflictError):
        leads.lead_claim(actor=member_actor, lead=lead)
    # then
    lead.refresh_from_db()
    assert lead.owner_id == rival.membership.pk  # type: ignore[union-attr]


def test_release_by_the_owner_returns_it_to_the_pool(
    workspace: Workspace, member_actor: Actor
) -> None:
    # given
    lead = _pool_lead(workspace)
    leads.lead_claim(actor=member_actor, lead=lead)
    # when
    leads.lead_release(actor=member_actor, lead=lead, reason="Wrong region")
    # then
    lead.refresh_from_db()
    assert lead.owner_id is None
    history = lead.history.first()
    assert history is not None
    assert (history.kind, history.details) == ("released", {"reason": "Wrong region"})


def test_another_rep_cannot_release_or_change_a_lead(
    workspace: Workspace, make_member: Callable[..., Membership], member_actor: Actor
) -> None:
    # given
    rival = Actor.for_membership(make_member("rival@acme.test"))
    lead = _pool_lead(workspace)
    leads.lead_claim(actor=member_actor, lead=lead)
    # when / then
    with pytest.raises(PermissionDeniedError):
        leads.lead_release(actor=rival, lead=lead)
    with pytest.raises(PermissionDeniedError):
        leads.lead_status_set(actor=rival, lead=lead, status="contacted")
    lead.refresh_from_db()
    assert (lead.owner_id, lead.status) == (member_actor.membership.pk, "new")  # type: ignore[union-attr]


def test_pool_lead_must_be_claimed_before_its_status_changes(
    workspace: Workspace, member_actor: Actor
) -> None:
    lead = _pool_lead(workspace)
    with pytest.raises(PermissionDeniedError):
        leads.lead_status_set(actor=member_actor, lead=lead, status="contacted")


def test_manager_reassigns_with_history_and_a_notification(
    workspace: Workspace,
    owner_actor: Actor,
    member: Membership,
    make_member: Callable[..., Membership],
) -> None:
    # given
    rival = make_member("rival@acme.test")
    lead = _pool_lead(workspace, owner=rival)
    # when
    leads.lead_assign(actor=owner_actor, lead=lead, owner=member, reason="Speaks Cantonese")
    # then
    lead.refresh_from_db()
    assert lead.owner_id == member.pk
    history = lead.history.first()
    assert history is not None
    assert (history.kind, history.from_owner_id, history.to_owner_id, history.details) == (
        "assigned",
        rival.pk,
        member.pk,
        {"reason": "Speaks Cantonese"},
    )
    assert Notification.objects.filter(recipient=member, kind="lead.assigned").count() == 1


def test_a_rep_cannot_reassign(
    workspace: Workspace, member_actor: Actor, owner: Membership
) -> None:
    lead = _pool_lead(workspace)
    with pytest.raises(PermissionDeniedError):
        leads.lead_assign(actor=member_actor, lead=lead, owner=owner)
    lead.refresh_from_db()
    assert lead.owner_id is None


# --- the pool's return -----------------------------------------------------------------------
def test_stale_leads_return_to_the_pool_through_the_periodic_task(
    workspace: Workspace, member: Membership
) -> None:
    # given one lead untouched for 80 h, one followed up an hour ago, one just assigned
    from huike.sales.tasks_leads import return_stale_leads

    stale = _pool_lead(workspace, phone="13811111111", owner=member)
    followed = _pool_lead(workspace, phone="13822222222", owner=member)
    fresh = _pool_lead(workspace, phone="13833333333", owner=member)
    Lead.objects.filter(pk__in=[stale.pk, followed.pk]).update(assigned_at=_ago(80))
    leads.lead_touch(lead=followed, at=_ago(1))
    # when the job runs (twice: a retried run changes nothing more)
    assert return_stale_leads.call() == 1
    assert return_stale_leads.call() == 0
    # then
    stale.refresh_from_db()
    assert (stale.owner_id, stale.returned_to_pool_count, stale.assigned_at) == (None, 1, None)
    history = stale.history.first()
    assert history is not None
    assert (history.kind, history.from_owner_id, history.details) == (
        "returned",
        member.pk,
        {"follow_up_hours": 72},
    )
    notice = Notification.objects.get(recipient=member, kind="lead.returned")
    assert notice.url == f"/sales/leads/{stale.public_id}/"
    assert Lead.objects.get(pk=followed.pk).owner_id == member.pk
    assert Lead.objects.get(pk=fresh.pk).owner_id == member.pk


def test_return_is_off_at_zero_hours(workspace: Workspace, member: Membership) -> None:
    settings = leads.lead_settings(workspace)
    settings.follow_up_hours = 0
    settings.save()
    lead = _pool_lead(workspace, owner=member)
    Lead.objects.filter(pk=lead.pk).update(assigned_at=_ago(1000))
    assert leads.leads_return_stale(workspace.pk) == 0


# --- statuses --------------------------------------------------------------------------------
def test_unqualified_needs_a_reason(workspace: Workspace, owner_actor: Actor) -> None:
    # given
    lead = _pool_lead(workspace)
    # when
    with pytest.raises(InvalidInputError) as raised:
        leads.lead_status_set(actor=owner_actor, lead=lead, status="unqualified")
    # then
    assert raised.value.field == "reason"
    lead.refresh_from_db()
    assert lead.status == "new"


def test_status_changes_are_history_and_follow_ups(
    workspace: Workspace, member_actor: Actor
) -> None:
    # given
    lead = _pool_lead(workspace)
    leads.lead_claim(actor=member_actor, lead=lead)
    # when
    leads.lead_status_set(actor=member_actor, lead=lead, status="contacted")
    leads.lead_status_set(actor=member_actor, lead=lead, status="unqualified", reason="No budget")
    # then
    lead.refresh_from_db()
    assert (lead.status, lead.unqualified_reason) == ("unqualified", "No budget")
    assert lead.first_contacted_at is not None
    details = list(lead.history.filter(kind="status").values_list("details", flat=True))
    assert details == [
        {"from": "contacted", "to": "unqualified", "reason": "No budget"},
        {"from": "new", "to": "contacted"},
    ]


def test_converted_cannot_be_set_by_hand(workspace: Workspace, owner_actor: Actor) -> None:
    lead = _pool_lead(workspace)
    with pytest.raises(InvalidInputError):
        leads.lead_status_set(actor=owner_actor, lead=lead, status="converted")


# --- conversion ------------------------------------------------------------------------------
def test_conversion_links_company_and_customer_and_opens_one_deal(
    workspace: Workspace, owner_actor: Actor, member: Membership
) -> None:
    # given a lead of a loyal customer, and a company of that name already known
    company = Company.objects.create(workspace=workspace, name="Hanmei Tech")
    lead = _pool_lead(workspace, company_name="hanmei tech", owner=member)
    Customer.objects.filter(pk=lead.customer_id).update(lifecycle_stage=LifecycleStage.LOYAL)
    pipeline = pipeline_default(workspace)
    # when
    deal = leads.lead_convert(
        actor=owner_actor, lead=lead, pipeline=pipeline, deal_name="ERP", amount=Decimal("9800")
    )
    # then
    lead.refresh_from_db()
    assert (lead.status, lead.deal_id, lead.company_id) == ("converted", deal.pk, company.pk)
    assert lead.converted_at is not None
    assert (deal.name, deal.amount, deal.customer_id, deal.company_id, deal.lead_id) == (
        "ERP",
        Decimal("9800"),
        lead.customer_id,
        company.pk,
        lead.pk,
    )
    assert deal.owner_id == member.pk
    assert deal.stage.name == "Qualification"
    customer = Customer.objects.get(pk=lead.customer_id)
    assert (customer.company_id, customer.lifecycle_stage) == (company.pk, LifecycleStage.LOYAL)
    assert Company.objects.filter(workspace=workspace).count() == 1
    assert Event.objects.filter(customer=customer, kind="lead.converted").count() == 1
    assert OutboxMessage.objects.filter(kind="lead.converted").count() == 1
    # and converting again is refused, with no second deal
    with pytest.raises(ConflictError):
        leads.lead_convert(actor=owner_actor, lead=lead, pipeline=pipeline)
    assert Deal.objects.filter(workspace=workspace).count() == 1


def test_conversion_creates_the_company_once(workspace: Workspace, owner_actor: Actor) -> None:
    # given
    lead = _pool_lead(workspace, company_name="Kunlun Logistics", industry="Logistics")
    pipeline = pipeline_default(workspace)
    # when
    deal = leads.lead_convert(actor=owner_actor, lead=lead, pipeline=pipeline)
    # then
    company = Company.objects.get(workspace=workspace)
    assert (company.name, company.industry) == ("Kunlun Logistics", "Logistics")
    assert deal.company_id == company.pk
    assert deal.name == "Kunlun Logistics"
    lead.refresh_from_db()
    assert lead.owner_id == owner_actor.membership.pk  # type: ignore[union-attr]


def test_unqualified_lead_cannot_be_converted(workspace: Workspace, owner_actor: Actor) -> None:
    lead = _pool_lead(workspace)
    leads.lead_status_set(actor=owner_actor, lead=lead, status="unqualified", reason="Spam")
    with pytest.raises(ConflictError):
        leads.lead_convert(actor=owner_actor, lead=lead, pipeline=pipeline_default(workspace))
    assert not Deal.objects.exists()


def test_outsider_cannot_capture_into_another_workspace(
    workspace: Workspace, outsider_actor: Actor
) -> None:
    with pytest.raises(PermissionDeniedError):
        leads.lead_capture(
            workspace=workspace,
            source="manual",
            data=LeadData(phone="13700001111"),
            actor=outsider_actor,
        )
    assert not Lead.objects.exists()
