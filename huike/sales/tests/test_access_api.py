"""The sales access matrix, API half: every sales API operation (read from the OpenAPI schema)
against the people who must get nothing (the pages: test_access_pages; the seeded workspace
and helpers: test_access_support).

One workspace (Acme) is seeded through the services with a pipeline and its stages, a rep's
deal (with a contact, a product line and an activity), the rep's lead, task, customers (with
phone and email), order and target, a product, a scoring rule, an assignment rule, a web form
and the rep's notification. Then, with every response searched for what it may not show and
every row of Acme compared after each request:

- another workspace's admin, by API key and by session, and signed in on the pages, gets 404
  for every object of Acme, an empty list for collections, 422 for a body naming Acme's
  objects, 405 for a method a page does not take; nothing of Acme shows and no row changes;
- a second rep (not the owner, outside the team, shared nothing) gets 404 on the rep's deal,
  lead, task, order and target (403 where the role lacks the permission first); no list,
  board or report shows them, and nothing of them changes;
- a read-only member and a service agent get 403 on every write (404 for someone else's task
  or notification, which are theirs to manage only when theirs);
- finance sees the rep's customers' phones and emails masked or not at all, on every page and
  in every API response;
- the owner (admin) gets each request of the tables through, rolled back: so each denial above
  is the access rule's, not a malformed request's.

The tables classify every operation and page: a route added without a row fails
test_every_sales_operation_is_classified or test_every_sales_page_is_classified. A leak found
and fixed has its own tests at the end of test_access_pages (capturing a person whose open
lead is another rep's).
"""
# The fixtures are imported: `world` from test_access_support and those it builds on from
# test_orders_support (sales has no shared conftest); a test naming a fixture as its argument
# is what pytest wants, so F811 does not apply.
# ruff: noqa: F811

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from django.test import Client

from huike.accounts.models import Membership, Workspace
from huike.accounts.tests.api_support import JSON, key_client
from huike.sales.tests.test_access_support import (
    EMAIL,
    PHONE,
    PLAIN_CONTACT_DETAILS,
    Response,
    Watch,
    World,
    changes,
    no_problems,
    pipeline_query,
    ref,
    rolled_back,
    session,
    shown,
    snapshot,
    unpermitted,
    world,  # noqa: F401
)
from huike.sales.tests.test_orders_support import (  # noqa: F401
    agent,
    finance,
    other_rep,
    reader,
    rep,
    team,
)

pytestmark = pytest.mark.django_db


# --- the API table ---------------------------------------------------------------------------
Kind = Literal["record", "setting", "mine", "list", "refers", "own"]
"""What an operation acts on, which decides what the outsider gets:
record   a lead, deal, task, order or target of the rep named in the path → 404;
setting  a pipeline, stage, product, rule or form of Acme named in the path or query → 404;
mine     the rep's own notification → 404 (for everyone but the rep);
list     a read of the caller's workspace → 200 showing nothing of Acme;
refers   a write whose body names Acme's objects → 422 (the field is unknown), nothing made;
own      a write on the caller's own workspace or own rows, naming nothing of Acme: the status
         given as `outsider`, and Acme unchanged.
"""
Body = Callable[[World], dict[str, Any]] | None


@dataclass(frozen=True)
class Op:
    kind: Kind
    body: Body = None
    query: Callable[[World], str] | None = None
    # The path's ids, where not the defaults of PATH_IDS.
    ids: dict[str, Callable[[World], Any]] = field(default_factory=dict)
    # Statuses where not those the kind and method imply.
    outsider: int | None = None
    outsider_key: int | None = None  # where an API key (no member) differs from a session
    other_rep: int | None = None
    reader: int | None = None
    agent: int | None = None
    # The owner's status (the request is valid), and whether it writes something.
    ok: int | None = None
    writes: bool = True
    # Who proves the request valid: the owner, or the rep for the rep's own notification.
    control: Literal["owner", "rep"] = "owner"


def _member(world: World) -> str:
    return ref(world.rep)


