"""`/api/v1/assignment-rules`: create, read, list in order, change, delete, reorder and run over
the pool, for a role with leads.configure; refused (403, nothing changed) for a sales key, and
invisible (404 or 422, nothing changed) from another workspace."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from huike.accounts.models import Membership, Team, Workspace
from huike.accounts.tests import api_support
from huike.accounts.tests.api_support import JSON, key_client
from huike.sales.assignment import RuleConditions
from huike.sales.models import AssignmentRule
from huike.sales.tests import test_assignment_support as support
from huike.sales.tests.test_assignment_support import MakeLead, MakeRule, owner_of

admin = api_support.admin
fresh_rate_limits = api_support.fresh_rate_limits
make_lead = support.make_lead
make_rule = support.make_rule
team = support.team
ann = support.ann
bob = support.bob

URL = "/api/v1/assignment-rules"


def _member(member: Membership) -> dict[str, str]:
    return {"id": str(member.public_id), "email": member.user.email, "full_name": ""}


def _rules() -> list[tuple[str, int]]:
    return list(AssignmentRule.objects.order_by("position").values_list("name", "position"))


def test_admin_creates_reads_changes_and_deletes_a_rule(
    admin: Client, ann: Membership, bob: Membership, team: Team
) -> None:
    # when
    created = admin.post(
        URL,
        {
            "name": "Shanghai web leads",
            "conditions": {
                "regions": ["Shanghai", " shanghai ", "Suzhou"],
                "sources": ["web_form"],
                "min_score": 20,
            },
            "strategy": "least_load",
            "member_ids": [str(bob.public_id), str(ann.public_id)],
            "capacity": 30,
            "sla_minutes": 60,
        },
        JSON,
    )

    # then
    assert created.status_code == 201, created.content
    rule = AssignmentRule.objects.get()
    body = created.json()
    assert body == {
        "id": str(rule.public_id),
        "name": "Shanghai web leads",
        "position": 0,
        "is_active": True,
        "conditions": {
            "regions": ["Shanghai", "Suzhou"],
            "sources": ["web_form"],
            "industries": [],
            "languages": [],
            "min_score": 20,
            "max_score": None,
        },
        "strategy": "least_load",
        "owner": None,
        "members": [_member(ann), _member(bob)],
        "team": None,
        "capacity": 30,
        "sla_minutes": 60,
        "last_assigned": None,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }
    assert admin.get(f"{URL}/{rule.public_id}").json() == body

    # when: a partial change
    changed = admin.patch(
        f"{URL}/{rule.public_id}",
        {"strategy": "round_robin", "member_ids": [], "team_id": str(team.public_id)},
        JSON,
    )

    # then
    assert changed.status_code == 200, changed.content
    assert (changed.json()["strategy"], changed.json()["members"], changed.json()["team"]) == (
        "round_robin",
        [],
        {"id": str(team.public_id), "name": "East"},
    )
    assert changed.json()["conditions"]["regions"] == ["Shanghai", "Suzhou"]
    assert changed.json()["capacity"] == 30

    # when
    deleted = admin.delete(f"{URL}/{rule.public_id}")

    # then
    assert deleted.status_code == 204
    assert AssignmentRule.objects.count() == 0


def test_rules_are_listed_in_evaluation_order(
    admin: Client, make_rule: MakeRule, ann: Membership
) -> None:
    # given
    for name in ("First", "Second", "Third"):
        make_rule(name, "owner", owner=ann)

    # when
    first = admin.get(f"{URL}?limit=2").json()
    second = admin.get(f"{URL}?limit=2&cursor={first['next']}").json()

    # then
    assert [rule["name"] for rule in first["items"] + second["items"]] == [
        "First",
        "Second",
        "Third",
    ]
    assert second["next"] is None


def test_reorder_puts_the_named_rules_first(
    admin: Client, make_rule: MakeRule, ann: Membership
) -> None:
    # given
    a, _b, c = (make_rule(name, "owner", owner=ann) for name in ("A", "B", "C"))

    # when
    response = admin.post(f"{URL}/reorder", {"ids": [str(c.public_id), str(a.public_id)]}, JSON)

    # then
    assert response.status_code == 200, response.content
    assert [rule["name"] for rule in response.json()] == ["C", "A", "B"]
    assert _rules() == [("C", 0), ("A", 1), ("B", 2)]


def test_reorder_with_an_unknown_or_repeated_id_changes_nothing(
    admin: Client, make_rule: MakeRule, ann: Membership
) -> None:
    # given
    a, b = (make_rule(name, "owner", owner=ann) for name in ("A", "B"))

    # when
    unknown = admin.post(f"{URL}/reorder", {"ids": [str(b.public_id), str(Team().public_id)]}, JSON)
    repeated = admin.post(f"{URL}/reorder", {"ids": [str(b.public_id)] * 2}, JSON)

    # then
    assert (unknown.status_code, repeated.status_code) == (422, 422)
    assert unknown.json()["errors"][0]["field"] == "ids"
    assert _rules() == [("A", 0), ("B", 1)]
    assert a.pk != b.pk


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strategy": "owner"}, "owner_id"),
        ({"member_ids": []}, "member_ids"),
        ({"conditions": {"min_score": 50, "max_score": 10}}, "conditions.max_score"),
        ({"conditions": {"regions": ["x" * 101]}}, "conditions.regions"),
        ({"conditions": {"sources": ["fax"]}}, "conditions.sources.0"),
        ({"capacity": 0}, "capacity"),
        ({"sla_minutes": 60 * 24 * 31}, "sla_minutes"),
        ({"name": ""}, "name"),
    ],
)
def test_invalid_rules_are_refused_naming_the_field(
    admin: Client, ann: Membership, change: dict[str, Any], field: str
) -> None:
    # given
    payload = {"name": "Rule", "strategy": "round_robin", "member_ids": [str(ann.public_id)]}

    # when
    response = admin.post(URL, {**payload, **change}, JSON)

    # then
    assert response.status_code == 422, response.content
    assert response.json()["errors"][0]["field"] == field
    assert AssignmentRule.objects.count() == 0


def test_members_must_be_usable_members_of_the_workspace_who_work_leads(
    admin: Client,
    make_member: Callable[..., Membership],
    outsider: Membership,
    ann: Membership,
) -> None:
    # given
    agent = make_member("agent@acme.test", "service")  # service does not see leads
    invited = make_member("invited@acme.test", "sales")
    invited.accepted_at = None
    invited.save(update_fields=["accepted_at"])

    # when
    responses = [
        admin.post(
            URL,
            {"name": "Rule", "strategy": "round_robin", "member_ids": [str(member.public_id)]},
            JSON,
        )
        for member in (agent, invited, outsider)
    ]
    as_owner = admin.post(
        URL, {"name": "Rule", "strategy": "owner", "owner_id": str(agent.public_id)}, JSON
    )

    # then
    assert [response.status_code for response in responses] == [422, 422, 422]
    assert [response.json()["errors"][0]["field"] for response in responses] == ["member_ids"] * 3
    assert as_owner.status_code == 422
    assert as_owner.json()["errors"][0]["field"] == "owner_id"
    assert AssignmentRule.objects.count() == 0


def test_assign_pool_runs_the_rules_over_the_pool(
    admin: Client, make_lead: MakeLead, make_rule: MakeRule, ann: Membership
) -> None:
    # given
    leads = [make_lead(region=region) for region in ("Shanghai", "Beijing")]
    make_rule("Shanghai", "owner", RuleConditions(regions=("Shanghai",)), owner=ann)

    # when
    response = admin.post(f"{URL}/assign-pool")

    # then
    assert (response.status_code, response.json()) == (200, {"assigned": 1})
    assert [owner_of(lead) for lead in leads] == [ann, None]


# --- access ---------------------------------------------------------------------------------
def test_a_role_without_leads_configure_can_neither_read_nor_change_rules(
    workspace: Workspace, make_rule: MakeRule, make_lead: MakeLead, ann: Membership
) -> None:
    # given
    rule = make_rule("Ann", "owner", owner=ann)
    lead = make_lead()
    sales = key_client(workspace, "sales")
    detail = f"{URL}/{rule.public_id}"

    # when
    responses = [
        sales.get(URL),
        sales.get(detail),
        sales.post(
            URL, {"name": "Mine", "strategy": "owner", "owner_id": str(ann.public_id)}, JSON
        ),
        sales.patch(detail, {"name": "Changed"}, JSON),
        sales.delete(detail),
        sales.post(f"{URL}/reorder", {"ids": [str(rule.public_id)]}, JSON),
        sales.post(f"{URL}/assign-pool"),
    ]

    # then
    assert [response.status_code for response in responses] == [403] * 7
    assert _rules() == [("Ann", 0)]
    assert owner_of(lead) is None


def test_another_workspace_sees_and_changes_none_of_the_rules(
    other_workspace: Workspace, make_rule: MakeRule, make_lead: MakeLead, ann: Membership
) -> None:
    # given
    rule = make_rule("Ann", "owner", owner=ann)
    lead = make_lead()
    theirs = key_client(other_workspace)
    detail = f"{URL}/{rule.public_id}"

    # when
    listed = theirs.get(URL)
    responses = [
        theirs.get(detail),
        theirs.patch(detail, {"name": "Changed"}, JSON),
        theirs.delete(detail),
    ]
    reorder = theirs.post(f"{URL}/reorder", {"ids": [str(rule.public_id)]}, JSON)
    pool = theirs.post(f"{URL}/assign-pool")
    # a rule of their own cannot name our members
    borrowed = theirs.post(
        URL, {"name": "Borrowed", "strategy": "owner", "owner_id": str(ann.public_id)}, JSON
    )

    # then
    assert listed.json() == {"items": [], "next": None}
    assert [response.status_code for response in responses] == [404, 404, 404]
    assert reorder.status_code == 422
    assert (pool.status_code, pool.json()) == (200, {"assigned": 0})
    assert borrowed.status_code == 422
    assert _rules() == [("Ann", 0)]
    assert owner_of(lead) is None
