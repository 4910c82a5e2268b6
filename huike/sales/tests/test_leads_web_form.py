"""The embeddable web form's public endpoints: the script, the config in the page's language,
a submission (lead + form.submitted + UTM + consent), spam refused storing nothing (honeypot,
too fast, rate limit), CORS for allowed origins, per-field errors, and unknown keys 404."""

import json
import time
from typing import Any

import pytest
from django.test import Client

from huike.accounts.access import Actor
from huike.customers.models import ConsentRecord, Customer, Event, Identity, MergeCandidate
from huike.sales import views_public
from huike.sales.models import Lead, WebForm
from huike.sales.web_forms import WebFormData, web_form_create

pytestmark = pytest.mark.django_db
JSON = "application/json"
ORIGIN = "https://www.shop.example"


@pytest.fixture
def web_form(owner_actor: Actor) -> WebForm:
    return web_form_create(
        actor=owner_actor,
        data=WebFormData(
            name="Request a demo",
            fields=[
                {"name": "name", "required": True},
                {"name": "phone", "required": False},
                {"name": "email", "required": False},
                {"name": "company_name", "required": False},
                {"name": "message", "required": False},
            ],
            allowed_origins=[ORIGIN],
            consent_text="Send me product news.",
            success_message="Thanks, talk soon!",
        ),
    )


def _old_token(form: WebForm) -> str:
    return views_public.form_token(form, issued_at=time.time() - 30)


def _submit(form: WebForm, client: Client | None = None, **values: Any) -> Any:
    body = {"token": _old_token(form), "name": "Liu Yang", "phone": "13911112222", **values}
    return (client or Client()).post(
        f"/forms/{form.public_key}/submit", json.dumps(body), JSON, headers={"Origin": ORIGIN}
    )


def test_embed_script_is_served_locally(web_form: WebForm) -> None:
    response = Client().get(f"/forms/{web_form.public_key}/embed.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert b"data-huike-form" in response.content


def test_config_follows_the_page_language(web_form: WebForm) -> None:
    # when
    english = Client().get(
        f"/forms/{web_form.public_key}/config?lang=en", headers={"Origin": ORIGIN}
    )
    chinese = Client().get(f"/forms/{web_form.public_key}/config?lang=zh-CN")
    # then
    body = english.json()
    assert english["Access-Control-Allow-Origin"] == ORIGIN
    assert [field["name"] for field in body["fields"]] == [
        "name",
        "phone",
        "email",
        "company_name",
        "message",
    ]
    assert body["fields"][0] == {"name": "name", "label": "Name", "required": True, "type": "text"}
    assert body["consent"] == {"text": "Send me product news.", "required": False}
    assert body["submit_url"] == f"http://testserver/forms/{web_form.public_key}/submit"
    assert chinese.json()["language"] == "zh-hans"


def test_submission_makes_a_lead_with_utm_event_and_consent(web_form: WebForm) -> None:
    # when
    response = _submit(
        web_form,
        email="liu@example.org",
        company_name="Hengda",
        message="Please call me after 3pm",
        consent="1",
        utm_source="baidu",
        utm_medium="cpc",
        utm_campaign="spring-sale",
        referrer="https://www.baidu.com/",
        page_url="https://www.shop.example/pricing?utm_source=baidu",
    )
    # then
    assert response.status_code == 200, response.content
    assert response.json() == {"ok": True, "message": "Thanks, talk soon!"}
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    lead = Lead.objects.get()
    assert (lead.source, lead.name, lead.company_name) == ("web_form", "Liu Yang", "Hengda")
    assert lead.source_detail == {
        "utm_source": "baidu",
        "utm_medium": "cpc",
        "utm_campaign": "spring-sale",
        "referrer": "https://www.baidu.com/",
        "landing_page": "https://www.shop.example/pricing?utm_source=baidu",
        "form_id": str(web_form.public_id),
        "form_name": "Request a demo",
    }
    assert lead.language == "en"
    assert lead.activities.get().body == "Please call me after 3pm"
    event = Event.objects.get(customer=lead.customer, kind="form.submitted")
    assert (event.properties["form"], event.properties["utm_campaign"]) == (
        "Request a demo",
        "spring-sale",
    )
    consent = ConsentRecord.objects.get(customer=lead.customer)
    assert (consent.purpose, consent.status) == ("marketing", "granted")
    web_form.refresh_from_db()
    assert web_form.submission_count == 1


def test_repeat_submission_keeps_one_lead(web_form: WebForm) -> None:
    assert _submit(web_form).status_code == 200
    assert _submit(web_form, utm_source="wechat").status_code == 200
    lead = Lead.objects.get()
    assert [repeat["utm_source"] for repeat in lead.source_detail["repeats"]] == ["wechat"]
    assert Event.objects.filter(kind="form.submitted").count() == 2


def test_a_submission_naming_a_known_customer_gives_them_no_new_keys_and_no_consent(
    web_form: WebForm,
) -> None:
    # given a customer known by phone, from a first submission without consent
    assert _submit(web_form).status_code == 200
    known = Customer.objects.get()
    # when someone submits that phone with an e-mail of their own and ticks consent
    response = _submit(web_form, email="stranger@example.org", consent="1")
    # then the lead stays on the known customer, who gets neither the e-mail nor a consent
    assert response.status_code == 200
    assert Customer.objects.count() == 1
    assert list(Identity.objects.filter(customer=known).values_list("kind", flat=True)) == ["phone"]
    assert ConsentRecord.objects.count() == 0
    submitted = Event.objects.filter(kind="form.submitted").order_by("id").last()
    assert submitted is not None
    assert submitted.properties["consent_unconfirmed"] is True


def test_a_submission_naming_two_known_customers_merges_nobody(web_form: WebForm) -> None:
    # given two customers, one known by phone, one by e-mail
    _submit(web_form, phone="13911112222")
    _submit(web_form, phone="", email="other@example.org", name="Other")
    assert Customer.objects.count() == 2
    # when one submission names both
    _submit(web_form, phone="13911112222", email="other@example.org")
    # then both stay (a person reviews the pair), whatever the workspace's merge rules
    assert Customer.objects.filter(status="active").count() == 2
    assert MergeCandidate.objects.count() == 1


def test_validation_errors_come_per_field_and_store_nothing(web_form: WebForm) -> None:
    response = _submit(web_form, name="", phone="12", email="not-an-email")
    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid",
        "errors": {
            "name": "This field is required.",
            "phone": "Enter a valid phone number.",
            "email": "Enter a valid email address.",
        },
    }
    assert not Lead.objects.exists()


