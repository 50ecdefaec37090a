"""Errors the sandbox answers with, each in the body shape Xero uses for it."""

from __future__ import annotations

import uuid
from typing import Any


class ApiError(Exception):
    """A non-2xx answer: status, JSON body (or text) and extra headers."""

    def __init__(
        self,
        status: int,
        body: dict[str, Any] | str,
        headers: dict[str, str] | None = None,
        *,
        always_json: bool = False,
    ) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.always_json = always_json


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    """The gateway's problem-details body used for 401/403 (see XERO_FACTS §7)."""
    return {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": {},
    }


def unauthorized(detail: str = "AuthenticationUnsuccessful") -> ApiError:
    return ApiError(
        401,
        problem(401, "Unauthorized", detail),
        {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        always_json=True,
    )


def forbidden() -> ApiError:
    """Xero's 403 for a missing or wrong tenant and for a missing scope alike (XERO_FACTS §7):
    the body does not say which."""
    return ApiError(403, problem(403, "Forbidden", "AuthenticationUnsuccessful"), always_json=True)


def validation_body(elements: list[dict[str, Any]], message: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
    }
    if message is not None:
        body["Elements"] = [{"ValidationErrors": [{"Message": message}]}]
    else:
        body["Elements"] = elements
    return body


def validation(message: str) -> ApiError:
    """A single-message ValidationException (e.g. a bad request-level parameter)."""
    return ApiError(400, validation_body([], message))


def query_parse(message: str) -> ApiError:
    """A bad `where`/`order`: Xero answers with a QueryParseException (ErrorNumber 16)."""
    return ApiError(400, {"ErrorNumber": 16, "Type": "QueryParseException", "Message": message})


def not_found() -> ApiError:
    return ApiError(404, "The resource you're looking for cannot be found")


def oauth_error(error: str, status: int = 400, description: str | None = None) -> ApiError:
    """The token endpoint's error body; `error_description` only where the sandbox has words
    to add (RFC 6749 §5.2 makes it optional; Xero sends `{"error": "invalid_grant"}` bare)."""
    body = {"error": error}
    if description:
        body["error_description"] = description
    return ApiError(status, body, always_json=True)