PATH_IDS: dict[str, Callable[[World], Any]] = {
    "lead_id": lambda w: ref(w.lead),
    "deal_id": lambda w: ref(w.deal),
    "task_id": lambda w: ref(w.task),
    "order_id": lambda w: ref(w.order),
    "product_id": lambda w: ref(w.product),
    "target_id": lambda w: ref(w.target),
    "form_id": lambda w: ref(w.web_form),
    "notification_id": lambda w: ref(w.notification),
    "pipeline_id": lambda w: ref(w.pipeline),
    "stage_id": lambda w: ref(w.stage),
    "line_id": lambda w: w.line.pk,
    "customer_id": lambda w: ref(w.contact),
}
SCORING_RULE = {"rule_id": lambda w: ref(w.scoring_rule)}
ASSIGNMENT_RULE = {"rule_id": lambda w: ref(w.assignment_rule)}
LEAD_RECORD = {"record_id": lambda w: ref(w.lead)}
DEAL_RECORD = {"record_id": lambda w: ref(w.deal)}
SPARE_PIPELINE = {"pipeline_id": lambda w: ref(w.spare_pipeline)}
SPARE_STAGE = {**SPARE_PIPELINE, "stage_id": lambda w: ref(w.spare_stage)}


def _share(w: World) -> dict[str, Any]:
    return {"member_id": ref(w.other_rep)}


def _unshare(w: World) -> str:
    return f"member_id={ref(w.reader)}"


def _order_body(w: World) -> dict[str, Any]:
    return {
        "external_id": "MATRIX-1",
        "customer": {"id": ref(w.customer)},
        "lines": [{"name": "Widget", "quantity": "1", "unit_price": "5.00"}],
    }


