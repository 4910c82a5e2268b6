"""Claim limits per rep: a rep's own limit replaces the pool's for their claims and for the
assignment rules without a capacity of their own; set and cleared through the service, the
API and the lead settings page, by leads.configure only, for members of the workspace who
can hold leads."""

from collections.abc import Callable

import pytest
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.accounts.tests.api_support import JSON, key_client
from huike.core.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from huike.sales import leads
from huike.sales.assignment import rep_loads
from huike.sales.leads import LeadData
from huike.sales.models import Lead, LeadSettings, LeadSource, RepClaimLimit
from huike.sales.tests import test_assignment_support as support
from huike.sales.tests.test_assignment_support import MakeLead, MakeRule, assign

make_lead = support.make_lead
make_rule = support.make_rule
team = support.team
ann = support.ann
bob = support.bob

pytestmark = pytest.mark.django_db
BASE = "/api/v1/lead-settings/rep-limits"


def _pool_lead(workspace: Workspace, phone: str) -> Lead:
    lead = leads.lead_capture(
        workspace=workspace, source=LeadSource.WEB_FORM, data=LeadData(name="Li", phone=phone)
    )
    assert lead.owner_id is None
    return lead


def _claim_all(actor: Actor, workspace: Workspace, count: int, first_phone: int) -> int:
    """Claim `count` new pool leads one after the other; the number claimed before a refusal."""
    for number in range(count):
        lead = _pool_lead(workspace, f"139{first_phone + number:08d}")
        try:
            leads.lead_claim(actor=actor, lead=lead)
        except ConflictError:
            return number
    return count


# --- the service -----------------------------------------------------------------------------
def test_a_reps_own_limit_replaces_the_pools_for_their_claims_only(
    workspace: Workspace,
    owner_actor: Actor,
    member: Membership,
    member_actor: Actor,
    make_member: Callable[..., Membership],
) -> None:
    # given: the pool allows 3; the member may hold 1
    LeadSettings.objects.create(workspace=workspace, claim_limit=3)
    other = make_member("other@acme.test", "sales")
    leads.rep_claim_limit_set(actor=owner_actor, membership=member, claim_limit=1)
    # when
    claimed = _claim_all(member_actor, workspace, 2, 1)
    claimed_by_other = _claim_all(Actor.for_membership(other), workspace, 4, 100)
    # then
    assert (claimed, claimed_by_other) == (1, 3)
    assert leads.claim_allowance(member) == (1, 1)
    # when the own limit is cleared: the pool's applies again
    assert leads.rep_claim_limit_set(actor=owner_actor, membership=member, claim_limit=None) is None
    assert not RepClaimLimit.objects.exists()
    assert leads.claim_allowance(member) == (1, 3)
    assert _claim_all(member_actor, workspace, 3, 200) == 2


def test_a_limit_above_the_pools_lets_the_rep_hold_more(
    workspace: Workspace, owner_actor: Actor, member: Membership, member_actor: Actor
) -> None:
    # given
    LeadSettings.objects.create(workspace=workspace, claim_limit=1)
    leads.rep_claim_limit_set(actor=owner_actor, membership=member, claim_limit=3)
    # when / then
    assert _claim_all(member_actor, workspace, 4, 1) == 3


def test_lowering_a_limit_keeps_the_leads_held_and_stops_further_claims(
    workspace: Workspace, owner_actor: Actor, member: Membership, member_actor: Actor
) -> None:
    # given
    assert _claim_all(member_actor, workspace, 3, 1) == 3
    # when
    leads.rep_claim_limit_set(actor=owner_actor, membership=member, claim_limit=2)
    # then
    assert Lead.objects.filter(owner=member).count() == 3
    assert _claim_all(member_actor, workspace, 1, 50) == 0


