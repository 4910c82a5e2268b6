"""Channels through the API: connecting every kind this installation has, secrets kept
encrypted and never returned, settings errors naming the field, the connection test against a
real local fake platform, and who may do what (another workspace sees nothing; a role without
the permission is refused and changes nothing)."""

import json
from typing import Any

import pytest
from django.test import Client

from huike.accounts.access import Actor
from huike.accounts.models import Membership, Team, Workspace
from huike.accounts.tests import api_support
from huike.accounts.tests.api_support import JSON, audited, key_client
from huike.channels import services
from huike.channels.config import SECRET_MASK, channel_secrets
from huike.channels.models import Channel
from huike.channels.registry import provider_for, providers
from huike.channels.testing import FakePlatform

admin = api_support.admin
team = api_support.team
fresh_rate_limits = api_support.fresh_rate_limits

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat generates
# A configuration each platform accepts; a kind not listed (one added later) is connected
# with every required field filled generically.
SAMPLE_CONFIGS: dict[str, dict[str, str]] = {
    "wechat_oa": {
        "app_id": "wx1234567890abcdef",
        "app_secret": "oa-app-secret-value",
        "token": "huiketoken",
        "encoding_aes_key": AES_KEY,
    },
    "wecom": {
        "corp_id": "ww1234567890abcdef",
        "agent_id": "1000002",
        "secret": "wecom-secret-value",
        "token": "huiketoken",
        "encoding_aes_key": AES_KEY,
    },
    "douyin": {"client_key": "awkey123", "client_secret": "douyin-secret-value"},
    "weibo": {
        "app_key": "1234567",
        "app_secret": "weibo-secret-value",
        "access_token": "weibo-token-value",
    },
    "whatsapp": {
        "phone_number_id": "106540352242922",
        "access_token": "whatsapp-token-value",
        "app_secret": "whatsapp-secret-value",
        "verify_token": "whatsapp-verify-value",
    },
    "messenger": {
        "page_id": "1234567890",
        "page_access_token": "messenger-token-value",
        "app_secret": "messenger-secret-value",
        "verify_token": "messenger-verify-value",
    },
    "linkedin": {
        "client_id": "78abcdef",
        "client_secret": "linkedin-secret-value",
        "organization_urn": "urn:li:organization:2414183",
    },
    "email": {
        "from_address": "support@acme.test",
        "smtp_host": "smtp.acme.test",
        "smtp_port": "465",
        "smtp_security": "ssl",
        "smtp_username": "support@acme.test",
        "smtp_password": "smtp-password-value",
    },
    "sms": {
        "provider": "aliyun",
        "access_key_id": "LTAI5tAcme",
        "access_key_secret": "aliyun-secret-value",
        "sign_name": "Acme",
    },
}
KINDS = [provider.kind for provider in providers()]


def sample_config(kind: str) -> dict[str, str]:
    if kind in SAMPLE_CONFIGS:
        return dict(SAMPLE_CONFIGS[kind])
    return {
        field.name: field.default or f"{field.name}-value"
        for field in provider_for(kind).config_fields
        if field.required
    }


def secret_values(kind: str, config: dict[str, str]) -> dict[str, str]:
    secret_names = {field.name for field in provider_for(kind).config_fields if field.secret}
    return {name: value for name, value in config.items() if name in secret_names and value}


def make_channel(actor: Actor, kind: str = "wechat_oa", **config: str) -> Channel:
    if kind not in KINDS:
        pytest.skip(f"no {kind} provider is registered in this installation")
    return services.channel_create(
        actor=actor, kind=kind, name=f"{kind} main", config={**sample_config(kind), **config}
    )