STAGE_BODY = {"name": "Probe stage", "type": "open", "probability": 20}
API: dict[tuple[str, str], Op] = {
    # leads
    ("GET", "/api/v1/leads"): Op("list"),
    ("POST", "/api/v1/leads"): Op(
        "refers",
        lambda w: {"name": "Probe", "phone": PHONE, "email": EMAIL, "owner_id": _member(w)},
        other_rep=403,  # a lead for someone else needs leads.assign
    ),
    ("GET", "/api/v1/leads/{lead_id}"): Op("record"),
    ("PATCH", "/api/v1/leads/{lead_id}"): Op("record", lambda w: {"name": "Changed"}),
    ("DELETE", "/api/v1/leads/{lead_id}"): Op("record"),
    # The lead has an owner: even the admin's claim is a conflict (test_leads_api claims from
    # the pool); the path alone makes the request, so it is valid.
    ("POST", "/api/v1/leads/{lead_id}/claim"): Op("record", ok=409, writes=False),
    ("POST", "/api/v1/leads/{lead_id}/release"): Op(
        "record", lambda w: {"reason": "probe"}, ok=200
    ),
    ("POST", "/api/v1/leads/{lead_id}/assign"): Op(
        "record", lambda w: {"owner_id": ref(w.other_rep), "reason": "probe"}, other_rep=403, ok=200
    ),
    ("POST", "/api/v1/leads/{lead_id}/convert"): Op(
        "record", lambda w: {"pipeline_id": ref(w.pipeline)}, ok=200
    ),
    ("GET", "/api/v1/leads/{lead_id}/history"): Op("record"),
    ("GET", "/api/v1/leads/{lead_id}/score-history"): Op("record"),
    ("GET", "/api/v1/leads/{record_id}/shares"): Op("record", ids=LEAD_RECORD),
    ("POST", "/api/v1/leads/{record_id}/shares"): Op("record", _share, ids=LEAD_RECORD),
    ("DELETE", "/api/v1/leads/{record_id}/shares"): Op("record", query=_unshare, ids=LEAD_RECORD),
    # web forms and the pool settings (web forms and assignment rules need leads.configure,
    # which a rep lacks: 403 before any lookup)
    ("GET", "/api/v1/web-forms"): Op("list", other_rep=403),
    ("POST", "/api/v1/web-forms"): Op(
        "refers",
        lambda w: {"name": "Probe form", "fields": [{"name": "phone"}], "owner_id": _member(w)},
        other_rep=403,
    ),
    ("GET", "/api/v1/web-forms/{form_id}"): Op("setting", other_rep=403),
    ("PATCH", "/api/v1/web-forms/{form_id}"): Op("setting", lambda w: {"name": "Changed"}),
    ("DELETE", "/api/v1/web-forms/{form_id}"): Op("setting"),
    ("GET", "/api/v1/lead-settings"): Op("list"),
    ("PATCH", "/api/v1/lead-settings"): Op(
        "own", lambda w: {"claim_limit": 7, "follow_up_hours": 3}, outsider=200
    ),
    ("GET", "/api/v1/lead-settings/rep-limits"): Op("list", other_rep=403),
    ("PATCH", "/api/v1/lead-settings/rep-limits/{member_id}"): Op(
        "setting", lambda w: {"claim_limit": 5}, ids={"member_id": _member}
    ),
    # scoring
    ("GET", "/api/v1/lead-scoring-rules"): Op("list"),
    ("POST", "/api/v1/lead-scoring-rules"): Op(
        "own",
        lambda w: {"name": "Probe", "kind": "event", "points": 5, "event_kind": "page.viewed"},
        outsider=201,
    ),
    ("GET", "/api/v1/lead-scoring-rules/{rule_id}"): Op("setting", ids=SCORING_RULE),
    ("PATCH", "/api/v1/lead-scoring-rules/{rule_id}"): Op(
        "setting", lambda w: {"points": 7}, ids=SCORING_RULE
    ),
    ("DELETE", "/api/v1/lead-scoring-rules/{rule_id}"): Op("setting", ids=SCORING_RULE),
    ("GET", "/api/v1/lead-scoring/model"): Op("list"),
    # Training is enqueued (on commit, which a test transaction never reaches).
    ("POST", "/api/v1/lead-scoring/model/train"): Op("own", outsider=202, ok=202, writes=False),
    # assignment
    ("GET", "/api/v1/assignment-rules"): Op("list", other_rep=403),
    ("POST", "/api/v1/assignment-rules"): Op(
        "refers",
        lambda w: {"name": "Probe", "strategy": "round_robin", "member_ids": [_member(w)]},
        other_rep=403,
    ),
    # One rule in its own place, and an empty pool: valid requests that change nothing.
    ("POST", "/api/v1/assignment-rules/reorder"): Op(
        "refers", lambda w: {"ids": [ref(w.assignment_rule)]}, other_rep=403, ok=200, writes=False
    ),
    ("POST", "/api/v1/assignment-rules/assign-pool"): Op("own", outsider=200, ok=200, writes=False),
    ("GET", "/api/v1/assignment-rules/{rule_id}"): Op(
        "setting", ids=ASSIGNMENT_RULE, other_rep=403
    ),
    ("PATCH", "/api/v1/assignment-rules/{rule_id}"): Op(
        "setting", lambda w: {"name": "Changed"}, ids=ASSIGNMENT_RULE
    ),
    ("DELETE", "/api/v1/assignment-rules/{rule_id}"): Op("setting", ids=ASSIGNMENT_RULE),
    # pipelines and stages
    ("GET", "/api/v1/pipelines"): Op("list"),
    ("POST", "/api/v1/pipelines"): Op(
        "own", lambda w: {"name": "Probe", "stages": [STAGE_BODY]}, outsider=201
    ),
    ("GET", "/api/v1/pipelines/{pipeline_id}"): Op("setting"),
    ("PATCH", "/api/v1/pipelines/{pipeline_id}"): Op("setting", lambda w: {"name": "Changed"}),
    ("DELETE", "/api/v1/pipelines/{pipeline_id}"): Op("setting", ids=SPARE_PIPELINE),
    ("POST", "/api/v1/pipelines/{pipeline_id}/stages"): Op("setting", lambda w: STAGE_BODY),
    ("PATCH", "/api/v1/pipelines/{pipeline_id}/stages/{stage_id}"): Op(
        "setting", lambda w: {"name": "Changed", "probability": 15}
    ),
    ("DELETE", "/api/v1/pipelines/{pipeline_id}/stages/{stage_id}"): Op("setting", ids=SPARE_STAGE),
    # deals
    ("GET", "/api/v1/deals"): Op("list"),
    ("POST", "/api/v1/deals"): Op(
        "refers",
        lambda w: {
            "name": "Probe",
            "pipeline_id": ref(w.pipeline),
            "customer_id": ref(w.customer),
        },
    ),
    ("GET", "/api/v1/deals/{deal_id}"): Op("record"),
    ("PATCH", "/api/v1/deals/{deal_id}"): Op(
        "record", lambda w: {"stage_id": ref(w.next_stage), "name": "Changed"}
    ),
    ("DELETE", "/api/v1/deals/{deal_id}"): Op("record"),
    ("GET", "/api/v1/deals/{deal_id}/stage-history"): Op("record"),
    ("GET", "/api/v1/deals/{deal_id}/activities"): Op("record"),
    ("POST", "/api/v1/deals/{deal_id}/activities"): Op(
        "record", lambda w: {"type": "note", "subject": "Probe"}
    ),
    ("GET", "/api/v1/deals/{deal_id}/contacts"): Op("record"),
    ("POST", "/api/v1/deals/{deal_id}/contacts"): Op(
        "record", lambda w: {"customer_id": ref(w.contact), "role": "finance"}
    ),
    ("DELETE", "/api/v1/deals/{deal_id}/contacts/{customer_id}"): Op("record"),
    ("GET", "/api/v1/deals/{deal_id}/products"): Op("record"),
    ("POST", "/api/v1/deals/{deal_id}/products"): Op(
        "record", lambda w: {"product_id": ref(w.spare_product), "quantity": "1"}
    ),
    ("PATCH", "/api/v1/deals/{deal_id}/products/{line_id}"): Op(
        "record", lambda w: {"quantity": "3"}
    ),
    ("DELETE", "/api/v1/deals/{deal_id}/products/{line_id}"): Op("record"),
    ("GET", "/api/v1/deals/{record_id}/shares"): Op("record", ids=DEAL_RECORD),
    ("POST", "/api/v1/deals/{record_id}/shares"): Op("record", _share, ids=DEAL_RECORD),
    ("DELETE", "/api/v1/deals/{record_id}/shares"): Op("record", query=_unshare, ids=DEAL_RECORD),
    # tasks and notifications
    ("GET", "/api/v1/tasks"): Op("list"),
    ("POST", "/api/v1/tasks"): Op("refers", lambda w: {"title": "Probe", "deal_id": ref(w.deal)}),
    ("GET", "/api/v1/tasks/{task_id}"): Op("record"),
    # A service agent may manage tasks, their own: the rep's is not found.
    ("PATCH", "/api/v1/tasks/{task_id}"): Op("record", lambda w: {"title": "Changed"}, agent=404),
    ("DELETE", "/api/v1/tasks/{task_id}"): Op("record", agent=404),
    # Notifications belong to a member: an API key has none (403).
    ("GET", "/api/v1/notifications"): Op("list", outsider_key=403),
    ("POST", "/api/v1/notifications/read-all"): Op(
        "own",
        outsider=200,
        outsider_key=403,
        other_rep=200,
        reader=200,
        agent=200,
        ok=200,
        control="rep",
    ),
    ("POST", "/api/v1/notifications/{notification_id}/read"): Op(
        "mine", outsider_key=403, reader=404, agent=404, ok=200, control="rep"
    ),
    # products and orders
    ("GET", "/api/v1/products"): Op("list"),
    ("POST", "/api/v1/products"): Op(
        "own", lambda w: {"sku": "PROBE-1", "name": "Probe", "price": "1.00"}, outsider=201
    ),
    ("GET", "/api/v1/products/{product_id}"): Op("setting"),
    ("PATCH", "/api/v1/products/{product_id}"): Op("setting", lambda w: {"name": "Changed"}),
    ("DELETE", "/api/v1/products/{product_id}"): Op(
        "setting", ids={"product_id": lambda w: ref(w.spare_product)}
    ),
    ("GET", "/api/v1/orders"): Op("list"),
    # Orders are written with orders.manage (finance, managers), which a rep lacks.
    ("POST", "/api/v1/orders"): Op("refers", _order_body, other_rep=403),
    ("POST", "/api/v1/orders/bulk"): Op(
        "own", lambda w: {"orders": [_order_body(w)]}, outsider=200, ok=200
    ),
    ("GET", "/api/v1/orders/{order_id}"): Op("record"),
    ("PATCH", "/api/v1/orders/{order_id}"): Op(
        "record", lambda w: {"payment_status": "paid"}, other_rep=403
    ),
    # reports and targets
    ("GET", "/api/v1/funnel"): Op("setting", query=pipeline_query),
    ("GET", "/api/v1/forecast"): Op("setting", query=pipeline_query),
    ("GET", "/api/v1/sales-targets"): Op("list"),
    # Targets are set with targets.manage, which a rep lacks.
    ("POST", "/api/v1/sales-targets"): Op(
        "refers",
        lambda w: {"month": "2027-01-01", "membership_id": _member(w), "amount": "100"},
        other_rep=403,
    ),
    ("GET", "/api/v1/sales-targets/{target_id}"): Op("record"),
    ("PATCH", "/api/v1/sales-targets/{target_id}"): Op(
        "record", lambda w: {"amount": "200"}, other_rep=403
    ),
    ("DELETE", "/api/v1/sales-targets/{target_id}"): Op("record", other_rep=403),
}

