"""The registry of panels later parts add to the customer 360 page (the customer's leads,
deals and orders; tickets; points), so the page shows the whole picture without `customers`
importing them.

A part registers a panel from its AppConfig.ready(): a template and a function that returns
the panel's context for this actor and customer, or None to show nothing (the role may not see
that part, or there is nothing to show). The function applies the part's own access rules; it
runs on every view of the page, so it must cost a few indexed queries, not a scan.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from huike.accounts.access import Actor
from huike.customers.models import Customer

PanelContext = Callable[[Actor, Customer], dict[str, Any] | None]


@dataclass(frozen=True)
class CustomerPanel:
    key: str
    template: str
    context: PanelContext
    order: int


@dataclass(frozen=True)
class RenderedPanel:
    template: str
    context: dict[str, Any]


_PANELS: dict[str, CustomerPanel] = {}


def register_customer_panel(key: str, template: str, context: PanelContext, order: int) -> None:
    _PANELS[key] = CustomerPanel(key, template, context, order)


def unregister_customer_panel(key: str) -> None:
    _PANELS.pop(key, None)


def customer_panels(actor: Actor, customer: Customer) -> list[RenderedPanel]:
    """The panels this actor sees on this customer's page, in order."""
    shown = []
    for panel in sorted(_PANELS.values(), key=lambda panel: panel.order):
        context = panel.context(actor, customer)
        if context is not None:
            shown.append(RenderedPanel(panel.template, context))
    return shown
