"""The options of the customer and company pickers (huike.customers.widgets.SearchableSelect):
the records the actor may see that match what they typed, as <option> elements."""

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from huike.accounts.access import Actor
from huike.core.errors import InvalidInputError
from huike.customers.models import Company, Customer
from huike.customers.selectors import CustomerFilters, customer_search
from huike.customers.views.common import customers_page

# Options a search returns; typing more narrows it.
PICKER_RESULTS = 50


@customers_page
@require_GET
def customer_pick(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("customers.view")
    text = request.GET.get("q", "").strip()[:100]
    customers: QuerySet[Customer] = Customer.objects.none()
    if text:
        try:
            customers = customer_search(actor, CustomerFilters(q=text))
        except InvalidInputError:  # half a phone number
            customers = Customer.objects.none()
    rows = customers.order_by("-last_interaction_at", "-id")[:PICKER_RESULTS]
    options = [(row.public_id, row.name or str(row.public_id)) for row in rows]
    return render(request, "customers/widgets/picker_options.html", {"options": options})


@customers_page
@require_GET
def company_pick(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("customers.view")
    text = request.GET.get("q", "").strip()[:100]
    companies = Company.objects.visible_to(actor)
    rows = (
        companies.filter(name__icontains=text).order_by("name", "id")[:PICKER_RESULTS]
        if text
        else companies.none()
    )
    options = [(row.public_id, row.name) for row in rows]
    return render(request, "customers/widgets/picker_options.html", {"options": options})