# Operations under these first path segments are the sales API's; so is any operation of a
# huike.sales module (its operation id starts with the module's name).
SALES_SEGMENTS = {
    "leads",
    "web-forms",
    "lead-settings",
    "lead-scoring-rules",
    "lead-scoring",
    "assignment-rules",
    "pipelines",
    "deals",
    "tasks",
    "notifications",
    "products",
    "orders",
    "funnel",
    "forecast",
    "sales-targets",
}


def sales_operations() -> set[tuple[str, str]]:
    """(METHOD, path) of every sales operation in the OpenAPI schema (as the API serves it:
    the parts' tests do not import config)."""
    schema = Client().get("/api/v1/openapi.json").json()
    found = set()
    for path, operations in schema["paths"].items():
        segment = path.removeprefix("/api/v1/").split("/")[0]
        for method, operation in operations.items():
            if segment in SALES_SEGMENTS or operation["operationId"].startswith("huike_sales_"):
                found.add((method.upper(), path))
    return found


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    op: Op
    url: str
    body: dict[str, Any] | None

    @property
    def sent(self) -> str:
        return self.url + json.dumps(self.body or {})

    def send(self, client: Client) -> Response:
        call = getattr(client, self.method.lower())
        if self.body is None:
            return call(self.url)
        return call(self.url, self.body, content_type=JSON)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def api_requests(world: World) -> list[Request]:
    made = []
    for (method, path), op in API.items():
        ids = {**PATH_IDS, **op.ids}
        url = path
        for name in re.findall(r"{(\w+)}", path):
            url = url.replace(f"{{{name}}}", str(ids[name](world)))
        if op.query is not None:
            url += "?" + op.query(world)
        body = op.body(world) if op.body is not None else None
        made.append(Request(method, path, op, url, body))
    return made


