"""Documented error answers, shared by every API router so OpenAPI lists them all."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    detail: str
    field: str | None = Field(default=None, description="The input field at fault, if any.")


class FieldErrorDetail(BaseModel):
    field: str
    message: str


class ValidationErrorDetail(ErrorDetail):
    errors: list[FieldErrorDetail] | None = Field(
        default=None, description="Every failing field, when the request shape was wrong."
    )


_ERROR_TEXT = {
    400: "The request body could not be read",
    401: "Not signed in: send 'Authorization: Bearer <API token>'",
    403: "A cookie-authenticated write without the X-CSRF-Token header",
    404: "Not found (or not in your workspace)",
    409: "Conflicts with the current state (duplicate, or the wrong state for this action)",
    413: "The upload is larger than allowed",
    422: "Invalid input; `field` names the field at fault",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` documentation of a route's error answers."""
    return {
        code: {
            "model": ValidationErrorDetail if code == 422 else ErrorDetail,
            "description": _ERROR_TEXT[code],
        }
        for code in codes
    }


LIST_ERRORS = error_responses(401, 422)
READ_ERRORS = error_responses(401, 404, 422)
WRITE_ERRORS = error_responses(400, 401, 403, 404, 409, 422)
