"""The sales access matrix: every sales API operation (read from the OpenAPI schema) and every
sales page (read from the "sales" URL namespace), each against the people who must get nothing.

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
and fixed has its own test at the end (capturing a person whose open lead is another
rep's).
"""
# The fixtures are imported from test_orders_support (sales has no shared conftest), and a
# test naming a fixture as its argument is what pytest wants: F811 does not apply.
# ruff: noqa: F401, F811

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from huike.accounts.access import Actor
from huike.accounts.models import Membership, RecordShare, Workspace
from huike.accounts.sharing import record_share
from huike.accounts.tests.api_support import JSON, key_client
from huike.core.masking import mask
from huike.customers.identities import identity_key
from huike.customers.models import Customer
from huike.customers.services import CustomerData, customer_create, customer_identity_add
from huike.sales.assignment import AssignmentRuleData, assignment_rule_create
from huike.sales.deals import (
    StageData,
    activity_log,
    deal_contact_set,
    deal_create,
    deal_product_add,
    pipeline_create,
)
from huike.sales.leads import LeadData, lead_capture, lead_settings
from huike.sales.models import (
    Activity,
    AssignmentRule,
    Deal,
    DealContact,
    DealProduct,
    Lead,
    LeadHistory,
    LeadSource,
    Notification,
    Order,
    Pipeline,
    Product,
    SalesTarget,
    ScoringRule,
    Stage,
    Task,
    WebForm,
)
from huike.sales.notifications import notify
from huike.sales.orders import ProductData, product_create
from huike.sales.scoring import ScoringRuleData, scoring_rule_create
from huike.sales.targets import target_create
from huike.sales.tasks_service import task_create
from huike.sales.tests.test_orders_support import (
    agent,
    finance,
    make_order,
    other_rep,
    reader,
    rep,
    team,
)
from huike.sales.web_forms import WebFormData, web_form_create

pytestmark = pytest.mark.django_db
Response = Any  # what the test client returns (an HttpResponse with the request's details)


class Public(Protocol):
    """A model named by its public id in URLs and bodies."""

    public_id: uuid.UUID


# The rep's customer's contact details, as stored (phone normalised to E.164) and as typed.
PHONE = "13912345671"
PHONE_E164 = "+8613912345671"
EMAIL = "zircon.lin@example.com"
CONTACT_PHONE = "13987654329"
CONTACT_EMAIL = "zircon.chen@example.com"
PLAIN_CONTACT_DETAILS = (
    PHONE,
    PHONE_E164,
    EMAIL,
    CONTACT_PHONE,
    "+86" + CONTACT_PHONE,
    CONTACT_EMAIL,
)
# Every record of the rep is named with RECORD_WORD and every setting of Acme with
# SETTING_WORD, so a response that shows one of them shows it by name.
RECORD_WORD = "Zircon"
SETTING_WORD = "Quartz"


# --- the seeded workspace --------------------------------------------------------------------
@dataclass(frozen=True)
class World:
    """Acme's people and objects. The rep owns the customers, deal, lead, task and order."""

    workspace: Workspace
    owner: Membership
    rep: Membership
    other_rep: Membership
    reader: Membership
    agent: Membership
    finance: Membership
    pipeline: Pipeline
    stage: Stage  # the deal's
    next_stage: Stage  # an open stage to move the deal to
    spare_pipeline: Pipeline  # no deals: a delete would go through
    spare_stage: Stage  # of the spare pipeline, no deals
    customer: Customer
    contact: Customer
    deal: Deal
    deal_contact: DealContact
    line: DealProduct
    activity: Activity
    lead: Lead
    task: Task
    product: Product
    spare_product: Product  # on no deal or order
    order: Order
    scoring_rule: ScoringRule
    assignment_rule: AssignmentRule
    target: SalesTarget
    web_form: WebForm
    notification: Notification

    def record_markers(self) -> set[str]:
        """What of the rep's records no one outside their reach may see."""
        records: list[Public] = [
            self.customer,
            self.contact,
            self.deal,
            self.activity,
            self.lead,
            self.task,
            self.order,
            self.target,
        ]
        return {RECORD_WORD} | {str(record.public_id) for record in records}

    def markers(self) -> set[str]:
        """What of Acme another workspace may not see."""
        settings: list[Public] = [
            self.pipeline,
            self.stage,
            self.next_stage,
            self.spare_pipeline,
            self.spare_stage,
            self.product,
            self.spare_product,
            self.scoring_rule,
            self.assignment_rule,
            self.web_form,
            self.notification,
        ]
        return (
            self.record_markers()
            | {SETTING_WORD}
            | {str(setting.public_id) for setting in settings}
            | {self.web_form.public_key}
        )