# --- connecting -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_admin_connects_each_kind_with_secrets_masked_and_encrypted(
    admin: Client, owner: Membership, kind: str, settings: Any
) -> None:
    # given
    settings.SITE_URL = "https://crm.acme.test"
    config = sample_config(kind)
    secrets = secret_values(kind, config)
    # when
    response = admin.post(
        "/api/v1/channels", {"kind": kind, "name": "Main", "config": config}, JSON
    )
    # then
    assert response.status_code == 201, response.content
    channel = Channel.objects.get(workspace=owner.workspace)
    body = response.json()
    assert body["id"] == str(channel.public_id)
    assert (body["kind"], body["name"], body["is_active"]) == (kind, "Main", True)
    assert body["last_test_at"] is None
    assert body["last_test_ok"] is None
    expected_config = {
        name: SECRET_MASK if name in secrets else value for name, value in config.items()
    }
    for field in provider_for(kind).config_fields:
        if field.secret and field.name not in secrets:
            expected_config[field.name] = ""
    assert body["config"] == expected_config
    for value in secrets.values():
        assert value not in response.content.decode()
        assert value.encode() not in bytes(channel.secrets_token or b"")
        assert value not in json.dumps(channel.settings)
    assert channel_secrets(channel) == secrets
    if provider_for(kind).receives_webhooks:
        assert body["webhook_url"] == f"https://crm.acme.test/hooks/{kind}/{channel.public_id}"
    else:
        assert body["webhook_url"] is None
    assert body["public_key"] == (channel.public_key if kind == "webchat" else None)
    assert audited("channel.created", owner.workspace) == [{"kind": kind, "name": "Main"}]


def test_secrets_are_stored_encrypted_not_as_plaintext(owner_actor: Actor) -> None:
    channel = make_channel(owner_actor, "wechat_oa")
    token = bytes(channel.secrets_token or b"")
    assert token
    assert b"oa-app-secret-value" not in token
    assert b"huiketoken" not in token
    assert channel.settings == {"app_id": "wx1234567890abcdef"}


def test_unknown_config_key_is_422_naming_it(admin: Client, owner: Membership) -> None:
    kind = KINDS[0]
    response = admin.post(
        "/api/v1/channels",
        {"kind": kind, "name": "Main", "config": {**sample_config(kind), "colour": "red"}},
        JSON,
    )
    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["errors"][0]["field"] == "config.colour"
    assert "colour" in problem["errors"][0]["message"]
    assert not Channel.objects.filter(workspace=owner.workspace).exists()


