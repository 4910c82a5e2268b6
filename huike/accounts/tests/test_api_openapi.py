"""The OpenAPI document, the offline docs page, and the problem+json error shape."""

import re
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.test import Client

from huike.accounts.models import Membership, Role, Workspace
from huike.accounts.services import api_key_create

JSON = "application/json"
EN = {"Accept-Language": "en"}  # titles and details are translated
PROBLEM = "application/problem+json; charset=utf-8"


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    cache.clear()


@pytest.fixture
def admin_client(workspace: Workspace) -> Client:
    issued = api_key_create(
        actor=None,
        workspace=workspace,
        name="docs",
        role=Role.objects.get(workspace=workspace, key="admin"),
    )
    return Client(headers={"Authorization": f"Bearer {issued.plaintext}", **EN})


def test_openapi_lists_the_endpoints_and_the_bearer_scheme(db: None) -> None:
    # when the OpenAPI document is fetched without credentials
    response = Client().get("/api/v1/openapi.json")
    # then it has every foundation path with its operations
    assert response.status_code == 200
    schema = response.json()
    operations = {path: sorted(methods) for path, methods in schema["paths"].items()}
    foundation = {
        "/api/v1/workspace": ["get", "patch"],
        "/api/v1/workspaces": ["get"],
        "/api/v1/members": ["get", "post"],
        "/api/v1/members/{member_id}": ["get", "patch"],
        "/api/v1/teams": ["get", "post"],
        "/api/v1/teams/{team_id}": ["delete", "get", "patch"],
        "/api/v1/roles": ["get", "post"],
        "/api/v1/roles/{role_id}": ["delete", "get", "patch"],
        "/api/v1/permissions": ["get"],
        "/api/v1/api-keys": ["get", "post"],
        "/api/v1/api-keys/{api_key_id}/revoke": ["post"],
        "/api/v1/audit-entries": ["get"],
    }
    # Later parts add paths of their own, which their own tests check.
    assert {path: operations.get(path) for path in foundation} == foundation
    # and the bearer scheme, required by every operation (with the session as alternative)
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKeyAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "API key"}
    assert schemes["SessionAuth"] == {"type": "apiKey", "in": "cookie", "name": "sessionid"}
    securities = {
        str(operation["security"])
        for methods in schema["paths"].values()
        for operation in methods.values()
    }
    assert securities == {"[{'ApiKeyAuth': []}, {'SessionAuth': []}]"}


def test_openapi_documents_cursor_pagination(db: None) -> None:
    schema = Client().get("/api/v1/openapi.json").json()
    parameters = schema["paths"]["/api/v1/members"]["get"]["parameters"]
    assert [parameter["name"] for parameter in parameters] == ["cursor", "limit"]
    assert parameters[1]["schema"]["maximum"] == 200
    page = schema["components"]["schemas"]["PageOut_MemberOut_"]
    assert sorted(page["properties"]) == ["items", "next"]


def test_docs_page_uses_only_local_static_files(db: None) -> None:
    # when the docs page is opened
    response = Client().get("/api/v1/docs")
    page = response.content.decode()
    # then it loads Swagger UI from this server only: no CDN for offline installs
    assert response.status_code == 200
    assert not re.search(r"https?://", page)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sorted(assets) == [
        "/static/ninja/favicon.png",
        "/static/ninja/favicon.svg",
        "/static/ninja/swagger-ui-bundle.js",
        "/static/ninja/swagger-ui-init.js",
        "/static/ninja/swagger-ui.css",
    ]
    assert '"url": "/api/v1/openapi.json"' in page


def test_docs_assets_are_found_by_collectstatic(db: None) -> None:
    # The files come from the django-ninja package; collectstatic finds them through the
    # "ninja" app, and whitenoise serves them.
    page = Client().get("/api/v1/docs").content.decode()
    for asset in re.findall(r'(?:src|href)="/static/([^"]+)"', page):
        assert finders.find(asset) is not None, asset


# --- problem+json ---------------------------------------------------------------------------
def test_validation_error_names_each_bad_field(admin_client: Client) -> None:
    # when a member is added with a bad email and no role
    response = admin_client.post("/api/v1/members", {"email": "not-an-email"}, JSON)
    # then the problem names both fields
    assert response.status_code == 422
    assert response["Content-Type"] == PROBLEM
    assert response.json() == {
        "type": "urn:huike:problem:validation-error",
        "title": "Validation failed",
        "status": 422,
        "detail": "Some fields are missing or not valid; see errors.",
        "instance": "/api/v1/members",
        "errors": [
            {"field": "email", "message": "Enter a valid email address."},
            {"field": "role", "message": "Field required"},
        ],
    }


def test_query_parameter_errors_name_the_parameter(admin_client: Client) -> None:
    response = admin_client.get("/api/v1/members?limit=500")
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "limit", "message": "Input should be less than or equal to 200"}
    ]


def test_service_error_with_a_field_names_it(admin_client: Client, owner: Membership) -> None:
    response = admin_client.patch("/api/v1/workspace", {"timezone": "Mars/Olympus"}, JSON)
    assert response.status_code == 422
    assert response["Content-Type"] == PROBLEM
    problem = response.json()
    assert {key: problem[key] for key in ("type", "title", "status", "instance")} == {
        "type": "urn:huike:problem:invalid-input",
        "title": "Invalid input",
        "status": 422,
        "instance": "/api/v1/workspace",
    }
    assert "Mars/Olympus" in problem["detail"]
    assert problem["errors"] == [{"field": "timezone", "message": problem["detail"]}]


def test_conflict_is_a_409_problem(admin_client: Client, owner: Membership) -> None:
    response = admin_client.post(
        "/api/v1/members",
        {"email": "owner@acme.test", "role": str(owner.role.public_id)},
        JSON,
    )
    assert response.status_code == 409
    assert response.json()["type"] == "urn:huike:problem:conflict"
    assert response.json()["errors"][0]["field"] == "email"


def test_unparsable_body_is_a_400_problem(admin_client: Client) -> None:
    response = admin_client.post("/api/v1/teams", "{not json", JSON)
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert response.json()["detail"] == "Cannot parse request body"


def test_unknown_endpoint_and_method_are_problems(admin_client: Client) -> None:
    missing = admin_client.get("/api/v1/no-such-thing")
    wrong_method = admin_client.put("/api/v1/workspace", {}, JSON)
    assert (missing.status_code, missing["Content-Type"]) == (404, PROBLEM)
    assert (wrong_method.status_code, wrong_method["Content-Type"]) == (405, PROBLEM)
    assert sorted(wrong_method["Allow"].split(", ")) == ["GET", "PATCH"]


def test_malformed_id_in_the_path_is_a_validation_problem(admin_client: Client) -> None:
    response = admin_client.get("/api/v1/members/not-a-uuid")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "member_id"


@pytest.mark.parametrize("headers", [{}, {"Idempotency-Key": "big"}])
def test_too_large_body_is_a_413_problem(
    admin_client: Client, settings: Any, headers: dict[str, str]
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = admin_client.post("/api/v1/teams", {"name": "x" * 200}, JSON, headers=headers)
    assert response.status_code == 413
    assert response["Content-Type"] == PROBLEM
    assert response.json()["detail"] == "The request body is too large."