def _stage(pipeline: Pipeline, name: str) -> Stage:
    return Stage.objects.get(pipeline=pipeline, name=name)


def _customer(actor: Actor, rep: Membership, name: str, phone: str, email: str) -> Customer:
    customer = customer_create(actor=actor, data=CustomerData(name=name, owner=rep))
    customer_identity_add(actor=actor, customer=customer, key=identity_key("phone", phone))
    customer_identity_add(actor=actor, customer=customer, key=identity_key("email", email))
    return customer


@pytest.fixture
def world(
    workspace: Workspace,
    owner: Membership,
    owner_actor: Actor,
    rep: Membership,
    other_rep: Membership,
    reader: Membership,
    agent: Membership,
    finance: Membership,
) -> World:
    rep_actor = Actor.for_membership(rep)
    lead_settings(workspace)  # made on first read otherwise, which the snapshots would see
    stages = [
        StageData("New", "open", 10),
        StageData("Offer", "open", 50),
        StageData("Won", "won", 100),
        StageData("Lost", "lost", 0),
    ]
    pipeline = pipeline_create(actor=owner_actor, name=f"{SETTING_WORD} pipeline", stages=stages)
    spare_pipeline = pipeline_create(
        actor=owner_actor,
        name=f"{SETTING_WORD} spare",
        stages=[StageData("Open", "open", 10), *stages],
    )
    customer = _customer(owner_actor, rep, f"{RECORD_WORD} Lin", PHONE, EMAIL)
    contact = _customer(owner_actor, rep, f"{RECORD_WORD} Chen", CONTACT_PHONE, CONTACT_EMAIL)
    product = product_create(
        actor=owner_actor,
        data=ProductData(sku="QZ-1", name=f"{SETTING_WORD} widget", price="250.00"),
    )
    spare_product = product_create(
        actor=owner_actor,
        data=ProductData(sku="QZ-2", name=f"{SETTING_WORD} gadget", price="10.00"),
    )
    deal = deal_create(
        actor=owner_actor,
        pipeline=pipeline,
        name=f"{RECORD_WORD} rollout",
        customer=customer,
        owner=rep,
    )
    deal_contact = deal_contact_set(actor=rep_actor, deal=deal, customer=contact, role="champion")
    line = deal_product_add(actor=rep_actor, deal=deal, product=product, quantity=Decimal("2"))
    activity = activity_log(
        actor=rep_actor, kind="call", subject=f"{RECORD_WORD} kick-off call", deal=deal
    )
    lead = lead_capture(
        workspace=workspace,
        source=LeadSource.MANUAL,
        data=LeadData(name=f"{RECORD_WORD} Lin", phone=PHONE, owner=rep),
        actor=rep_actor,
    )
    task = task_create(actor=rep_actor, title=f"{RECORD_WORD} follow-up", deal=deal)
    order = make_order(owner_actor, customer, external_id="ZIRCON-1")
    for record in (deal, lead):
        record_share(actor=owner_actor, record=record, membership=reader)
    notification = notify(
        recipient=rep, kind="task.reminder", subject_key="matrix", title=f"{RECORD_WORD} due"
    )
    assert notification is not None
    world = World(
        workspace=workspace,
        owner=owner,
        rep=rep,
        other_rep=other_rep,
        reader=reader,
        agent=agent,
        finance=finance,
        pipeline=pipeline,
        stage=_stage(pipeline, "New"),
        next_stage=_stage(pipeline, "Offer"),
        spare_pipeline=spare_pipeline,
        spare_stage=_stage(spare_pipeline, "Open"),
        customer=customer,
        contact=contact,
        deal=deal,
        deal_contact=deal_contact,
        line=line,
        activity=activity,
        lead=lead,
        task=task,
        product=product,
        spare_product=spare_product,
        order=order,
        scoring_rule=scoring_rule_create(
            actor=owner_actor,
            data=ScoringRuleData(
                name=f"{SETTING_WORD} retail",
                kind="attribute",
                points=10,
                field="industry",
                operator="eq",
                value="Retail",
            ),
        ),
        assignment_rule=assignment_rule_create(
            actor=owner_actor,
            data=AssignmentRuleData(
                name=f"{SETTING_WORD} east", strategy="round_robin", members=[rep]
            ),
        ),
        target=target_create(
            actor=owner_actor, month=dt.date(2026, 12, 1), amount=Decimal("5000"), membership=rep
        ),
        web_form=web_form_create(actor=owner_actor, data=WebFormData(name=f"{SETTING_WORD} form")),
        notification=notification,
    )
    # the order and the lead are the rep's, of the rep's customer
    assert (order.owner_id, lead.owner_id, lead.customer_id) == (rep.pk, rep.pk, customer.pk)
    return world


