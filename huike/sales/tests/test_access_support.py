"""The seeded workspace and the helpers of the sales access matrix (test_access_api and
test_access_pages): Acme with a rep's deal, lead, task, customers, order, target and the
settings records, the snapshot of every row that a request must not change, and the search of
a response for what it must not show. This module holds no tests itself."""

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.db.models import Model
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership, RecordShare, Workspace
from huike.accounts.sharing import record_share
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
    make_order,
)
from huike.sales.web_forms import WebFormData, web_form_create

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


def pipeline_query(w: World) -> str:
    return f"pipeline={ref(w.pipeline)}"


def unpermitted(changed: list[str], expected: int) -> list[str]:
    """The changes a request may not have made: any, when it is refused; when it is allowed
    (a member making their own task), any but new rows."""
    return [change for change in changed if expected >= 400 or not change.startswith("+")]
