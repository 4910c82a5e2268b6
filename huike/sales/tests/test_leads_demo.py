"""The demo workspace gets a web form and leads from every source, some in the pool; seeding
again adds nothing."""

import pytest
from django.test import TestCase

from huike.accounts.demo import demo_seed
from huike.core import demo
from huike.customers.demo import customers_demo_seed
from huike.sales.demo_leads import LEADS, leads_demo_seed
from huike.sales.models import Lead, WebForm


@pytest.mark.django_db
def test_the_demo_has_leads_from_every_source_and_seeding_twice_adds_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given only the seeders this part builds on, and its own
    monkeypatch.setattr(
        demo, "_SEEDERS", {"customers": customers_demo_seed, "sales_c_leads": leads_demo_seed}
    )
    # when
    with TestCase.captureOnCommitCallbacks(execute=True):
        workspace, _ = demo_seed()
    with TestCase.captureOnCommitCallbacks(execute=True):
        demo_seed()
    # then
    leads = Lead.objects.filter(workspace=workspace)
    assert leads.count() == len(LEADS) == 15
    assert set(leads.values_list("source", flat=True)) == {
        "web_form",
        "channel",
        "api",
        "import",
        "manual",
    }
    assert leads.filter(owner__isnull=True).count() == 8
    assert leads.filter(status="unqualified").get().unqualified_reason == "预算不足 No budget"
    assert leads.filter(source_detail__utm_campaign="spring-2026").count() == 3
    form = WebForm.objects.get(workspace=workspace)
    assert form.submission_count == 7