# --- what changed ----------------------------------------------------------------------------
# The rows of a workspace in the sales and customers apps (every model there but two children
# of merges and imports has its own workspace column), and the record shares of accounts.
TRACKED: list[type[Model]] = [
    *(
        model
        for label in ("sales", "customers")
        for model in apps.get_app_config(label).get_models()
        if any(f.column == "workspace_id" for f in model._meta.concrete_fields)
    ),
    RecordShare,
]
Snapshot = dict[str, dict[Any, dict[str, Any]]]


def snapshot(workspace: Workspace) -> Snapshot:
    """Every row of the workspace in the tracked models, by model and primary key. Raw SQL:
    the matrix takes one after every request; through the ORM the module ran five times as
    long."""
    quote = connection.ops.quote_name
    taken: Snapshot = {}
    with connection.cursor() as cursor:
        for model in TRACKED:
            table = quote(model._meta.db_table)
            column = quote("workspace_id")
            cursor.execute(f"SELECT * FROM {table} WHERE {column} = %s", [workspace.pk])
            names = [described[0] for described in cursor.description]
            key = names.index(model._meta.pk.column)
            taken[model._meta.label] = {
                row[key]: dict(zip(names, row, strict=True)) for row in cursor
            }
    return taken


class Watch:
    """What each request changed in the workspace: the rows since the previous look."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.last = snapshot(workspace)

    def changed(self) -> list[str]:
        now = snapshot(self.workspace)
        found, self.last = changes(self.last, now), now
        return found


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """The rows added, removed or changed, readably: "sales.Deal 3: name 'a' → 'b'"."""
    found = []
    for label, rows in before.items():
        now = after[label]
        found += [f"+{label} {pk}" for pk in now.keys() - rows.keys()]
        found += [f"-{label} {pk}" for pk in rows.keys() - now.keys()]
        for pk in rows.keys() & now.keys():
            differ = [
                f"{name} {rows[pk][name]!r} → {now[pk][name]!r}"
                for name in rows[pk]
                if rows[pk][name] != now[pk][name]
            ]
            if differ:
                found.append(f"{label} {pk}: {', '.join(differ)}")
    return found


@contextmanager
def rolled_back() -> Iterator[None]:
    """Whatever the block writes is undone at its end (a savepoint rolled back)."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def shown(response: Response, markers: set[str], sent: str) -> list[str]:
    """The markers the response shows that the request did not send itself (a 404's problem
    document names the URL it was asked for)."""
    text = response.content.decode(errors="replace")
    return sorted(marker for marker in markers if marker in text and marker not in sent)


def no_problems(problems: list[str]) -> None:
    """Assert there are none, listing each on its own line if there are."""
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def session(membership: Membership) -> Client:
    client = Client(headers={"Accept-Language": "en"})
    client.force_login(membership.user)
    return client


def ref(obj: Public) -> str:
    return str(obj.public_id)


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


def _pipeline_query(w: World) -> str:
    return f"pipeline={ref(w.pipeline)}"


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
    ("GET", "/api/v1/funnel"): Op("setting", query=_pipeline_query),
    ("GET", "/api/v1/forecast"): Op("setting", query=_pipeline_query),
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


def unpermitted(changed: list[str], expected: int) -> list[str]:
    """The changes a request may not have made: any, when it is refused; when it is allowed
    (a member making their own task), any but new rows."""
    return [change for change in changed if expected >= 400 or not change.startswith("+")]


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


# --- the pages table -------------------------------------------------------------------------
Form = Callable[[World], dict[str, Any]]


@dataclass(frozen=True)
class Post:
    """One form posted to a page, and the statuses where not those its page's kind implies."""

    data: Form = lambda w: {}
    label: str = ""
    outsider: int | None = None  # required on a list page (a POST there makes something)
    other_rep: int | None = None
    reader: int | None = None
    agent: int | None = None
    ok: int = 302  # the owner's: saved, and sent on
    writes: bool = True


@dataclass(frozen=True)
class Page:
    kind: Literal["record", "setting", "mine", "list"]
    # The URL's arguments; None for a page without any.
    args: Callable[[World], list[Any]] | None = None
    get: bool = True  # False: POST only (a GET is 405)
    posts: tuple[Post, ...] = ()  # empty: GET only (a POST is 405)
    query: Callable[[World], str] | None = None  # of the GET
    outsider_get: int | None = None
    other_rep_get: int | None = None
    control: Literal["owner", "rep"] = "owner"


