"""Errors a user can cause, raised by services and access functions, rendered by the HTTP layer
(problem+json in the API, messages and status codes in pages)."""


class HuikeError(Exception):
    status_code = 400
    title = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFoundError(HuikeError):
    """Also raised for records of another workspace, so their existence does not leak."""

    status_code = 404
    title = "Not found"


class PermissionDeniedError(HuikeError):
    status_code = 403
    title = "Permission denied"


class ConflictError(HuikeError):
    status_code = 409
    title = "Conflict"


class InvalidInputError(HuikeError):
    status_code = 422
    title = "Invalid input"
