"""Sample scoring rules for the demo workspace (industry, company size, job title, page views,
email clicks and messages with half-lives) and the demo leads rescored with them, then the
predictive model trained if the demo history is long enough. Idempotent: skipped once the
workspace has scoring rules."""

from django.db import transaction

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.sales.models import ScoringRule
from huike.sales.predictive import predictive_train
from huike.sales.scoring import (
    ScoringRuleData,
    lead_rescore_with_reason,
    open_leads,
    scoring_rule_clean,
)

ADMIN_EMAIL = "admin@demo.huike.local"

DEMO_RULES = (
    ScoringRuleData(
        name="SaaS 行业 SaaS industry",
        kind=ScoringRule.Kind.ATTRIBUTE,
        field="industry",
        operator=ScoringRule.Operator.EQUALS,
        value="SaaS",
        points=15,
    ),
    ScoringRuleData(
        name="中大型企业 50+ employees",
        kind=ScoringRule.Kind.ATTRIBUTE,
        field="company_size",
        operator=ScoringRule.Operator.AT_LEAST,
        value="50-249",
        points=20,
    ),
    ScoringRuleData(
        name="决策者 Decision maker",
        kind=ScoringRule.Kind.ATTRIBUTE,
        field="job_title",
        operator=ScoringRule.Operator.IN,
        value=["CEO", "CTO", "总经理", "总监"],
        points=10,
    ),
    ScoringRuleData(
        name="浏览网页 Page views",
        kind=ScoringRule.Kind.EVENT,
        event_kind="page.viewed",
        points=3,
        half_life_days=14,
        max_occurrences=10,
    ),
    ScoringRuleData(
        name="点击邮件 Email clicks",
        kind=ScoringRule.Kind.EVENT,
        event_kind="email.clicked",
        points=5,
        half_life_days=30,
        max_occurrences=5,
    ),
    ScoringRuleData(
        name="发来消息 Messages",
        kind=ScoringRule.Kind.EVENT,
        event_kind="message.received",
        points=8,
        half_life_days=21,
        max_occurrences=5,
    ),
    ScoringRuleData(
        name="提交表单 Form submitted",
        kind=ScoringRule.Kind.EVENT,
        event_kind="form.submitted",
        points=20,
        half_life_days=60,
        max_occurrences=2,
    ),
)


def scoring_demo_seed(workspace_id: int) -> None:
    if ScoringRule.objects.filter(workspace_id=workspace_id).exists():
        return
    admin = Membership.objects.select_related("workspace", "role", "user").get(
        workspace_id=workspace_id, user__email=ADMIN_EMAIL
    )
    actor = Actor.for_membership(admin)
    with transaction.atomic():
        # Written directly rather than through scoring_rule_create: that enqueues a rescore of
        # the workspace per rule, and the seeder rescores once, below, in the same process.
        for position, data in enumerate(DEMO_RULES, start=1):
            ScoringRule.objects.create(
                workspace=actor.workspace, position=position, **scoring_rule_clean(data)
            )
    for lead_id in open_leads(workspace_id).order_by("pk").values_list("pk", flat=True):
        lead_rescore_with_reason(lead_id=lead_id)
    predictive_train(workspace_id=workspace_id)
