"""Background work of the funnel: the roll-ups' refresh (a periodic job, huike.core.schedule;
see huike.sales.funnel)."""

import logging

from django.tasks import task

from huike.sales.funnel import funnel_refresh, funnels_to_refresh

logger = logging.getLogger("huike.sales.funnel")


@task
def refresh_funnels() -> int:
    """Fold the deltas of every pipeline that has some into its days, and build the roll-ups
    of pipelines that need it. A refresh that overlaps another waits for it on the roll-up's
    row lock, then finds only what changed since; returns the number of days added up."""
    days = 0
    for pipeline in funnels_to_refresh():
        added = funnel_refresh(pipeline)
        if added:
            logger.info("Added up %d funnel days of pipeline %s", added, pipeline.pk)
        days += added
    return days
