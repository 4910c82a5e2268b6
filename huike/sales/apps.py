from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "huike.sales"
    label = "sales"
    verbose_name = _("Sales")

    def ready(self) -> None:
        from huike.channels.conversation_actions import register_conversation_action
        from huike.core.demo import register_demo_seeder
        from huike.core.outbox import register_subscriber
        from huike.core.permissions import register_permissions
        from huike.customers.panels import register_customer_panel
        from huike.customers.references import register_customer_reference
        from huike.customers.share_kinds import ShareKind, register_share_kind
        from huike.sales import (
            access,
            customer_panel,
            deals,
            demo_assignment,
            demo_deals,
            demo_leads,
            demo_orders,
            demo_scoring,
            demo_targets,
            demo_tasks,
            lead_import,
            leads,
            models,
            navigation,
            order_import,
            orders,
            permissions,
            scoring,
        )

        register_permissions(*permissions.SALES_PERMISSIONS)
        navigation.register_sales_nav()
        # Rows that follow their customer through a merge.
        for model in (models.Lead, models.Deal, models.Activity, models.Task, models.Order):
            register_customer_reference(model)
        register_customer_reference(models.DealContact, conflict_fields=("deal",))
        # Timeline labels of the events sales records.
        leads.register_lead_event_labels()
        deals.register_deal_event_labels()
        orders.register_order_event_labels()
        # Scores follow the event stream, within seconds of an event's commit.
        register_subscriber("event.*", "sales.scoring_events", scoring.scoring_events_received)
        # "Turn into a lead" on inbox conversations; the sales panel on the customer 360 page.
        register_conversation_action(
            "lead", _("Turn into a lead"), "leads.manage", leads.lead_from_conversation
        )
        register_customer_panel(
            "sales",
            "sales/_customer_panel.html",
            customer_panel.sales_panel_context,
            order=10,
        )
        # Leads and deals are shared from their pages and the API like customers.
        for share in (
            ShareKind("lead", "leads", access.access_lead, "leads.manage", "sales:lead_detail"),
            ShareKind("deal", "deals", access.access_deal, "deals.manage", "sales:deal_detail"),
        ):
            register_share_kind(share)
        # Leads through the customers import (upload, mapping, dry run, background run).
        lead_import.register_lead_import()
        order_import.register_order_import()
        # Demo data, in name order: pipelines and deals first, targets last.
        register_demo_seeder("sales_a_deals", demo_deals.deals_demo_seed)
        register_demo_seeder("sales_b_orders", demo_orders.orders_demo_seed)
        register_demo_seeder("sales_c_leads", demo_leads.leads_demo_seed)
        register_demo_seeder("sales_d_scoring", demo_scoring.scoring_demo_seed)
        register_demo_seeder("sales_e_assignment", demo_assignment.assignment_demo_seed)
        register_demo_seeder("sales_f_tasks", demo_tasks.tasks_demo_seed)
        register_demo_seeder("sales_g_targets", demo_targets.targets_demo_seed)
