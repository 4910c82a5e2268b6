"""Message templates through the API: create, read, change, delete and render (with a
customer's values when the caller may see that customer), and who may do it."""

import pytest
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Workspace
from huike.accounts.tests import api_support
from huike.accounts.tests.api_support import JSON, key_client
from huike.channels import services
from huike.channels.models import MessageTemplate
from huike.customers.models import Customer
from huike.customers.services import CustomerData, custom_field_create, customer_create

admin = api_support.admin
fresh_rate_limits = api_support.fresh_rate_limits

GREETING = {
    "name": "Birthday",
    "purpose": "birthday",
    "channel_kind": "wechat_oa",
    "body_zh_hans": "{{customer.first_name}} 生日快乐 {{workspace.name}}",
    "body_en": "Happy birthday, {{customer.first_name}}! Level {{customer.fields.level}}",
    "platform_template": "SMS_12345",
    "is_active": True,
}


def make_template(actor: Actor, **changes: object) -> MessageTemplate:
    return services.template_create(actor=actor, data={**GREETING, **changes})


def test_admin_creates_reads_changes_and_deletes_a_template(
    admin: Client, owner: Membership
) -> None:
    # when
    created = admin.post("/api/v1/message-templates", GREETING, JSON)
    # then
    assert created.status_code == 201, created.content
    template = MessageTemplate.objects.get(workspace=owner.workspace)
    body = created.json()
    assert body == {
        "id": str(template.public_id),
        **GREETING,
        "variables": ["customer.fields.level", "customer.first_name", "workspace.name"],
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }
    assert admin.get(f"/api/v1/message-templates/{template.public_id}").json() == body
    assert [item["id"] for item in admin.get("/api/v1/message-templates").json()["items"]] == [
        str(template.public_id)
    ]

    changed = admin.patch(
        f"/api/v1/message-templates/{template.public_id}",
        {"is_active": False, "channel_kind": ""},
        JSON,
    )
    assert changed.status_code == 200
    template.refresh_from_db()
    assert (template.is_active, template.channel_kind, template.name) == (False, "", "Birthday")

    deleted = admin.delete(f"/api/v1/message-templates/{template.public_id}")
    assert deleted.status_code == 204
    assert not MessageTemplate.objects.filter(workspace=owner.workspace).exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": " "}, "name"),
        ({"purpose": "anniversary"}, "purpose"),
        ({"channel_kind": "fax"}, "channel_kind"),
        ({"body_zh_hans": "", "body_en": " "}, "body_zh_hans"),
    ],
)
def test_invalid_template_is_422_naming_the_field(
    admin: Client, owner: Membership, changes: dict[str, str], field: str
) -> None:
    response = admin.post("/api/v1/message-templates", {**GREETING, **changes}, JSON)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    assert not MessageTemplate.objects.filter(workspace=owner.workspace).exists()


def test_duplicate_template_name_is_409(admin: Client, owner_actor: Actor) -> None:
    make_template(owner_actor)
    response = admin.post("/api/v1/message-templates", GREETING, JSON)
    assert response.status_code == 409


def test_render_with_a_customers_values(admin: Client, owner_actor: Actor) -> None:
    # given
    custom_field_create(actor=owner_actor, key="level", label="Level", type="text")
    customer = customer_create(
        actor=owner_actor,
        data=CustomerData(name="王小明", locale="zh-hans", custom_fields={"level": "Gold"}),
    )
    template = make_template(owner_actor)
    # when
    chinese = admin.post(
        f"/api/v1/message-templates/{template.public_id}/render",
        {"customer_id": str(customer.public_id)},
        JSON,
    )
    english = admin.post(
        f"/api/v1/message-templates/{template.public_id}/render",
        {"customer_id": str(customer.public_id), "locale": "en"},
        JSON,
    )
    # then
    assert chinese.status_code == 200, chinese.content
    assert chinese.json() == {"text": "小明 生日快乐 Acme"}
    assert english.json() == {"text": "Happy birthday, 小明! Level Gold"}


def test_render_without_a_customer_leaves_customer_values_empty(
    admin: Client, owner_actor: Actor
) -> None:
    template = make_template(owner_actor)
    response = admin.post(
        f"/api/v1/message-templates/{template.public_id}/render", {"locale": "en"}, JSON
    )
    assert response.json() == {"text": "Happy birthday, ! Level "}


def test_render_with_a_customer_of_another_workspace_is_422(
    admin: Client, owner_actor: Actor, outsider_actor: Actor
) -> None:
    template = make_template(owner_actor)
    foreign = customer_create(actor=outsider_actor, data=CustomerData(name="Secret Person"))
    response = admin.post(
        f"/api/v1/message-templates/{template.public_id}/render",
        {"customer_id": str(foreign.public_id)},
        JSON,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "customer_id"
    assert "Secret" not in response.content.decode()


def test_render_with_a_customer_the_caller_may_not_see_is_refused(
    owner_actor: Actor, workspace: Workspace, make_member: object
) -> None:
    # given a customer owned by the admin, and a sales member whose rules show only their own
    template = make_template(owner_actor)
    hidden = customer_create(actor=owner_actor, data=CustomerData(name="Hidden Person"))
    assert callable(make_member)
    sales = make_member("seller@acme.test", "sales")
    sales.role.permissions = [*sales.role.permissions, "templates.manage"]
    sales.role.save()
    sales_actor = Actor.for_membership(sales)
    assert not Customer.objects.visible_to(sales_actor).filter(pk=hidden.pk).exists()
    client = Client()
    client.force_login(sales.user)
    # when
    response = client.post(
        f"/api/v1/message-templates/{template.public_id}/render",
        {"customer_id": str(hidden.public_id)},
        JSON,
        headers={"Accept-Language": "en"},
    )
    # then
    assert response.status_code == 422
    assert "Hidden" not in response.content.decode()


def test_another_workspace_sees_no_template(owner_actor: Actor, other_workspace: Workspace) -> None:
    template = make_template(owner_actor)
    outsider = key_client(other_workspace)
    path = f"/api/v1/message-templates/{template.public_id}"
    assert outsider.get(path).status_code == 404
    assert outsider.patch(path, {"name": "Hijacked"}, JSON).status_code == 404
    assert outsider.delete(path).status_code == 404
    assert outsider.post(f"{path}/render", {}, JSON).status_code == 404
    assert outsider.get("/api/v1/message-templates").json()["items"] == []
    template.refresh_from_db()
    assert template.name == "Birthday"


def test_role_without_templates_manage_is_refused(owner_actor: Actor, workspace: Workspace) -> None:
    template = make_template(owner_actor)
    analyst = key_client(workspace, "analyst")
    path = f"/api/v1/message-templates/{template.public_id}"
    statuses = [
        analyst.get("/api/v1/message-templates").status_code,
        analyst.post("/api/v1/message-templates", {**GREETING, "name": "Other"}, JSON).status_code,
        analyst.get(path).status_code,
        analyst.patch(path, {"name": "Renamed"}, JSON).status_code,
        analyst.delete(path).status_code,
        analyst.post(f"{path}/render", {}, JSON).status_code,
    ]
    assert statuses == [403] * 6
    assert list(
        MessageTemplate.objects.filter(workspace=workspace).values_list("name", flat=True)
    ) == ["Birthday"]
