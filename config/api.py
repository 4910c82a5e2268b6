"""The API root: /api/v1/, OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs.

Who is calling, rate limits and Idempotency-Key are handled before ninja by
huike.accounts.api_gateway.ApiGatewayMiddleware; the auth classes here only pick up the actor
it resolved. Every error is rendered as application/problem+json (huike.core.problem).
"""

import json
from pathlib import Path
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template import Engine, RequestContext
from ninja import NinjaAPI
from ninja.openapi.docs import ABS_TPL_PATH, Swagger

from huike.accounts.api import router as accounts_router
from huike.accounts.api_gateway import ApiKeyAuth, SessionAuth
from huike.channels.api import router as channels_router
from huike.core.problem import register_problem_handlers
from huike.customers.api import router as customers_router
from huike.customers.api_sharing import sharing_router
from huike.customers.import_api import router as customers_import_router
from huike.inbox.api import router as inbox_router
from huike.sales.api import router as sales_router


class LocalSwagger(Swagger):
    """Swagger UI from the files django-ninja ships, never from a CDN.

    ninja falls back to a CDN page unless "ninja" is in INSTALLED_APPS; on-premise installs
    have no internet, so the page is always rendered from ninja's local template, whose
    {% static %} assets (ninja/static/ninja/) collectstatic gathers from the "ninja" app.
    """

    _engine = Engine(
        dirs=[str(Path(ABS_TPL_PATH).parent)],
        libraries={"static": "django.templatetags.static"},
    )

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        context = {
            "swagger_settings": json.dumps(self.settings, indent=1),
            "api": api,
            # The session scheme needs the CSRF token for "Try it out" writes.
            "add_csrf": True,
        }
        template = self._engine.get_template(self.template)
        return HttpResponse(template.render(RequestContext(request, context)))


api = NinjaAPI(
    title="Huike API",
    version="1.0.0",
    urls_namespace="api-v1",
    description=(
        "Huike (汇客) Social CRM. Authenticate with `Authorization: Bearer <API key>` or a "
        "signed-in browser session. Guide: docs/api.md."
    ),
    auth=[ApiKeyAuth(), SessionAuth()],
    docs=LocalSwagger(),
)
register_problem_handlers(api)
api.add_router("", accounts_router)
api.add_router("", customers_router)
api.add_router("", customers_import_router)
api.add_router("", channels_router)
api.add_router("", inbox_router)
api.add_router("", sales_router)
# Shares of every kind the apps registered in their ready() (customers, leads, deals).
api.add_router("", sharing_router())
