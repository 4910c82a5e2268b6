"""The API root: /api/v1/, OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs."""

from ninja import NinjaAPI

api = NinjaAPI(
    title="Huike API",
    version="1.0.0",
    urls_namespace="api-v1",
    description="Huike (汇客) Social CRM. Authenticate with `Authorization: Bearer <API key>`.",
)