def _one(attribute: str) -> Callable[[World], list[Any]]:
    return lambda w: [getattr(w, attribute).public_id]


LEAD, DEAL, TASK, ORDER = _one("lead"), _one("deal"), _one("task"), _one("order")
ACTION = (Post(),)  # a button: posts nothing but the CSRF token


def _deal_form(w: World) -> dict[str, Any]:
    return {
        "name": "Changed",
        "pipeline": ref(w.pipeline),
        "stage": ref(w.stage),
        "amount": "10.00",
        "currency": "CNY",
        "customer": ref(w.customer),
        "forecast_category": "pipeline",
    }


def _stage_form(w: World, action: str) -> dict[str, Any]:
    pk = w.spare_stage.pk
    return {
        "action": action,
        "stage": pk,
        f"stage-{pk}-name": "Changed",
        f"stage-{pk}-kind": "open",
        f"stage-{pk}-probability": "15",
    }


SCORING_FORM = {"half_life_days": "0", "max_occurrences": "0", "is_active": "on"}
PAGES: dict[str, Page] = {
    # leads
    "lead_list": Page("list"),
    "lead_pool": Page("list"),
    "lead_create": Page(
        "list",
        posts=(
            # A new person's number: the rep's customer's is test_second_rep_capturing_...
            Post(
                lambda w: {
                    "name": "Probe",
                    "phone": "13700000001",
                    "owner": w.rep.pk,
                    "keep": "on",
                },
                outsider=200,  # the form again: Acme's rep is no choice
                other_rep=302,  # a lead they keep: without leads.assign there is no owner field
            ),
        ),
    ),
    "settings_leads": Page(
        "list",
        other_rep_get=403,
        posts=(Post(lambda w: {"claim_limit": "7", "follow_up_hours": "3"}, outsider=302),),
    ),
    "settings_web_form_create": Page(
        "list",
        other_rep_get=403,
        posts=(
            Post(
                lambda w: {"name": "Probe", "fields_asked": ["phone"], "owner": w.rep.pk},
                outsider=200,
            ),
        ),
    ),
    "settings_web_form": Page(
        "setting",
        _one("web_form"),
        other_rep_get=403,
        posts=(Post(lambda w: {"name": "Changed", "fields_asked": ["phone", "email"]}),),
    ),
    "settings_web_form_delete": Page("setting", _one("web_form"), get=False, posts=ACTION),
    "lead_detail": Page("record", LEAD),
    # The lead has an owner: the admin's claim is refused with a message (see the API's).
    "lead_claim": Page("record", LEAD, get=False, posts=(Post(writes=False),)),
    "lead_release": Page("record", LEAD, get=False, posts=(Post(lambda w: {"reason": "x"}),)),
    "lead_assign": Page(
        "record",
        LEAD,
        get=False,
        posts=(Post(lambda w: {"owner": w.other_rep.pk, "reason": "x"}, other_rep=403),),
    ),
    "lead_edit": Page("record", LEAD, get=False, posts=(Post(lambda w: {"name": "Changed"}),)),
    "lead_status": Page(
        "record", LEAD, get=False, posts=(Post(lambda w: {"status": "contacted"}),)
    ),
    "lead_convert": Page(
        "record", LEAD, get=False, posts=(Post(lambda w: {"pipeline": w.pipeline.pk}),)
    ),
    "lead_delete": Page("record", LEAD, get=False, posts=ACTION),
    # scoring
    "settings_scoring": Page(
        "list",
        other_rep_get=403,
        posts=(
            Post(
                lambda w: {
                    "name": "Probe",
                    "kind": "event",
                    "points": "5",
                    "event_kind": "page.viewed",
                    **SCORING_FORM,
                },
                outsider=302,
            ),
        ),
    ),
    "settings_scoring_thresholds": Page(
        "list",
        get=False,
        posts=(Post(lambda w: {"mql_threshold": "40", "sql_threshold": "70"}, outsider=302),),
    ),
    "settings_scoring_train": Page("list", get=False, posts=(Post(outsider=302, writes=False),)),
    "settings_scoring_rule": Page(
        "setting",
        _one("scoring_rule"),
        other_rep_get=403,
        posts=(
            Post(
                lambda w: {
                    "name": "Changed",
                    "kind": "attribute",
                    "points": "7",
                    "field": "industry",
                    "operator": "eq",
                    "value": "Retail",
                    **SCORING_FORM,
                }
            ),
        ),
    ),
    "settings_scoring_rule_activate": Page(
        "setting", _one("scoring_rule"), get=False, posts=(Post(lambda w: {"is_active": "0"}),)
    ),
    "settings_scoring_rule_delete": Page("setting", _one("scoring_rule"), get=False, posts=ACTION),
    # assignment
    "settings_assignment": Page(
        "list",
        other_rep_get=403,
        posts=(
            Post(
                lambda w: {"name": "Probe", "strategy": "round_robin", "members": [w.rep.pk]},
                outsider=200,
            ),
        ),
    ),
    "settings_assignment_pool": Page("list", get=False, posts=(Post(outsider=302, writes=False),)),
    "settings_assignment_rule": Page(
        "setting",
        _one("assignment_rule"),
        other_rep_get=403,
        posts=(
            Post(lambda w: {"name": "Changed", "strategy": "round_robin", "members": [w.rep.pk]}),
        ),
    ),
    "settings_assignment_rule_delete": Page(
        "setting", _one("assignment_rule"), get=False, posts=ACTION
    ),
    # The only rule cannot move: a valid request that changes nothing.
    "settings_assignment_rule_move": Page(
        "setting",
        _one("assignment_rule"),
        get=False,
        posts=(Post(lambda w: {"direction": "down"}, writes=False),),
    ),
    # pipelines and deals
    "pipeline_board": Page("list", query=_pipeline_query, outsider_get=404),
    "pipeline_board_column": Page("setting", _one("stage")),
    "deal_list": Page("list"),
    # The form again (400): the customer is no choice for the outsider nor the second rep.
    "deal_create": Page(
        "list",
        posts=(Post(lambda w: {**_deal_form(w), "name": "Probe"}, outsider=400, other_rep=400),),
    ),
    "deal_detail": Page("record", DEAL),
    "deal_edit": Page("record", DEAL, posts=(Post(_deal_form),)),
    "deal_move": Page(
        "record", DEAL, get=False, posts=(Post(lambda w: {"stage": ref(w.next_stage)}),)
    ),
    "deal_delete": Page("record", DEAL, get=False, posts=ACTION),
    "deal_activity_add": Page(
        "record", DEAL, get=False, posts=(Post(lambda w: {"kind": "note", "subject": "Probe"}),)
    ),
    "deal_contact_add": Page(
        "record",
        DEAL,
        get=False,
        posts=(Post(lambda w: {"customer": ref(w.contact), "role": "finance"}),),
    ),
    "deal_contact_remove": Page(
        "record", lambda w: [w.deal.public_id, w.deal_contact.pk], get=False, posts=ACTION
    ),
    "deal_product_add": Page(
        "record",
        DEAL,
        get=False,
        posts=(Post(lambda w: {"product": ref(w.spare_product), "quantity": "1"}),),
    ),
    "deal_product_remove": Page(
        "record", lambda w: [w.deal.public_id, w.line.pk], get=False, posts=ACTION
    ),
    "settings_pipelines": Page(
        "list",
        other_rep_get=403,
        posts=(Post(lambda w: {"name": "Probe", "currency": "CNY"}, outsider=302),),
    ),
    # Every action of the pipeline's settings page, on the pipeline without deals.
    "settings_pipeline": Page(
        "setting",
        _one("spare_pipeline"),
        other_rep_get=403,
        posts=(
            Post(lambda w: {"action": "save", "name": "Changed", "currency": "CNY"}, "save"),
            Post(
                lambda w: {"action": "add_stage", "name": "P", "kind": "open", "probability": "5"},
                "add_stage",
            ),
            Post(lambda w: _stage_form(w, "save_stage"), "save_stage"),
            Post(lambda w: _stage_form(w, "stage_down"), "stage_down"),
            Post(lambda w: _stage_form(w, "delete_stage"), "delete_stage"),
            Post(lambda w: {"action": "delete"}, "delete"),
        ),
    ),
    # tasks and notifications
    "task_list": Page("list"),
    "task_calendar": Page("list"),
    "task_create": Page(
        "list",
        posts=(
            # The form again (200): the deal is none the outsider or second rep may see.
            Post(
                lambda w: {"title": "Probe", "priority": "normal", "deal": ref(w.deal)},
                "about the deal",
                outsider=200,
                other_rep=200,
            ),
            # A member making their own task: the one write a service agent is allowed.
            Post(
                lambda w: {"quick": "1", "title": "Probe", "priority": "normal"},
                "quick",
                outsider=302,
                other_rep=302,
                agent=302,
            ),
        ),
    ),
    # A service agent may manage tasks, their own: the rep's is not found.
    "task_edit": Page(
        "record",
        TASK,
        posts=(Post(lambda w: {"title": "Changed", "priority": "high"}, agent=404),),
    ),
    "task_status": Page(
        "record", TASK, get=False, posts=(Post(lambda w: {"status": "done"}, agent=404),)
    ),
    "task_delete": Page("record", TASK, get=False, posts=(Post(agent=404),)),
    "notification_list": Page("list"),
    "notification_read_all": Page(
        "list",
        get=False,
        posts=(Post(outsider=302, other_rep=302, reader=302, agent=302),),
        control="rep",
    ),
    "notification_read": Page(
        "mine",
        _one("notification"),
        get=False,
        posts=(Post(reader=404, agent=404),),
        control="rep",
    ),
    # products and orders
    "product_list": Page("list"),
    "product_create": Page(
        "list",
        other_rep_get=403,
        posts=(
            Post(
                lambda w: {"sku": "PROBE-1", "name": "Probe", "price": "1.00", "currency": "CNY"},
                outsider=302,
            ),
        ),
    ),
    "product_edit": Page(
        "setting",
        _one("product"),
        other_rep_get=403,
        posts=(
            Post(
                lambda w: {"sku": "QZ-1", "name": "Changed", "price": "250.00", "currency": "CNY"}
            ),
        ),
    ),
    "product_active": Page("setting", _one("product"), get=False, posts=ACTION),
    "order_list": Page("list"),
    "order_detail": Page("record", ORDER),
    "order_change": Page(
        "record",
        ORDER,
        get=False,
        posts=(
            Post(lambda w: {"status": "confirmed"}, "status", other_rep=403),
            Post(lambda w: {"payment_status": "paid"}, "payment", other_rep=403),
        ),
    ),
    # reports and targets
    "funnel": Page("list", query=_pipeline_query, outsider_get=404),
    "forecast": Page("list", query=_pipeline_query, outsider_get=404),
    "settings_targets": Page(
        "list",
        other_rep_get=403,
        posts=(
            Post(
                lambda w: {
                    "month": "2027-01",
                    "membership": w.rep.pk,
                    "amount": "100",
                    "currency": "CNY",
                },
                outsider=200,
            ),
        ),
    ),
    "target_delete": Page("record", _one("target"), get=False, posts=(Post(other_rep=403),)),
}
# The embeddable lead form: no sign-in by design, found by its secret public key.
PUBLIC_PAGES = {"form_page", "form_embed", "form_config", "form_submit"}