def test_missing_required_setting_is_422_naming_it(admin: Client, owner: Membership) -> None:
    if "wechat_oa" not in KINDS:
        pytest.skip("no wechat_oa provider is registered in this installation")
    config = sample_config("wechat_oa")
    del config["app_secret"]
    response = admin.post(
        "/api/v1/channels", {"kind": "wechat_oa", "name": "Main", "config": config}, JSON
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "config.app_secret"
    assert not Channel.objects.filter(workspace=owner.workspace).exists()


def test_provider_rule_violation_is_422_naming_the_field(admin: Client, owner: Membership) -> None:
    if "wechat_oa" not in KINDS:
        pytest.skip("no wechat_oa provider is registered in this installation")
    config = {**sample_config("wechat_oa"), "encoding_aes_key": "too-short"}
    response = admin.post(
        "/api/v1/channels", {"kind": "wechat_oa", "name": "Main", "config": config}, JSON
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "config.encoding_aes_key"


def test_unknown_kind_is_422(admin: Client, owner: Membership) -> None:
    response = admin.post("/api/v1/channels", {"kind": "fax", "name": "Fax", "config": {}}, JSON)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "kind"


def test_unknown_team_is_422(admin: Client, owner: Membership, other_workspace: Workspace) -> None:
    other_team = Team.objects.filter(workspace=other_workspace).first()
    kind = KINDS[0]
    response = admin.post(
        "/api/v1/channels",
        {
            "kind": kind,
            "name": "Main",
            "config": sample_config(kind),
            "team_id": str(other_team.public_id)
            if other_team
            else "00000000-0000-0000-0000-000000000000",
        },
        JSON,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "team_id"


def test_channel_goes_to_a_team(admin: Client, owner: Membership, team: Team) -> None:
    kind = KINDS[0]
    response = admin.post(
        "/api/v1/channels",
        {
            "kind": kind,
            "name": "Main",
            "config": sample_config(kind),
            "team_id": str(team.public_id),
        },
        JSON,
    )
    assert response.status_code == 201
    assert response.json()["team"] == {"id": str(team.public_id), "name": "North"}


def test_duplicate_name_is_409(admin: Client, owner_actor: Actor) -> None:
    channel = make_channel(owner_actor)
    response = admin.post(
        "/api/v1/channels",
        {"kind": channel.kind, "name": channel.name, "config": sample_config(channel.kind)},
        JSON,
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "name"


# --- reading and changing -----------------------------------------------------------------------
def test_list_filters_by_kind_and_active_and_pages(
    admin: Client, owner_actor: Actor, django_assert_num_queries: Any
) -> None:
    oa = make_channel(owner_actor, "wechat_oa")
    douyin = make_channel(owner_actor, "douyin")
    services.channel_set_active(actor=owner_actor, channel=douyin, active=False)

    # The key, its last use and the page, however many channels: which secrets are stored is
    # known without decrypting them.
    with django_assert_num_queries(3):
        everything = admin.get("/api/v1/channels").json()
    assert [item["id"] for item in everything["items"]] == [
        str(oa.public_id),
        str(douyin.public_id),
    ]
    assert everything["next"] is None
    assert [item["id"] for item in admin.get("/api/v1/channels?kind=douyin").json()["items"]] == [
        str(douyin.public_id)
    ]
    assert [item["id"] for item in admin.get("/api/v1/channels?active=true").json()["items"]] == [
        str(oa.public_id)
    ]
    first = admin.get("/api/v1/channels?limit=1").json()
    assert [item["id"] for item in first["items"]] == [str(oa.public_id)]
    second = admin.get(f"/api/v1/channels?limit=1&cursor={first['next']}").json()
    assert [item["id"] for item in second["items"]] == [str(douyin.public_id)]


def test_get_shows_masked_config(admin: Client, owner_actor: Actor) -> None:
    channel = make_channel(owner_actor)
    body = admin.get(f"/api/v1/channels/{channel.public_id}").json()
    assert body["config"] == {
        "app_id": "wx1234567890abcdef",
        "app_secret": SECRET_MASK,
        "token": SECRET_MASK,
        "encoding_aes_key": SECRET_MASK,
    }


@pytest.mark.parametrize("kept", [SECRET_MASK, ""])
def test_patch_with_masked_or_empty_secret_keeps_it(
    admin: Client, owner_actor: Actor, kept: str
) -> None:
    # given
    channel = make_channel(owner_actor)
    # when
    response = admin.patch(
        f"/api/v1/channels/{channel.public_id}",
        {"name": "Service account", "config": {"app_id": "wx0000000000000001", "app_secret": kept}},
        JSON,
    )
    # then
    assert response.status_code == 200, response.content
    channel.refresh_from_db()
    assert channel.name == "Service account"
    assert channel.settings == {"app_id": "wx0000000000000001"}
    assert channel_secrets(channel) == {
        "app_secret": "oa-app-secret-value",
        "token": "huiketoken",
        "encoding_aes_key": AES_KEY,
    }
    assert response.json()["config"]["app_secret"] == SECRET_MASK


def test_patch_replaces_a_secret_that_is_sent(admin: Client, owner_actor: Actor) -> None:
    channel = make_channel(owner_actor)
    response = admin.patch(
        f"/api/v1/channels/{channel.public_id}",
        {"config": {"app_secret": "rotated-secret"}},
        JSON,
    )
    assert response.status_code == 200
    channel.refresh_from_db()
    assert channel_secrets(channel)["app_secret"] == "rotated-secret"
    assert "rotated-secret" not in response.content.decode()
    assert channel.settings == {"app_id": "wx1234567890abcdef"}


def test_patch_unknown_config_key_is_422_and_changes_nothing(
    admin: Client, owner_actor: Actor
) -> None:
    channel = make_channel(owner_actor)
    response = admin.patch(
        f"/api/v1/channels/{channel.public_id}", {"config": {"nonsense": "1"}}, JSON
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "config.nonsense"
    channel.refresh_from_db()
    assert channel.settings == {"app_id": "wx1234567890abcdef"}


def test_disable_and_enable(admin: Client, owner_actor: Actor, owner: Membership) -> None:
    channel = make_channel(owner_actor)
    disabled = admin.post(f"/api/v1/channels/{channel.public_id}/disable")
    assert disabled.status_code == 200
    assert disabled.json()["is_active"] is False
    channel.refresh_from_db()
    assert channel.is_active is False
    enabled = admin.post(f"/api/v1/channels/{channel.public_id}/enable")
    assert enabled.json()["is_active"] is True
    channel.refresh_from_db()
    assert channel.is_active is True
    assert len(audited("channel.disabled", owner.workspace)) == 1
    assert len(audited("channel.enabled", owner.workspace)) == 1


# --- the connection test -------------------------------------------------------------------------
def test_connection_test_against_a_fake_wechat(admin: Client, owner_actor: Actor) -> None:
    # given a WeChat that issues a token for these credentials
    with FakePlatform() as platform:
        platform.route(
            "GET", "/cgi-bin/token", (200, {"access_token": "ACCESS", "expires_in": 7200})
        )
        channel = make_channel(owner_actor, "wechat_oa", api_base_url=platform.url)
        # when
        response = admin.post(f"/api/v1/channels/{channel.public_id}/test")
    # then
    assert response.status_code == 200, response.content
    assert response.json() == {"ok": True, "message": "Connected: WeChat issued an access token."}
    call = platform.calls_to("/cgi-bin/token")[0]
    assert call.query == {
        "grant_type": "client_credential",
        "appid": "wx1234567890abcdef",
        "secret": "oa-app-secret-value",
    }
    channel.refresh_from_db()
    assert channel.last_test_ok is True
    assert channel.last_test_message == "Connected: WeChat issued an access token."


def test_connection_test_reports_refused_credentials(admin: Client, owner_actor: Actor) -> None:
    with FakePlatform() as platform:
        platform.route(
            "GET", "/cgi-bin/token", (200, {"errcode": 40125, "errmsg": "invalid appsecret"})
        )
        channel = make_channel(owner_actor, "wechat_oa", api_base_url=platform.url)
        response = admin.post(f"/api/v1/channels/{channel.public_id}/test")
    body = response.json()
    assert response.status_code == 200
    assert body["ok"] is False
    assert "40125" in body["message"] or "invalid appsecret" in body["message"]
    channel.refresh_from_db()
    assert channel.last_test_ok is False
    assert channel.last_test_message == body["message"]
    detail = admin.get(f"/api/v1/channels/{channel.public_id}").json()
    assert (detail["last_test_ok"], detail["last_test_message"]) == (False, body["message"])


# --- access --------------------------------------------------------------------------------------
def test_another_workspace_sees_no_channel(owner_actor: Actor, other_workspace: Workspace) -> None:
    channel = make_channel(owner_actor)
    outsider = key_client(other_workspace)
    for method, path in [
        ("get", f"/api/v1/channels/{channel.public_id}"),
        ("patch", f"/api/v1/channels/{channel.public_id}"),
        ("post", f"/api/v1/channels/{channel.public_id}/test"),
        ("post", f"/api/v1/channels/{channel.public_id}/disable"),
        ("post", f"/api/v1/channels/{channel.public_id}/enable"),
    ]:
        response = getattr(outsider, method)(path, {"name": "Hijacked"}, JSON)
        assert response.status_code == 404, (method, path)
    assert outsider.get("/api/v1/channels").json()["items"] == []
    channel.refresh_from_db()
    assert (channel.name, channel.is_active) == ("wechat_oa main", True)


def test_role_without_channels_manage_cannot_write(
    owner_actor: Actor, workspace: Workspace
) -> None:
    channel = make_channel(owner_actor)
    service = key_client(workspace, "service")  # channels.view, not channels.manage
    assert service.get(f"/api/v1/channels/{channel.public_id}").status_code == 200
    kind = KINDS[0]
    refused = [
        service.post(
            "/api/v1/channels", {"kind": kind, "name": "X", "config": sample_config(kind)}, JSON
        ),
        service.patch(f"/api/v1/channels/{channel.public_id}", {"name": "Renamed"}, JSON),
        service.post(f"/api/v1/channels/{channel.public_id}/test"),
        service.post(f"/api/v1/channels/{channel.public_id}/disable"),
    ]
    assert [response.status_code for response in refused] == [403, 403, 403, 403]
    channel.refresh_from_db()
    assert (channel.name, channel.is_active, channel.last_test_at) == (
        "wechat_oa main",
        True,
        None,
    )
    assert Channel.objects.filter(workspace=workspace).count() == 1


def test_role_without_channels_view_cannot_read(owner_actor: Actor, workspace: Workspace) -> None:
    channel = make_channel(owner_actor)
    sales = key_client(workspace, "sales")
    assert sales.get("/api/v1/channels").status_code == 403
    assert sales.get(f"/api/v1/channels/{channel.public_id}").status_code == 403
