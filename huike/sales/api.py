"""The sales API: one router per sub-domain, mounted together under /api/v1/."""

from ninja import Router

from huike.sales import (
    api_assignment,
    api_deals,
    api_leads,
    api_orders,
    api_reports,
    api_scoring,
    api_tasks,
)

router = Router()
for module in (
    api_leads,
    api_scoring,
    api_assignment,
    api_deals,
    api_tasks,
    api_orders,
    api_reports,
):
    router.add_router("", module.router)
