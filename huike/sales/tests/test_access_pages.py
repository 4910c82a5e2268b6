"""The sales access matrix, pages half: every sales page (read from the "sales" URL namespace)
against the people who must get nothing (the API: test_access_api; the seeded workspace and
helpers: test_access_support).

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
# The fixtures are imported: `world` from test_access_support and those it builds on from
# test_orders_support (sales has no shared conftest); a test naming a fixture as its argument
# is what pytest wants, so F811 does not apply.
# ruff: noqa: F811

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from huike.accounts.models import Membership, Workspace
from huike.accounts.tests.api_support import JSON, key_client
from huike.core.masking import mask
from huike.customers.models import Customer
from huike.sales.models import (
    LeadHistory,
)
from huike.sales.tests.test_access_support import (
    EMAIL,
    PHONE,
    PHONE_E164,
    PLAIN_CONTACT_DETAILS,
    RECORD_WORD,
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
    "pipeline_board": Page("list", query=pipeline_query, outsider_get=404),
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
    "funnel": Page("list", query=pipeline_query, outsider_get=404),
    "forecast": Page("list", query=pipeline_query, outsider_get=404),
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
