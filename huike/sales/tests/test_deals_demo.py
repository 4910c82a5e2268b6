"""The demo workspace gets the default pipeline and its deals (some won with their order, some
lost with a reason, all with history and activities); seeding again adds nothing."""

import pytest
from django.test import TestCase

from huike.accounts.demo import demo_seed
from huike.core import demo
from huike.customers.demo import customers_demo_seed
from huike.sales.demo_deals import DEAL_COUNT, deals_demo_seed
from huike.sales.models import Activity, Deal, DealStageChange, Order, Pipeline


@pytest.mark.django_db
def test_the_demo_has_deals_across_the_stages_and_seeding_twice_adds_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given only the seeders this part builds on, and its own
    monkeypatch.setattr(
        demo, "_SEEDERS", {"customers": customers_demo_seed, "sales_a_deals": deals_demo_seed}
    )
    # when
    with TestCase.captureOnCommitCallbacks(execute=True):
        workspace, _ = demo_seed()
    counts = (Deal.objects.count(), DealStageChange.objects.count(), Activity.objects.count())
    with TestCase.captureOnCommitCallbacks(execute=True):
        demo_seed()
    # then
    assert (
        Deal.objects.count(),
        DealStageChange.objects.count(),
        Activity.objects.count(),
    ) == counts
    pipeline = Pipeline.objects.get(workspace=workspace)
    assert (pipeline.name, pipeline.is_default) == ("Sales pipeline", True)
    assert Deal.objects.count() == DEAL_COUNT
    won = Deal.objects.filter(status="won")
    lost = Deal.objects.filter(status="lost")
    assert won.count() == 5
    assert lost.count() == 4
    assert Order.objects.filter(deal__in=won).count() == 5
    assert not lost.filter(lost_reason="").exists()
    assert Deal.objects.filter(status="open").values("stage").distinct().count() >= 3
    assert DealStageChange.objects.filter(seconds_in_from__gt=86400).exists()
    assert Activity.objects.filter(deal__isnull=False).count() >= DEAL_COUNT