def test_a_contact_is_needed(web_form: WebForm) -> None:
    response = _submit(web_form, phone="")
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"phone", "email"}
    assert not Lead.objects.exists()


def test_honeypot_is_answered_as_success_and_stores_nothing(web_form: WebForm) -> None:
    response = _submit(web_form, website="http://spam.example")
    assert response.status_code == 200
    assert not Lead.objects.exists()
    assert not Event.objects.filter(kind="form.submitted").exists()


def test_too_fast_is_refused_and_stores_nothing(web_form: WebForm) -> None:
    response = _submit(web_form, token=views_public.form_token(web_form))
    assert response.status_code == 400
    assert response.json()["error"] == "too_fast"
    assert not Lead.objects.exists()


def test_a_forged_or_foreign_token_is_refused(web_form: WebForm, owner_actor: Actor) -> None:
    other = web_form_create(
        actor=owner_actor, data=WebFormData(name="Other", fields=[{"name": "email"}])
    )
    assert _submit(web_form, token="forged").status_code == 400
    assert _submit(web_form, token=_old_token(other)).status_code == 400
    assert not Lead.objects.exists()


def test_a_token_is_good_for_one_submission(web_form: WebForm) -> None:
    # given a submission sent with a token
    token = _old_token(web_form)
    assert _submit(web_form, token=token).status_code == 200
    # when a bot posts again with the same token
    again = _submit(web_form, token=token, phone="13933334444")
    # then it is refused and nothing more is stored
    assert again.status_code == 400
    assert again.json()["error"] == "token"
    assert Lead.objects.count() == 1


def test_a_form_with_errors_keeps_its_token_for_the_corrected_answers(web_form: WebForm) -> None:
    token = _old_token(web_form)
    assert _submit(web_form, token=token, name="").status_code == 422
    assert _submit(web_form, token=token).status_code == 200
    assert Lead.objects.count() == 1


def test_rate_limit_per_address(web_form: WebForm) -> None:
    # given a visitor who already sent the limit
    for index in range(views_public.SUBMIT_RATE_LIMIT):
        assert _submit(web_form, phone=f"1391111{index:04d}").status_code == 200
    # when
    response = _submit(web_form, phone="13922223333")
    # then
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert Lead.objects.count() == views_public.SUBMIT_RATE_LIMIT


def test_an_origin_not_allowed_is_refused(web_form: WebForm) -> None:
    response = Client().post(
        f"/forms/{web_form.public_key}/submit",
        json.dumps({"token": _old_token(web_form), "name": "X", "phone": "13911112222"}),
        JSON,
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert not Lead.objects.exists()


def test_preflight_names_the_origin(web_form: WebForm) -> None:
    response = Client().options(f"/forms/{web_form.public_key}/submit", headers={"Origin": ORIGIN})
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == ORIGIN


def test_unknown_or_inactive_key_is_404(web_form: WebForm) -> None:
    client = Client()
    for path in ("embed.js", "config", ""):
        assert client.get(f"/forms/nope/{path}").status_code == 404
    assert client.post("/forms/nope/submit", "{}", JSON).status_code == 404
    WebForm.objects.filter(pk=web_form.pk).update(is_active=False)
    assert client.get(f"/forms/{web_form.public_key}/embed.js").status_code == 404
    assert _submit(web_form).status_code == 404
    assert not Lead.objects.exists()


def test_standalone_page_embeds_the_script(web_form: WebForm) -> None:
    page = Client().get(f"/forms/{web_form.public_key}/?lang=zh-hans").content.decode()
    assert f'<script src="/forms/{web_form.public_key}/embed.js" async></script>' in page
    assert '<html lang="zh-Hans">' in page