def page_names(namespace: str) -> set[str]:
    """The names of every URL pattern in the namespace, however deep its includes."""

    def names(patterns: list[URLPattern | URLResolver]) -> Iterator[str]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from names(pattern.url_patterns)
            elif pattern.name:
                yield pattern.name

    _prefix, resolver = get_resolver().namespace_dict[namespace]
    return set(names(resolver.url_patterns))


def test_every_sales_page_is_classified() -> None:
    # given
    enumerated = page_names("sales")
    # then
    assert sorted(enumerated - PAGES.keys()) == [], "sales pages missing from PAGES"
    assert sorted(PAGES.keys() - enumerated) == [], "rows of PAGES that are no page"
    assert page_names("sales_public") == PUBLIC_PAGES


@dataclass(frozen=True)
class PageRequest:
    name: str
    page: Page
    method: Literal["GET", "POST"]
    url: str
    post: Post | None  # None: a GET (or a POST to a GET-only page, which is 405)
    htmx: bool = False  # asked by htmx: a list's partial (its results) instead of the page

    def __str__(self) -> str:
        label = f" ({self.post.label})" if self.post and self.post.label else ""
        return f"{self.method} {self.name}{label}{' (htmx)' if self.htmx else ''}"


def page_requests(world: World, *, wrong_methods: bool = False) -> list[tuple[PageRequest, Any]]:
    """Every page's GET (a list's also as htmx asks for it) and each of its forms, with the
    form's data; `wrong_methods` adds the method a page does not take (GET of a POST-only
    page, POST of a GET-only one)."""
    made: list[tuple[PageRequest, Any]] = []
    for name, page in PAGES.items():
        args = page.args(world) if page.args else []
        url = reverse(f"sales:{name}", args=args)
        if page.get:
            query = f"?{page.query(world)}" if page.query else ""
            made.append((PageRequest(name, page, "GET", url + query, None), None))
            if page.kind == "list":
                made.append((PageRequest(name, page, "GET", url + query, None, True), None))
        elif wrong_methods:
            made.append((PageRequest(name, page, "GET", url, None), None))
        for post in page.posts:
            made.append((PageRequest(name, page, "POST", url, post), post.data(world)))
        if not page.posts and wrong_methods:
            made.append((PageRequest(name, page, "POST", url, None), {}))
    return made


