"""The channel and message-template settings pages: connecting through the guided form,
secrets never sent back to the browser, the detail page (webhook URL, logs without bodies or
addresses, connection test, enable/disable, linked WeCom staff), templates with their live
preview, and who may see or change what."""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Role, Workspace
from huike.channels import services
from huike.channels.config import channel_secrets
from huike.channels.models import (
    Channel,
    ChannelStaff,
    InboundDelivery,
    MessageTemplate,
    OutboundDelivery,
)
from huike.channels.registry import providers
from huike.channels.testing import FakePlatform
from huike.channels.tests.test_api import AES_KEY, KINDS, make_channel
from huike.customers.services import CustomerData, custom_field_create, customer_create

HTMX = {"HX-Request": "true"}


def _form_data(**config: str) -> dict[str, str]:
    return {"name": "Service account", "team": "", **{f"config_{k}": v for k, v in config.items()}}


OA_FORM = _form_data(
    app_id="wx1234567890abcdef",
    app_secret="oa-app-secret-value",
    token="huiketoken",
    encoding_aes_key=AES_KEY,
)


@pytest.fixture
def role_member(
    workspace: Workspace, make_member: Callable[..., Membership]
) -> Callable[..., Client]:
    """A signed-in client of a member whose custom role has exactly `permissions`."""

    def make(*permissions: str) -> Client:
        key = "custom-" + str(Role.objects.filter(workspace=workspace).count())
        Role.objects.create(workspace=workspace, key=key, name=key, permissions=list(permissions))
        membership = make_member(f"{key}@acme.test", key)
        client = Client()
        client.force_login(membership.user)
        return client

    return make


def _require_wechat_oa() -> None:
    if "wechat_oa" not in KINDS:
        pytest.skip("no wechat_oa provider is registered in this installation")


