"""API endpoints for imports and exports of customers and companies."""

from ninja import Router

router = Router()
