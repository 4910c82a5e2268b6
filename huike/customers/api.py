"""API endpoints of the customers part."""

from ninja import Router

router = Router()