def test_every_sales_operation_is_classified() -> None:
    # given
    enumerated = sales_operations()
    # then: a new route shows up as unclassified, a removed one as stale
    assert sorted(enumerated - API.keys()) == [], "sales operations missing from API"
    assert sorted(API.keys() - enumerated) == [], "rows of API that are no operation"


# --- the API, denied -------------------------------------------------------------------------
def _outsider_status(request: Request, by_key: bool) -> int:
    if by_key and request.op.outsider_key is not None:
        return request.op.outsider_key
    if request.op.kind in ("record", "setting", "mine"):
        return 404
    if request.op.kind == "list":
        return 200
    if request.op.kind == "refers":
        return 422
    assert request.op.outsider is not None, f"{request}: own needs the outsider's status"
    return request.op.outsider


def _denied_everywhere(client: Client, world: World, *, by_key: bool) -> list[str]:
    problems = []
    markers = world.markers()
    watch = Watch(world.workspace)
    for request in api_requests(world):
        response = request.send(client)
        expected = _outsider_status(request, by_key)
        if response.status_code != expected:
            problems.append(f"{request}: {response.status_code}, expected {expected}")
        if leaked := shown(response, markers, request.sent):
            problems.append(f"{request}: shows {leaked}")
        if changed := watch.changed():
            problems.append(f"{request}: changed Acme: {changed}")
    return problems


def test_other_workspace_api_key_gets_nothing_of_acme(
    world: World, other_workspace: Workspace
) -> None:
    # given: an admin key of Globex
    client = key_client(other_workspace, "admin")
    # when / then
    no_problems(_denied_everywhere(client, world, by_key=True))


