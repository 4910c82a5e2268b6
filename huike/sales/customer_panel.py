"""The "Sales" panel on the customer 360 page: the customer's open leads, deals, latest orders
and open tasks, each under the actor's own record rules and permissions."""

from typing import Any

from huike.accounts.access import Actor
from huike.customers.models import Customer
from huike.sales.access import visible_deals, visible_leads, visible_orders, visible_tasks
from huike.sales.models import LeadStatus, StageKind, TaskStatus

# Rows of each kind the panel shows; the rest is one click away on the part's own list.
PANEL_ROWS = 5
_CLOSED_LEADS = (LeadStatus.CONVERTED, LeadStatus.UNQUALIFIED)


def sales_panel_context(actor: Actor, customer: Customer) -> dict[str, Any] | None:
    """None when the role sees no part of sales; otherwise up to PANEL_ROWS of each kind."""
    context: dict[str, Any] = {"customer": customer, "can_see_amounts": actor.has("amounts.view")}
    if actor.has("leads.view"):
        context["leads"] = list(
            visible_leads(actor)
            .filter(customer=customer)
            .exclude(status__in=_CLOSED_LEADS)
            .select_related("owner__user")
            .order_by("-created_at", "-id")[:PANEL_ROWS]
        )
    if actor.has("deals.view"):
        context["deals"] = list(
            visible_deals(actor)
            .filter(customer=customer)
            .select_related("stage", "owner__user")
            .order_by("-updated_at", "-id")[:PANEL_ROWS]
        )
        context["can_add_deal"] = actor.has("deals.manage")
    if actor.has("orders.view"):
        context["orders"] = list(
            visible_orders(actor)
            .filter(customer=customer)
            .order_by("-ordered_at", "-id")[:PANEL_ROWS]
        )
    if actor.has("tasks.manage"):
        context["tasks"] = list(
            visible_tasks(actor)
            .filter(customer=customer, status=TaskStatus.OPEN)
            .select_related("owner__user")
            .order_by("due_at", "id")[:PANEL_ROWS]
        )
    if len(context) == 2:
        return None
    context["open_kind"] = StageKind.OPEN
    return context
