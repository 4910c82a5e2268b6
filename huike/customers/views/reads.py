"""Reads only these pages need (the shared ones are in huike.customers.selectors): the company
search, counts for the merge compare, the timeline's filter choices and the weekly activity
chart. Each starts from an object an `access_*` function returned, or checks the permission."""

import copy
import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncWeek
from django.utils import timezone

from huike.accounts.access import Actor
from huike.core.crypto import workspace_keys
from huike.customers.identities import workspace_rules
from huike.customers.merging import survivorship_apply
from huike.customers.models import Company, Customer, CustomerTag, Event

ACTIVITY_WEEKS = 12
# Choices of the timeline filter: the kinds and channels of this customer's events, at most
# this many each (a select of thousands helps nobody; the newest kinds come first).
TIMELINE_FACETS_MAX = 50


def company_search(actor: Actor, query: str = "") -> QuerySet[Company]:
    actor.require("customers.view")
    companies = Company.objects.visible_to(actor).select_related("owner__user")
    text = query.strip()
    if text:
        companies = companies.filter(Q(name__icontains=text) | Q(domain__icontains=text.lower()))
    return companies


def customer_counts(customer: Customer) -> tuple[int, int]:
    """(tags, events) of one customer."""
    tags = CustomerTag.objects.filter(workspace_id=customer.workspace_id, customer=customer)
    events = Event.objects.filter(workspace_id=customer.workspace_id, customer=customer)
    return tags.count(), events.count()


def timeline_facets(customer: Customer) -> tuple[list[str], list[str]]:
    """The distinct event kinds and channels of the customer's timeline."""
    events = Event.objects.filter(workspace_id=customer.workspace_id, customer=customer)
    kinds = list(
        events.order_by("kind").values_list("kind", flat=True).distinct()[:TIMELINE_FACETS_MAX]
    )
    channels = list(
        events.exclude(channel="")
        .order_by("channel")
        .values_list("channel", flat=True)
        .distinct()[:TIMELINE_FACETS_MAX]
    )
    return kinds, channels


@dataclass(frozen=True)
class WeekBar:
    week: dt.date  # its Monday
    count: int
    x: int
    y: int
    height: int


CHART_WIDTH = 360
CHART_BAR_AREA = 90  # px of the tallest bar; the rest of the 120 px is for labels
CHART_TOP = 12


def activity_weeks(customer: Customer, *, weeks: int = ACTIVITY_WEEKS) -> list[WeekBar]:
    """Events per week (Monday to Sunday, in the workspace's time zone) over the last `weeks`
    weeks, oldest first, with the geometry of an SVG bar chart."""
    today = timezone.localdate()
    first_monday = today - dt.timedelta(days=today.weekday(), weeks=weeks - 1)
    start = timezone.make_aware(dt.datetime.combine(first_monday, dt.time.min))
    rows = (
        Event.objects.filter(
            workspace_id=customer.workspace_id, customer=customer, occurred_at__gte=start
        )
        .annotate(week=TruncWeek("occurred_at"))
        .values("week")
        .annotate(total=Count("id"))
        .order_by()
    )
    counts: dict[dt.date, int] = {}
    for row in rows:
        week = row["week"]
        day = timezone.localtime(week).date() if isinstance(week, dt.datetime) else week
        counts[day] = counts.get(day, 0) + row["total"]
    peak = max(counts.values(), default=0) or 1
    slot = CHART_WIDTH // weeks
    bars = []
    for index in range(weeks):
        monday = first_monday + dt.timedelta(weeks=index)
        count = counts.get(monday, 0)
        height = round(CHART_BAR_AREA * count / peak)
        bars.append(
            WeekBar(
                week=monday,
                count=count,
                x=index * slot + 4,
                y=CHART_TOP + CHART_BAR_AREA - height,
                height=height,
            )
        )
    return bars


def merge_preview(survivor: Customer, absorbed: Customer) -> Customer:
    """What `survivor` would look like after absorbing `absorbed`: the merge's own survivorship
    rules applied to an unsaved copy (nothing is written). It calls the merge's own step, not a
    copy of its rules, so the preview cannot disagree with what the merge then does."""
    preview = copy.copy(survivor)
    preview.custom_fields = dict(survivor.custom_fields or {})
    survivorship_apply(
        survivor=preview,
        absorbed=absorbed,
        rules=workspace_rules(survivor.workspace_id),
        keys=workspace_keys(survivor.workspace_id),
    )
    return preview
