"""Periodic tasks of the customers part (scheduled in huike.core.schedule)."""

from django.db import transaction
from django.tasks import task

from huike.customers.models import Customer
from huike.customers.profile import PROFILE_COLUMNS, profiles_save, rfm_scores

# Customers whose scores are recomputed per transaction: short write transactions, and a
# bounded number of rows in memory however many buyers a workspace has.
RFM_BATCH_SIZE = 2000


@task
def refresh_rfm_scores() -> int:
    """Recompute the RFM scores of every customer with purchases: recency changes with the
    calendar even when nothing happens. Returns the number of customers whose scores moved."""
    changed = 0
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = list(
                Customer.objects.filter(pk__gt=last_pk, order_count__gt=0)
                .order_by("pk")
                .only("pk", "workspace_id", *PROFILE_COLUMNS)[:RFM_BATCH_SIZE]
            )
            if not batch:
                return changed
            last_pk = batch[-1].pk
            moved = []
            for customer in batch:
                before = (customer.rfm_recency, customer.rfm_frequency, customer.rfm_monetary)
                rfm_scores(customer)
                if (customer.rfm_recency, customer.rfm_frequency, customer.rfm_monetary) != before:
                    moved.append(customer)
            profiles_save(moved)
            changed += len(moved)