def _send_page(client: Client, request: PageRequest, data: Any) -> Response:
    headers = {"HX-Request": "true"} if request.htmx else {}
    if request.method == "GET":
        return client.get(request.url, headers=headers)
    return client.post(request.url, data, headers=headers)


# --- the pages, denied -----------------------------------------------------------------------
def _outsider_page_status(request: PageRequest) -> int:
    page, post = request.page, request.post
    if (request.method == "GET" and not page.get) or (request.method == "POST" and post is None):
        return 405
    if page.kind != "list":
        return 404
    if post is None:
        return page.outsider_get or 200
    assert post.outsider is not None, f"{request}: a list page's form needs the outsider's"
    return post.outsider


def test_other_workspace_member_gets_nothing_of_acme_from_the_pages(
    world: World, outsider: Membership
) -> None:
    # given: Globex's admin, signed in
    client = session(outsider)
    markers = world.markers()
    problems = []
    watch = Watch(world.workspace)
    # when: every page, every form, and the method each page does not take
    for request, data in page_requests(world, wrong_methods=True):
        response = _send_page(client, request, data)
        # then
        expected = _outsider_page_status(request)
        if response.status_code != expected:
            problems.append(f"{request}: {response.status_code}, expected {expected}")
        if leaked := shown(response, markers, request.url + json.dumps(data, default=str)):
            problems.append(f"{request}: shows {leaked}")
        if changed := watch.changed():
            problems.append(f"{request}: changed Acme: {changed}")
    no_problems(problems)