# --- list and connect ----------------------------------------------------------------------------
def test_list_shows_channels_with_state(owner_client: Client, owner_actor: Actor) -> None:
    channel = make_channel(owner_actor)
    services.channel_set_active(actor=owner_actor, channel=channel, active=False)
    response = owner_client.get(reverse("channels:channel_list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "wechat_oa main" in html
    assert "WeChat Official Account" in html
    assert "Disabled" in html
    assert "not tested" in html
    assert reverse("channels:channel_connect") in html


def test_picker_lists_every_registered_provider(owner_client: Client) -> None:
    response = owner_client.get(reverse("channels:channel_connect"))
    html = response.content.decode()
    for provider in providers():
        assert str(provider.label) in html
        assert reverse("channels:channel_create", args=[provider.kind]) in html


@pytest.mark.parametrize("kind", KINDS)
def test_connect_form_is_built_from_the_providers_fields(owner_client: Client, kind: str) -> None:
    response = owner_client.get(reverse("channels:channel_create", args=[kind]))
    assert response.status_code == 200
    html = response.content.decode()
    provider = next(provider for provider in providers() if provider.kind == kind)
    for field in provider.config_fields:
        assert f'name="config_{field.name}"' in html
        if field.secret:
            assert f'type="password" name="config_{field.name}"' in html
    assert 'name="config_api_base_url"' in html
    assert "<summary>Advanced</summary>" in html


def test_connect_creates_the_channel_with_encrypted_secrets(
    owner_client: Client, workspace: Workspace
) -> None:
    _require_wechat_oa()
    response = owner_client.post(reverse("channels:channel_create", args=["wechat_oa"]), OA_FORM)
    channel = Channel.objects.get(workspace=workspace)
    assert response.status_code == 302
    assert response["Location"] == reverse("channels:channel_detail", args=[channel.public_id])
    assert (channel.kind, channel.name) == ("wechat_oa", "Service account")
    assert channel.settings == {"app_id": "wx1234567890abcdef"}
    assert b"oa-app-secret-value" not in bytes(channel.secrets_token or b"")
    assert channel_secrets(channel)["app_secret"] == "oa-app-secret-value"


def test_connect_shows_the_providers_error_on_its_field(
    owner_client: Client, workspace: Workspace
) -> None:
    _require_wechat_oa()
    response = owner_client.post(
        reverse("channels:channel_create", args=["wechat_oa"]),
        {**OA_FORM, "config_encoding_aes_key": "too-short"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.errors) == ["config_encoding_aes_key"]
    assert not Channel.objects.filter(workspace=workspace).exists()
    # What was typed into a secret is not echoed back into the page.
    assert "oa-app-secret-value" not in response.content.decode()


def test_unknown_kind_is_404(owner_client: Client) -> None:
    assert owner_client.get("/settings/channels/connect/fax/").status_code == 404


# --- edit ----------------------------------------------------------------------------------------
def test_edit_never_prefills_secrets_and_empty_keeps_them(
    owner_client: Client, owner_actor: Actor
) -> None:
    channel = make_channel(owner_actor)
    url = reverse("channels:channel_edit", args=[channel.public_id])
    page = owner_client.get(url).content.decode()
    assert "oa-app-secret-value" not in page
    assert "huiketoken" not in page
    assert AES_KEY not in page
    assert "Stored — leave empty to keep." in page
    assert 'value="wx1234567890abcdef"' in page

    response = owner_client.post(
        url,
        _form_data(app_id="wx0000000000000001", app_secret="", token="", encoding_aes_key=""),
    )
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.name == "Service account"
    assert channel.settings == {"app_id": "wx0000000000000001"}
    assert channel_secrets(channel) == {
        "app_secret": "oa-app-secret-value",
        "token": "huiketoken",
        "encoding_aes_key": AES_KEY,
    }


# --- detail ---------------------------------------------------------------------------------------
def test_detail_shows_settings_masked_and_absolute_webhook_url(
    owner_client: Client, owner_actor: Actor, settings: Any
) -> None:
    settings.SITE_URL = "https://crm.acme.test/"
    channel = make_channel(owner_actor)
    html = owner_client.get(reverse("channels:channel_detail", args=[channel.public_id])).content
    page = html.decode()
    assert f"https://crm.acme.test/hooks/wechat_oa/{channel.public_id}" in page
    assert "wx1234567890abcdef" in page
    assert "oa-app-secret-value" not in page
    assert "huiketoken" not in page
    assert "Test connection" in page


def test_detail_logs_show_metadata_never_bodies_or_addresses(
    owner_client: Client, owner_actor: Actor, role_member: Callable[..., Client]
) -> None:
    # given one delivery each way
    channel = make_channel(owner_actor)
    InboundDelivery.objects.create(
        workspace=channel.workspace,
        channel=channel,
        dedupe_key="23456789012345678",
        body_token=b"<xml>secret message body</xml>",
        status=InboundDelivery.Status.FAILED,
        error="unreadable XML",
    )
    customer = customer_create(actor=owner_actor, data=CustomerData(name="Zhou Yue"))
    OutboundDelivery.objects.create(
        workspace=channel.workspace,
        channel=channel,
        customer=customer,
        content={"text": "private reply text"},
        status=OutboundDelivery.Status.FAILED,
        error="48-hour window closed",
    )
    url = reverse("channels:channel_detail", args=[channel.public_id])
    # when the admin looks
    page = owner_client.get(url).content.decode()
    # then
    assert "23456789012345678" in page
    assert "unreadable XML" in page
    assert "secret message body" not in page
    assert "private reply text" not in page
    assert "48-hour window closed" in page
    assert "0 waiting, 1 failed." in page
    assert "0 queued, 1 failed." in page
    assert reverse("customers:customer_detail", args=[customer.public_id]) in page
    assert "Zhou Yue" in page
    # and someone who may see channels but not customers gets no name
    viewer_page = role_member("channels.view").get(url).content.decode()
    assert "48-hour window closed" in viewer_page
    assert "Zhou Yue" not in viewer_page
    assert "Test connection" not in viewer_page


def test_test_connection_with_htmx_shows_the_result(
    owner_client: Client, owner_actor: Actor
) -> None:
    _require_wechat_oa()
    with FakePlatform() as platform:
        platform.route(
            "GET", "/cgi-bin/token", (200, {"access_token": "ACCESS", "expires_in": 7200})
        )
        channel = make_channel(owner_actor, api_base_url=platform.url)
        response = owner_client.post(
            reverse("channels:channel_test", args=[channel.public_id]), headers=HTMX
        )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="test-result"')
    assert "Connected: WeChat issued an access token." in html
    assert len(platform.calls_to("/cgi-bin/token")) == 1
    channel.refresh_from_db()
    assert channel.last_test_ok is True


def test_test_connection_without_htmx_returns_to_the_page(
    owner_client: Client, owner_actor: Actor
) -> None:
    _require_wechat_oa()
    with FakePlatform() as platform:
        platform.route(
            "GET", "/cgi-bin/token", (200, {"errcode": 40013, "errmsg": "invalid appid"})
        )
        channel = make_channel(owner_actor, api_base_url=platform.url)
        response = owner_client.post(
            reverse("channels:channel_test", args=[channel.public_id]), follow=True
        )
    channel.refresh_from_db()
    assert channel.last_test_ok is False
    assert channel.last_test_message in response.content.decode()


def test_disable_and_enable_from_the_page(owner_client: Client, owner_actor: Actor) -> None:
    channel = make_channel(owner_actor)
    url = reverse("channels:channel_set_active", args=[channel.public_id])
    owner_client.post(url, {"active": "0"})
    channel.refresh_from_db()
    assert channel.is_active is False
    owner_client.post(url, {"active": "1"})
    channel.refresh_from_db()
    assert channel.is_active is True


def test_wecom_staff_links_are_added_and_removed(
    owner_client: Client, owner_actor: Actor, member: Membership
) -> None:
    channel = make_channel(owner_actor, "wecom")
    detail = reverse("channels:channel_detail", args=[channel.public_id])
    assert "Linked staff accounts" in owner_client.get(detail).content.decode()
    owner_client.post(
        reverse("channels:channel_staff_add", args=[channel.public_id]),
        {"external_id": "zhangsan", "membership": str(member.pk)},
    )
    link = ChannelStaff.objects.get(channel=channel)
    assert (link.external_id, link.membership_id) == ("zhangsan", member.pk)
    assert "zhangsan" in owner_client.get(detail).content.decode()
    owner_client.post(
        reverse("channels:channel_staff_remove", args=[channel.public_id]),
        {"external_id": "zhangsan"},
    )
    assert not ChannelStaff.objects.filter(channel=channel).exists()


def test_staff_section_is_only_for_wecom(owner_client: Client, owner_actor: Actor) -> None:
    channel = make_channel(owner_actor, "wechat_oa")
    page = owner_client.get(reverse("channels:channel_detail", args=[channel.public_id]))
    assert "Linked staff accounts" not in page.content.decode()


def test_webchat_detail_shows_the_embed_snippet(
    owner_client: Client, owner_actor: Actor, settings: Any
) -> None:
    settings.SITE_URL = "https://crm.acme.test"
    channel = make_channel(owner_actor, "webchat")
    page = owner_client.get(reverse("channels:channel_detail", args=[channel.public_id]))
    assert (
        "&lt;script src=&quot;https://crm.acme.test/webchat/widget.js&quot; "
        f"data-key=&quot;{channel.public_key}&quot; async&gt;&lt;/script&gt;"
    ) in page.content.decode()


# --- access ---------------------------------------------------------------------------------------
def test_another_workspace_gets_404(owner_actor: Actor, outsider_client: Client) -> None:
    channel = make_channel(owner_actor)
    for name in ("channel_detail", "channel_edit"):
        assert (
            outsider_client.get(reverse(f"channels:{name}", args=[channel.public_id])).status_code
            == 404
        )
    for name in ("channel_test", "channel_set_active", "channel_staff_add", "channel_staff_remove"):
        response = outsider_client.post(
            reverse(f"channels:{name}", args=[channel.public_id]), {"active": "0"}
        )
        assert response.status_code == 404, name
    assert (
        "wechat_oa main"
        not in outsider_client.get(reverse("channels:channel_list")).content.decode()
    )
    channel.refresh_from_db()
    assert (channel.is_active, channel.last_test_at) == (True, None)


def test_role_without_channels_manage_gets_403_on_writes(
    owner_actor: Actor, role_member: Callable[..., Client], workspace: Workspace
) -> None:
    channel = make_channel(owner_actor)
    viewer = role_member("channels.view")
    assert viewer.get(reverse("channels:channel_list")).status_code == 200
    assert "Connect a channel" not in viewer.get(reverse("channels:channel_list")).content.decode()
    refused = [
        viewer.get(reverse("channels:channel_connect")),
        viewer.post(reverse("channels:channel_create", args=[channel.kind]), OA_FORM),
        viewer.post(reverse("channels:channel_edit", args=[channel.public_id]), OA_FORM),
        viewer.post(reverse("channels:channel_test", args=[channel.public_id])),
        viewer.post(
            reverse("channels:channel_set_active", args=[channel.public_id]), {"active": "0"}
        ),
        viewer.post(
            reverse("channels:channel_staff_add", args=[channel.public_id]),
            {"external_id": "x", "membership": "1"},
        ),
    ]
    assert [response.status_code for response in refused] == [403] * 6
    channel.refresh_from_db()
    assert (channel.name, channel.is_active, channel.last_test_at) == ("wechat_oa main", True, None)
    assert Channel.objects.filter(workspace=workspace).count() == 1


def test_role_without_channels_view_gets_403(owner_actor: Actor, member_client: Client) -> None:
    channel = make_channel(owner_actor)
    assert member_client.get(reverse("channels:channel_list")).status_code == 403
    assert (
        member_client.get(reverse("channels:channel_detail", args=[channel.public_id])).status_code
        == 403
    )


# --- message templates ----------------------------------------------------------------------------
TEMPLATE_FORM = {
    "name": "Welcome",
    "purpose": "welcome",
    "channel_kind": "wecom",
    "body_zh_hans": "{{customer.first_name}} 欢迎",
    "body_en": "Welcome, {{customer.first_name}}!",
    "platform_template": "",
    "is_active": "on",
}


def test_templates_are_created_edited_and_deleted(
    owner_client: Client, workspace: Workspace
) -> None:
    response = owner_client.post(reverse("channels:template_create"), TEMPLATE_FORM)
    assert response.status_code == 302
    template = MessageTemplate.objects.get(workspace=workspace)
    assert (template.name, template.purpose, template.channel_kind, template.is_active) == (
        "Welcome",
        "welcome",
        "wecom",
        True,
    )
    listing = owner_client.get(reverse("channels:template_list")).content.decode()
    assert "Welcome" in listing

    edit_url = reverse("channels:template_edit", args=[template.public_id])
    assert "{{customer.first_name}} 欢迎" in owner_client.get(edit_url).content.decode()
    owner_client.post(
        edit_url, {**TEMPLATE_FORM, "body_en": "Hi {{customer.name}}", "is_active": ""}
    )
    template.refresh_from_db()
    assert (template.body_en, template.is_active) == ("Hi {{customer.name}}", False)

    owner_client.post(reverse("channels:template_delete", args=[template.public_id]))
    assert not MessageTemplate.objects.filter(workspace=workspace).exists()


def test_template_without_text_shows_the_error(owner_client: Client, workspace: Workspace) -> None:
    response = owner_client.post(
        reverse("channels:template_create"), {**TEMPLATE_FORM, "body_zh_hans": "", "body_en": ""}
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "body_zh_hans": ["Write the text in at least one language."]
    }
    assert not MessageTemplate.objects.filter(workspace=workspace).exists()


def test_editor_lists_variables_with_custom_fields(
    owner_client: Client, owner_actor: Actor
) -> None:
    custom_field_create(actor=owner_actor, key="level", label="Membership level", type="text")
    page = owner_client.get(reverse("channels:template_create")).content.decode()
    assert "{{customer.first_name}}" in page
    assert "{{agent.name}}" in page
    assert "{{customer.fields.level}}" in page
    assert "Membership level" in page


def test_live_preview_renders_sample_values(owner_client: Client, owner_actor: Actor) -> None:
    custom_field_create(actor=owner_actor, key="level", label="Level", type="text")
    response = owner_client.post(
        reverse("channels:template_preview"),
        {
            "body_zh_hans": "{{customer.first_name}}您好 {{workspace.name}}",
            "body_en": "Dear {{customer.name}} ({{customer.fields.level}}) {{customer.nope}}",
        },
        headers=HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="panel" id="preview"')
    assert "小明您好 Acme" in html
    assert "Dear Ada Lovelace ([Level]) {{customer.nope}}" in html


def test_template_pages_access(
    owner_actor: Actor,
    outsider_client: Client,
    role_member: Callable[..., Client],
) -> None:
    template = services.template_create(
        actor=owner_actor,
        data={k: v for k, v in TEMPLATE_FORM.items() if k != "is_active"},
    )
    edit_url = reverse("channels:template_edit", args=[template.public_id])
    delete_url = reverse("channels:template_delete", args=[template.public_id])
    assert outsider_client.get(edit_url).status_code == 404
    assert outsider_client.post(delete_url).status_code == 404
    assert "Welcome" not in outsider_client.get(reverse("channels:template_list")).content.decode()

    viewer = role_member("channels.view")
    statuses = [
        viewer.get(reverse("channels:template_list")).status_code,
        viewer.get(reverse("channels:template_create")).status_code,
        viewer.get(edit_url).status_code,
        viewer.post(delete_url).status_code,
        viewer.post(reverse("channels:template_preview"), {"body_en": "x"}).status_code,
    ]
    assert statuses == [403] * 5
    assert MessageTemplate.objects.filter(pk=template.pk).exists()
