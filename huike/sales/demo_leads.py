"""Sample leads for the demo workspace: one web form (the snippet to try on any page) and 15
leads from every source — web-form visitors with their campaign parameters, conversations,
the API, an import and manual entry — some owned by the demo reps, the rest in the pool.
Written through lead_capture, so each resolves to a customer like a real one (a known phone
attaches to the demo customer). Idempotent: skipped once the workspace has a web form."""

from django.db import transaction

from huike.accounts.access import Actor
from huike.accounts.models import Membership
from huike.sales.leads import LeadData, SourceDetail, lead_capture, lead_status_set
from huike.sales.models import LeadSource, LeadStatus, WebForm
from huike.sales.web_forms import DEFAULT_FIELDS, WebFormData, web_form_create

ADMIN_EMAIL = "admin@demo.huike.local"
REP_EMAILS = ("sales@demo.huike.local", "manager@demo.huike.local")
WEB = LeadSource.WEB_FORM
# (name, phone, email, company, job title, industry, region, source, utm (source, medium,
# campaign), owner index into the reps or None for the pool, status)
LEADS: tuple[
    tuple[str, str, str, str, str, str, str, str, tuple[str, str, str], int | None, str], ...
] = (
    (
        "刘洋",
        "13911230001",
        "",
        "恒达制造",
        "采购经理",
        "制造业",
        "华东",
        WEB,
        ("baidu", "cpc", "spring-2026"),
        None,
        "new",
    ),
    (
        "陈静",
        "",
        "chen.jing@yunfan.example",
        "云帆科技",
        "CTO",
        "软件",
        "华南",
        WEB,
        ("zhihu", "article", "scrm-guide"),
        0,
        "contacted",
    ),
    (
        "王磊",
        "13911230003",
        "",
        "北辰物流",
        "运营总监",
        "物流",
        "华北",
        WEB,
        ("wechat", "social", "spring-2026"),
        None,
        "new",
    ),
    (
        "Emily Carter",
        "",
        "emily@brightside.example",
        "Brightside Retail",
        "Head of CX",
        "Retail",
        "Overseas",
        WEB,
        ("google", "cpc", "global-launch"),
        1,
        "qualified",
    ),
    (
        "赵敏",
        "13911230005",
        "",
        "锦程教育",
        "校长",
        "教育",
        "西南",
        WEB,
        ("douyin", "video", "edu-webinar"),
        None,
        "new",
    ),
    (
        "孙立",
        "13911230006",
        "",
        "",
        "",
        "",
        "华东",
        LeadSource.CHANNEL,
        ("", "", ""),
        0,
        "contacted",
    ),
    (
        "周婷",
        "",
        "zhou.ting@meihao.example",
        "美好生活",
        "市场经理",
        "零售",
        "华东",
        LeadSource.CHANNEL,
        ("", "", ""),
        None,
        "new",
    ),
    (
        "Ahmed Khan",
        "",
        "ahmed@desertsun.example",
        "Desert Sun Trading",
        "Owner",
        "Trade",
        "Overseas",
        LeadSource.API,
        ("partner", "referral", "reseller-q2"),
        1,
        "new",
    ),
    (
        "黄强",
        "13911230009",
        "",
        "黄氏餐饮",
        "老板",
        "餐饮",
        "华南",
        LeadSource.API,
        ("meituan", "listing", ""),
        None,
        "new",
    ),
    (
        "吴芳",
        "13911230010",
        "",
        "芳华美妆",
        "电商负责人",
        "美妆",
        "华东",
        LeadSource.IMPORT,
        ("expo", "offline", "cbe-2026"),
        None,
        "new",
    ),
    (
        "郑浩",
        "13911230011",
        "",
        "浩然地产",
        "销售副总",
        "地产",
        "华北",
        LeadSource.IMPORT,
        ("expo", "offline", "cbe-2026"),
        0,
        "unqualified",
    ),
    (
        "冯雪",
        "",
        "feng.xue@snowpeak.example",
        "雪峰户外",
        "品牌经理",
        "零售",
        "西北",
        LeadSource.MANUAL,
        ("", "", ""),
        1,
        "contacted",
    ),
    (
        "蒋涛",
        "13911230013",
        "",
        "涛声音响",
        "总经理",
        "电子",
        "华南",
        LeadSource.MANUAL,
        ("", "", ""),
        None,
        "new",
    ),
    (
        "Li Na",
        "",
        "li.na@harbor.example",
        "Harbor Health",
        "Operations",
        "Healthcare",
        "Overseas",
        WEB,
        ("linkedin", "social", "global-launch"),
        None,
        "new",
    ),
    (
        "韩梅",
        "13911230015",
        "",
        "梅林食品",
        "采购",
        "食品",
        "华中",
        WEB,
        ("baidu", "cpc", "spring-2026"),
        0,
        "new",
    ),
)


def leads_demo_seed(workspace_id: int) -> None:
    if WebForm.objects.filter(workspace_id=workspace_id).exists():
        return
    admin = Membership.objects.select_related("workspace", "role", "user", "team").get(
        workspace_id=workspace_id, user__email=ADMIN_EMAIL
    )
    actor = Actor.for_membership(admin)
    reps = list(
        Membership.objects.select_related("workspace", "role", "user", "team")
        .filter(workspace_id=workspace_id, user__email__in=REP_EMAILS)
        .order_by("user__email")
    ) or [admin]
    with transaction.atomic():
        form = web_form_create(
            actor=actor,
            data=WebFormData(
                name="官网咨询 Website enquiry",
                fields=DEFAULT_FIELDS,
                success_message="谢谢！我们会尽快联系您。Thank you, we will be in touch soon.",
                consent_text="我同意接收产品资讯 I agree to receive product news.",
            ),
        )
        for (
            name,
            phone,
            email,
            company,
            title,
            industry,
            region,
            source,
            utm,
            owner,
            status,
        ) in LEADS:
            owner_member = reps[owner % len(reps)] if owner is not None else None
            lead = lead_capture(
                workspace=actor.workspace,
                source=source,
                data=LeadData(
                    name=name,
                    phone=phone,
                    email=email,
                    company_name=company,
                    job_title=title,
                    industry=industry,
                    region=region,
                    language="en" if name.isascii() else "zh-hans",
                    owner=owner_member,
                    source_detail=SourceDetail(
                        utm_source=utm[0],
                        utm_medium=utm[1],
                        utm_campaign=utm[2],
                        form_id=str(form.public_id) if source == WEB else "",
                        form_name=form.name if source == WEB else "",
                        landing_page="https://www.huike.example/pricing" if source == WEB else "",
                    ),
                ),
                actor=None if source == WEB else actor,
            )
            if status != LeadStatus.NEW and lead.owner is not None:
                lead_status_set(
                    actor=Actor.for_membership(lead.owner),
                    lead=lead,
                    status=status,
                    reason="预算不足 No budget" if status == LeadStatus.UNQUALIFIED else "",
                )
        WebForm.objects.filter(pk=form.pk).update(
            submission_count=sum(1 for row in LEADS if row[7] == WEB)
        )