def test_second_rep_gets_nothing_of_the_reps_records_from_the_pages(world: World) -> None:
    # given
    client = session(world.other_rep)
    markers = world.record_markers()
    problems = []
    watch = Watch(world.workspace)
    # when: every page and form
    for request, data in page_requests(world):
        page, post = request.page, request.post
        response = _send_page(client, request, data)
        # then: as through the API (_other_rep_status)
        if post is not None:
            expected = post.other_rep or (404 if page.kind in ("record", "mine") else 403)
        else:
            expected = page.other_rep_get or (404 if page.kind == "record" else 200)
        if response.status_code != expected:
            problems.append(f"{request}: {response.status_code}, expected {expected}")
        if leaked := shown(response, markers, request.url + json.dumps(data, default=str)):
            problems.append(f"{request}: shows {leaked}")
        if changed := unpermitted(watch.changed(), expected):
            problems.append(f"{request}: changed {changed}")
    no_problems(problems)


def _page_writes_denied(client: Client, world: World, who: Literal["reader", "agent"]) -> list[str]:
    problems = []
    watch = Watch(world.workspace)
    for request, data in page_requests(world):
        if request.post is None:
            continue
        response = _send_page(client, request, data)
        expected = getattr(request.post, who) or 403
        if response.status_code != expected:
            problems.append(f"{request}: {response.status_code}, expected {expected}")
        if changed := unpermitted(watch.changed(), expected):
            problems.append(f"{request}: changed {changed}")
    return problems


def test_read_only_member_may_write_nothing_on_the_pages(world: World) -> None:
    no_problems(_page_writes_denied(session(world.reader), world, "reader"))


def test_service_agent_may_write_nothing_of_sales_on_the_pages(world: World) -> None:
    no_problems(_page_writes_denied(session(world.agent), world, "agent"))


def test_finance_sees_no_contact_details_on_any_page(world: World) -> None:
    # given
    client = session(world.finance)
    problems = []
    statuses = {}
    # when: every page finance may open
    for request, _data in page_requests(world):
        if request.method != "GET":
            continue
        response = _send_page(client, request, None)
        statuses[str(request)] = response.status_code
        # then
        if plain := shown(response, set(PLAIN_CONTACT_DETAILS), request.url):
            problems.append(f"{request}: shows {plain}")
    no_problems(problems)
    assert [statuses[f"GET {name}"] for name in ("deal_detail", "order_detail", "order_list")] == [
        200,
        200,
        200,
    ]


def test_deal_and_order_pages_show_finance_the_customer_masked(world: World) -> None:
    # given
    client = session(world.finance)
    # when
    deal = client.get(reverse("sales:deal_detail", args=[world.deal.public_id]))
    order = client.get(reverse("sales:order_detail", args=[world.order.public_id]))
    # then: the customer is named, their phone and email are not
    for response in (deal, order):
        text = response.content.decode()
        assert f"{RECORD_WORD} Lin" in text
        assert not [plain for plain in PLAIN_CONTACT_DETAILS if plain in text]