def test_other_workspace_session_gets_nothing_of_acme_from_the_api(
    world: World, outsider: Membership
) -> None:
    no_problems(_denied_everywhere(session(outsider), world, by_key=False))


def _other_rep_status(request: Request) -> int:
    """A rep's reads of Acme's settings are 200, of the rep's records 404; writes of records
    404 (422 when a body names them), of settings 403 (a rep configures nothing)."""
    kind = request.op.kind
    if request.op.other_rep is not None:
        return request.op.other_rep
    if request.method == "GET":
        return 404 if kind == "record" else 200
    return {"record": 404, "mine": 404, "refers": 422}.get(kind, 403)


def test_second_rep_gets_nothing_of_the_reps_records_from_the_api(world: World) -> None:
    # given: a rep of the same workspace, outside the rep's team, shared nothing
    client = session(world.other_rep)
    markers = world.record_markers()
    problems = []
    watch = Watch(world.workspace)
    # when: every operation
    for request in api_requests(world):
        response = request.send(client)
        # then
        expected = _other_rep_status(request)
        if response.status_code != expected:
            problems.append(f"{request}: {response.status_code}, expected {expected}")
        if leaked := shown(response, markers, request.sent):
            problems.append(f"{request}: shows {leaked}")
        if changed := unpermitted(watch.changed(), expected):
            problems.append(f"{request}: changed {changed}")
    no_problems(problems)


def _writes_denied(client: Client, world: World, who: Literal["reader", "agent"]) -> list[str]:
    problems = []
    watch = Watch(world.workspace)
    for request in api_requests(world):
        if request.method == "GET":
            continue
        response = request.send(client)
        expected = getattr(request.op, who) or 403
        if response.status_code != expected:
            problems.append(f"{request}: {response.status_code}, expected {expected}")
        if changed := unpermitted(watch.changed(), expected):
            problems.append(f"{request}: changed {changed}")
    return problems


def test_read_only_member_may_write_nothing_through_the_api(world: World) -> None:
    no_problems(_writes_denied(session(world.reader), world, "reader"))


def test_service_agent_may_write_nothing_of_sales_through_the_api(world: World) -> None:
    no_problems(_writes_denied(session(world.agent), world, "agent"))


def test_finance_sees_no_contact_details_in_any_api_response(world: World) -> None:
    # given
    client = session(world.finance)
    problems = []
    statuses = {}
    # when: every read
    for request in api_requests(world):
        if request.method != "GET":
            continue
        response = request.send(client)
        statuses[str(request)] = response.status_code
        # then
        if plain := shown(response, set(PLAIN_CONTACT_DETAILS), request.sent):
            problems.append(f"{request}: shows {plain}")
    no_problems(problems)
    # finance does read the rep's deal, its contacts and the order (so the check saw them)
    assert [
        statuses[f"GET /api/v1/{path}"]
        for path in ("deals/{deal_id}", "deals/{deal_id}/contacts", "orders/{order_id}", "orders")
    ] == [200, 200, 200, 200]


def _control_status(request: Request) -> int:
    if request.op.ok is not None:
        return request.op.ok
    return {"GET": 200, "POST": 201, "PATCH": 200, "DELETE": 204}[request.method]


def test_owner_gets_every_request_of_the_table_through(world: World) -> None:
    """The control: the same requests by Acme's admin (the rep for their own notification)
    succeed and write, each rolled back; the denials above are the access rules'."""
    clients = {"owner": session(world.owner), "rep": session(world.rep)}
    problems = []
    before = snapshot(world.workspace)  # and after each request, rolled back
    for request in api_requests(world):
        with rolled_back():
            response = request.send(clients[request.op.control])
            after = snapshot(world.workspace)
        expected = _control_status(request)
        if response.status_code != expected:
            detail = response.content[:200].decode(errors="replace")
            problems.append(f"{request}: {response.status_code}, expected {expected}: {detail}")
        wrote = bool(changes(before, after))
        if request.method != "GET" and wrote != request.op.writes:
            problems.append(f"{request}: {'wrote' if wrote else 'wrote nothing'}")
        if request.method == "GET" and wrote:
            problems.append(f"{request}: a read wrote {changes(before, after)}")
    no_problems(problems)
