"""Company pages: the searchable list, one company with its customers, create and edit."""

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.core.errors import ConflictError, InvalidInputError
from huike.core.pagination import paginate
from huike.customers import selectors, services
from huike.customers.access import access_company
from huike.customers.forms import CompanyForm, CompanySearchForm, add_service_error
from huike.customers.models import Company
from huike.customers.views import reads
from huike.customers.views.common import customers_page, page_limit, page_template

COMPANY_ORDERING = ("name", "id")
CUSTOMER_ORDERING = ("name", "id")
COMPANY_CUSTOMERS_SHOWN = 50


@vary_on_headers("HX-Request")
@customers_page
@require_GET
def company_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    form = CompanySearchForm(request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    page = paginate(
        reads.company_search(actor, query),
        cursor=request.GET.get("cursor"),
        limit=page_limit(request),
        ordering=COMPANY_ORDERING,
    )
    return render(
        request,
        page_template("company_list.html", request, "company_results"),
        {
            "form": form,
            "page": page,
            "can_manage": actor.has("customers.manage"),
            "is_first_page": not request.GET.get("cursor"),
        },
    )


@customers_page
@require_GET
def company_detail(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    company = access_company(actor, public_id)
    customers = paginate(
        selectors.customer_search(
            actor, selectors.CustomerFilters(company=company.public_id)
        ).select_related("owner__user"),
        cursor=None,
        limit=COMPANY_CUSTOMERS_SHOWN,
        ordering=CUSTOMER_ORDERING,
    )
    return render(
        request,
        "customers/company_detail.html",
        {
            "company": company,
            "customers": customers,
            "can_manage": actor.has("customers.manage"),
        },
    )


def _company_form(request: HttpRequest, actor: Actor, company: Company | None) -> CompanyForm:
    data = request.POST if request.method == "POST" else None
    if company is None:
        return CompanyForm(data, workspace=actor.workspace, initial={"owner": actor.membership})
    form = CompanyForm(
        data,
        workspace=actor.workspace,
        initial={
            "name": company.name,
            "domain": company.domain,
            "industry": company.industry,
            "size": company.size,
            "region": company.region,
            "owner": company.owner,
            "team": company.team,
        },
    )
    if company.owner_id is not None:  # an owner who left stays choosable
        owner_field = form.fields["owner"]
        owner_field.queryset = owner_field.queryset | Membership.objects.filter(  # type: ignore[attr-defined]
            pk=company.owner_id
        )
    return form


@customers_page
@require_http_methods(["GET", "POST"])
def company_create(request: HttpRequest, actor: Actor) -> HttpResponse:
    actor.require("customers.manage")
    form = _company_form(request, actor, None)
    if request.method == "POST" and form.is_valid():
        try:
            company = services.company_create(actor=actor, data=form.company_data())
        except (InvalidInputError, ConflictError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Company created."))
            return redirect("customers:company_detail", public_id=company.public_id)
    return render(request, "customers/company_form.html", {"form": form, "company": None})


@customers_page
@require_http_methods(["GET", "POST"])
def company_edit(request: HttpRequest, actor: Actor, public_id: uuid.UUID) -> HttpResponse:
    actor.require("customers.manage")
    company = access_company(actor, public_id)
    form = _company_form(request, actor, company)
    if request.method == "POST" and form.is_valid():
        try:
            services.company_update(actor=actor, company=company, data=form.company_data())
        except (InvalidInputError, ConflictError) as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Company saved."))
            return redirect("customers:company_detail", public_id=company.public_id)
    return render(request, "customers/company_form.html", {"form": form, "company": company})