def test_owner_gets_every_page_and_form_of_the_table_through(world: World) -> None:
    """The control of the page tables: Acme's admin (the rep for their own notifications)
    opens every page and saves every form, each rolled back."""
    clients = {"owner": session(world.owner), "rep": session(world.rep)}
    problems = []
    before = snapshot(world.workspace)
    for request, data in page_requests(world):
        with rolled_back():
            response = _send_page(clients[request.page.control], request, data)
            after = snapshot(world.workspace)
        post = request.post
        expected = post.ok if post else 200
        if response.status_code != expected:
            problems.append(f"{request}: {response.status_code}, expected {expected}")
        wrote = bool(changes(before, after))
        if post is not None and wrote != post.writes:
            problems.append(f"{request}: {'wrote' if wrote else 'wrote nothing'}")
        if post is None and wrote:
            problems.append(f"{request}: a page view wrote {changes(before, after)}")
    no_problems(problems)


def test_finance_sees_the_reps_customer_masked_where_the_sales_panel_shows_them(
    world: World,
) -> None:
    """The customer's page (with its deals and orders panel) and the customer API do show
    contact details: to finance, masked."""
    # given
    client = session(world.finance)
    masked = [mask("phone", PHONE_E164), mask("email", EMAIL)]
    # when
    responses = [
        client.get(reverse("customers:customer_detail", args=[world.customer.public_id])),
        client.get(f"/api/v1/customers/{world.customer.public_id}"),
    ]
    # then
    for response in responses:
        text = response.content.decode()
        assert response.status_code == 200
        assert [value in text for value in masked] == [True, True]
        assert [plain for plain in PLAIN_CONTACT_DETAILS if plain in text] == []


def test_other_workspace_sending_acmes_contact_details_gets_a_customer_of_its_own(
    world: World, other_workspace: Workspace
) -> None:
    """The phone and email of Acme's customer, sent by Globex with a lead and an order,
    resolve to one new customer of Globex: nothing attaches to Acme's."""
    # given
    client = key_client(other_workspace, "admin")
    watch = Watch(world.workspace)
    contact = {"phone": PHONE, "email": EMAIL}
    # when
    lead = client.post("/api/v1/leads", {"name": "Probe", **contact}, content_type=JSON)
    order = client.post(
        "/api/v1/orders",
        {
            "external_id": "GLOBEX-1",
            "customer": contact,
            "lines": [{"name": "Widget", "quantity": "1", "unit_price": "5.00"}],
        },
        content_type=JSON,
    )
    # then
    assert (lead.status_code, order.status_code) == (201, 201)
    customer_id = lead.json()["customer"]["id"]
    assert order.json()["customer"]["id"] == customer_id
    assert Customer.objects.get(public_id=customer_id).workspace_id == other_workspace.pk
    assert shown(lead, world.markers(), "") + shown(order, world.markers(), "") == []
    assert watch.changed() == []


# --- capturing a person whose open lead is another rep's -------------------------------------
def test_second_rep_capturing_the_reps_customer_gets_nothing_of_their_lead(world: World) -> None:
    # given: the phone of the rep's customer, who has the rep's open lead
    client = session(world.other_rep)
    history = LeadHistory.objects.filter(lead=world.lead).count()
    # when
    response = client.post("/api/v1/leads", {"name": "Probe", "phone": PHONE}, content_type=JSON)
    # then: a conflict that shows nothing of the rep's lead, and records nothing on it
    assert response.status_code == 409
    assert shown(response, world.record_markers(), "") == []
    world.lead.refresh_from_db()
    assert "repeats" not in world.lead.source_detail
    assert LeadHistory.objects.filter(lead=world.lead).count() == history


def test_second_rep_capturing_the_reps_customer_is_not_sent_to_their_lead(world: World) -> None:
    # given
    client = session(world.other_rep)
    # when
    response = client.post(
        reverse("sales:lead_create"), {"name": "Probe", "phone": PHONE, "keep": "on"}
    )
    # then: the form again, saying why, and no way to the rep's lead
    assert response.status_code == 200
    assert "This person has an open lead you cannot see" in response.content.decode()
    assert str(world.lead.public_id) not in response.content.decode()


def test_public_lead_form_endpoints_need_the_forms_key() -> None:
    # given: a key that is no form's
    client = Client()
    # when / then
    assert [
        client.get(reverse(f"sales_public:{name}", args=["no-such-key"])).status_code
        for name in ("form_page", "form_embed", "form_config")
    ] == [404, 404, 404]
    submitted = client.post(reverse("sales_public:form_submit", args=["no-such-key"]), {})
    assert submitted.status_code == 404