@pytest.mark.parametrize("limit", [0, -1, 100_001])
def test_a_limit_out_of_range_is_refused_and_stores_nothing(
    owner_actor: Actor, member: Membership, limit: int
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        leads.rep_claim_limit_set(actor=owner_actor, membership=member, claim_limit=limit)
    assert caught.value.field == "claim_limit"
    assert not RepClaimLimit.objects.exists()


def test_only_leads_configure_sets_limits_and_only_for_its_own_reps(
    owner_actor: Actor,
    member: Membership,
    member_actor: Actor,
    outsider: Membership,
    outsider_actor: Actor,
    make_member: Callable[..., Membership],
) -> None:
    # a rep sets nobody's limit, not even their own
    with pytest.raises(PermissionDeniedError):
        leads.rep_claim_limit_set(actor=member_actor, membership=member, claim_limit=500)
    with pytest.raises(PermissionDeniedError):
        leads.rep_claims(member_actor)
    # another workspace's admin cannot reach Acme's rep
    with pytest.raises(NotFoundError):
        leads.rep_claim_limit_set(actor=outsider_actor, membership=member, claim_limit=5)
    # nor Acme's admin Globex's member
    with pytest.raises(NotFoundError):
        leads.rep_claim_limit_set(actor=owner_actor, membership=outsider, claim_limit=5)
    # a member who cannot hold leads gets no limit
    agent = make_member("agent@acme.test", "service")
    with pytest.raises(InvalidInputError):
        leads.rep_claim_limit_set(actor=owner_actor, membership=agent, claim_limit=5)
    assert not RepClaimLimit.objects.exists()
    assert agent.pk not in {rep.membership.pk for rep in leads.rep_claims(owner_actor)}


def test_rep_claims_lists_held_own_and_applying_limits(
    workspace: Workspace, owner_actor: Actor, member: Membership, member_actor: Actor
) -> None:
    # given
    LeadSettings.objects.create(workspace=workspace, claim_limit=9)
    _claim_all(member_actor, workspace, 2, 1)
    leads.rep_claim_limit_set(actor=owner_actor, membership=member, claim_limit=4)
    # when
    rows = {rep.membership.pk: rep for rep in leads.rep_claims(owner_actor)}
    # then
    mine = rows[member.pk]
    assert (mine.held, mine.own_limit, mine.limit) == (2, 4, 4)
    owner_row = rows[owner_actor.membership.pk]  # type: ignore[union-attr]
    assert (owner_row.held, owner_row.own_limit, owner_row.limit) == (0, None, 9)


# --- assignment ------------------------------------------------------------------------------
def test_rules_without_a_capacity_respect_each_reps_own_limit(
    workspace: Workspace,
    owner_actor: Actor,
    make_lead: MakeLead,
    make_rule: MakeRule,
    ann: Membership,
    bob: Membership,
) -> None:
    # given: the pool allows 5, Ann 1
    LeadSettings.objects.create(workspace=workspace, claim_limit=5)
    leads.rep_claim_limit_set(actor=owner_actor, membership=ann, claim_limit=1)
    make_rule("Round", "round_robin", members=[ann, bob])
    # when
    chosen = [assign(make_lead(f"Lead {number}")) for number in range(4)]
    # then: Ann once, then Bob each time
    assert chosen.count(ann) == 1
    assert chosen.count(bob) == 3
    loads = {load.membership.pk: load for load in rep_loads(workspace.pk)}
    assert (loads[ann.pk].capacity, loads[ann.pk].is_full) == (1, True)
    assert (loads[bob.pk].capacity, loads[bob.pk].is_full) == (5, False)


def test_a_rules_own_capacity_comes_before_the_reps_limit(
    owner_actor: Actor, make_lead: MakeLead, make_rule: MakeRule, ann: Membership
) -> None:
    # given
    leads.rep_claim_limit_set(actor=owner_actor, membership=ann, claim_limit=1)
    make_rule("Least", "least_load", members=[ann], capacity=2)
    # when
    chosen = [assign(make_lead(f"Lead {number}")) for number in range(3)]
    # then
    assert chosen == [ann, ann, None]


# --- the API ---------------------------------------------------------------------------------
def test_api_lists_sets_and_clears_a_reps_limit(
    workspace: Workspace, owner: Membership, member: Membership
) -> None:
    # given
    admin = key_client(workspace)
    # when
    response = admin.patch(f"{BASE}/{member.public_id}", {"claim_limit": 7}, content_type=JSON)
    # then
    assert response.status_code == 200, response.content
    assert response.json() == {
        "member": {
            "id": str(member.public_id),
            "email": member.user.email,
            "full_name": member.user.full_name,
        },
        "open_leads": 0,
        "own_limit": 7,
        "claim_limit": 7,
    }
    listed = {row["member"]["id"]: row for row in admin.get(BASE).json()}
    assert listed[str(member.public_id)]["own_limit"] == 7
    assert listed[str(owner.public_id)]["own_limit"] is None
    # when cleared
    response = admin.patch(f"{BASE}/{member.public_id}", {"claim_limit": None}, content_type=JSON)
    # then
    assert response.json()["own_limit"] is None
    assert response.json()["claim_limit"] == leads.lead_settings(workspace).claim_limit
    assert not RepClaimLimit.objects.exists()


def test_api_refuses_bad_limits_other_workspaces_and_roles_without_configure(
    workspace: Workspace, other_workspace: Workspace, member: Membership
) -> None:
    admin = key_client(workspace)
    zero = admin.patch(f"{BASE}/{member.public_id}", {"claim_limit": 0}, content_type=JSON)
    assert zero.status_code == 422
    missing = admin.patch(f"{BASE}/{member.public_id}", {}, content_type=JSON)
    assert missing.status_code == 422
    outsider = key_client(other_workspace)
    response = outsider.patch(f"{BASE}/{member.public_id}", {"claim_limit": 5}, content_type=JSON)
    assert response.status_code == 404
    assert str(member.public_id) not in outsider.get(BASE).content.decode()
    sales = key_client(workspace, "sales")
    assert sales.get(BASE).status_code == 403
    response = sales.patch(f"{BASE}/{member.public_id}", {"claim_limit": 5}, content_type=JSON)
    assert response.status_code == 403
    assert not RepClaimLimit.objects.exists()


# --- the page --------------------------------------------------------------------------------
def test_settings_page_sets_and_clears_limits_per_rep(
    workspace: Workspace, owner: Membership, member: Membership, owner_client: Client
) -> None:
    # given
    field = f"rep_{member.public_id.hex}"
    page = owner_client.get("/sales/leads/settings/").content.decode()
    assert f'name="{field}"' in page
    # when
    response = owner_client.post("/sales/leads/settings/", {"save_reps": "1", field: "12"})
    # then
    assert response.status_code == 302
    assert RepClaimLimit.objects.get(membership=member).claim_limit == 12
    assert leads.lead_settings(workspace).claim_limit == 200  # the pool's untouched
    # when cleared
    owner_client.post("/sales/leads/settings/", {"save_reps": "1", field: ""})
    assert not RepClaimLimit.objects.exists()


def test_settings_page_shows_a_bad_limit_next_to_the_rep_and_saves_nothing(
    member: Membership, owner: Membership, owner_client: Client
) -> None:
    # given
    good, bad = f"rep_{owner.public_id.hex}", f"rep_{member.public_id.hex}"
    # when
    response = owner_client.post("/sales/leads/settings/", {"save_reps": "1", good: "5", bad: "0"})
    # then
    assert response.status_code == 400
    assert "greater than or equal to 1" in response.content.decode()
    assert not RepClaimLimit.objects.exists()


def test_a_rep_cannot_post_limits_on_the_page(member: Membership, member_client: Client) -> None:
    response = member_client.post(
        "/sales/leads/settings/", {"save_reps": "1", f"rep_{member.public_id.hex}": "900"}
    )
    assert response.status_code == 403
    assert not RepClaimLimit.objects.exists()


def test_another_workspaces_admin_cannot_set_limits_of_our_reps_on_the_page(
    member: Membership, outsider_client: Client
) -> None:
    # when: Globex's admin posts a field naming Acme's rep on their own settings page
    response = outsider_client.post(
        "/sales/leads/settings/", {"save_reps": "1", f"rep_{member.public_id.hex}": "900"}
    )
    # then: their page knows only their own reps; nothing of Acme changes
    assert response.status_code == 302
    assert not RepClaimLimit.objects.exists()
    page = outsider_client.get("/sales/leads/settings/").content.decode()
    assert member.public_id.hex not in page
    assert member.user.email not in page
