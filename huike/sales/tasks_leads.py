"""Background work of the leads part: the pool's return of leads nobody followed up (a
periodic job, huike.core.schedule)."""

from django.tasks import task

from huike.sales.leads import OPEN_STATUSES, leads_return_stale
from huike.sales.models import Lead


@task
def return_stale_leads() -> int:
    """Every workspace with owned open leads; each lead is re-checked under its lock, so a run
    that overlaps another (or repeats after a crash) returns nothing twice."""
    workspace_ids = (
        Lead.objects.filter(owner__isnull=False, status__in=OPEN_STATUSES)
        .values_list("workspace_id", flat=True)
        .distinct()
        .order_by("workspace_id")
    )
    return sum(leads_return_stale(workspace_id) for workspace_id in list(workspace_ids))
