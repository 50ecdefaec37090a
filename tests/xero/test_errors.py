"""The error factory on every error shape Xero (and the sandbox) answers with."""

from __future__ import annotations

import json

import pytest

from xerosync.xero.errors import (
    AuthenticationError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ReauthorizationRequired,
    ServerError,
    ValidationError,
    XeroError,
    error_from_response,
    field_from_message,
)


def build(status: int, body: object, headers: dict[str, str] | None = None) -> XeroError:
    text = body if isinstance(body, str) else json.dumps(body)
    return error_from_response(status, text, headers or {}, method="PUT", path="/api.xro/2.0/X")


def test_validation_with_elements_keeps_each_message_index_and_field() -> None:
    body = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": [
            {
                "ContactID": "00000000-0000-0000-0000-000000000000",
                "Name": "Acme",
                "ValidationErrors": [
                    {
                        "Message": "The contact name Acme is already assigned to another "
                        "contact. The contact name must be unique across all active contacts."
                    }
                ],
            },
            {
                "InvoiceID": "6b0d2b5a-9d1e-4a8c-8f1a-0a1b2c3d4e5f",
                "ValidationErrors": [{"Message": "Account code '999' is not a valid code"}],
                "Warnings": [{"Message": "Line amount rounded"}],
            },
        ],
    }
    err = build(400, body, {"Xero-Correlation-Id": "corr-1"})
    assert isinstance(err, ValidationError)
    assert not err.retryable
    assert err.status == 400 and err.correlation_id == "corr-1"
    first, second = err.elements
    assert first.index == 0 and first.field == "Name" and "already assigned" in first.messages[0]
    assert second.index == 1 and second.field == "AccountCode"
    assert second.warnings == ("Line amount rounded",)
    assert second.ids == {"InvoiceID": "6b0d2b5a-9d1e-4a8c-8f1a-0a1b2c3d4e5f"}
    assert "Acme" in str(err) and "PUT /api.xro/2.0/X" in str(err)


def test_query_parse_exception_is_a_validation_error_naming_the_type() -> None:
    err = build(400, {"ErrorNumber": 16, "Type": "QueryParseException", "Message": "bad where"})
    assert isinstance(err, ValidationError) and err.elements == ()
    assert "QueryParseException" in err.message


def test_401_token_expired_is_authentication_and_worth_a_new_token() -> None:
    body = {
        "Type": None,
        "Title": "Unauthorized",
        "Status": 401,
        "Detail": "TokenExpired: token expired at 04/09/2023 05:16:59",
        "Instance": "c1d2",
        "Extensions": {},
    }
    err = build(401, body)
    assert type(err) is AuthenticationError
    assert err.retryable and err.correlation_id == "c1d2"
    assert "TokenExpired" in str(err)


def test_401_unsuccessful_is_not_retryable() -> None:
    body = {"Title": "Unauthorized", "Status": 401, "Detail": "AuthenticationUnsuccessful"}
    err = build(401, body)
    assert type(err) is AuthenticationError and not err.retryable


def test_403_authentication_unsuccessful_is_permission() -> None:
    body = {
        "Type": None,
        "Title": "Forbidden",
        "Status": 403,
        "Detail": "AuthenticationUnsuccessful",
        "Instance": "x",
        "Extensions": {},
    }
    err = build(403, body)
    assert isinstance(err, PermissionDenied) and not err.retryable


@pytest.mark.parametrize("body", ["The resource you're looking for cannot be found", "", {}])
def test_404_in_any_body_shape(body: object) -> None:
    err = build(404, body)
    assert isinstance(err, NotFound) and not err.retryable


@pytest.mark.parametrize(
    ("problem", "retry_after", "limit", "expected_after"),
    [
        ("minute", "37", "minute", 37.0),
        ("day", "66975", "day", 66975.0),
        ("Daily", "10", "day", 10.0),
        ("concurrent", None, "concurrent", 1.0),
        ("appminute", "5", "appminute", 5.0),
    ],
)
def test_429_names_the_limit_and_when_to_come_back(
    problem: str, retry_after: str | None, limit: str, expected_after: float
) -> None:
    headers = {"X-Rate-Limit-Problem": problem, "X-MinLimit-Remaining": "0"}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    err = build(429, "", headers)
    assert isinstance(err, RateLimited)
    assert err.limit == limit and err.retry_after == expected_after and err.retryable


def test_old_style_503_rate_limit_is_rate_limited() -> None:
    err = build(
        503,
        "oauth_problem=rate limit exceeded",
        {"X-Rate-Limit-Problem": "Minute", "Retry-After": "3"},
    )
    assert isinstance(err, RateLimited) and err.limit == "minute" and err.retry_after == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_with_html_or_text_bodies_do_not_crash(status: int) -> None:
    html = (
        "<!DOCTYPE html><html><head><title>Xero is down for maintenance</title></head>"
        "<body><h1>Back soon</h1></body></html>"
    )
    err = build(status, html, {"Retry-After": "120"})
    assert isinstance(err, ServerError) and err.retryable and err.retry_after == 120
    assert "Xero is down for maintenance" in str(err)
    assert isinstance(build(status, "Service Unavailable"), ServerError)
    assert isinstance(build(status, "{not json"), ServerError)


def test_501_is_not_retryable() -> None:
    assert not build(501, {"Message": "not implemented"}).retryable


def test_invalid_grant_requires_reauthorisation_and_is_final() -> None:
    err = build(400, {"error": "invalid_grant"})
    assert isinstance(err, ReauthorizationRequired) and isinstance(err, AuthenticationError)
    assert not err.retryable


def test_other_oauth_errors_are_authentication_errors() -> None:
    err = build(401, {"error": "invalid_client"})
    assert type(err) is AuthenticationError and not err.retryable


def test_secrets_are_redacted_from_bodies_and_headers() -> None:
    err = build(
        400,
        {"error": "invalid_request", "refresh_token": "r-secret", "access_token": "a-secret"},
        {"Authorization": "Bearer a-secret"},
    )
    for text in (str(err), repr(err), json.dumps(err.body), json.dumps(err.headers)):
        assert "secret" not in text


def test_field_guesses() -> None:
    assert field_from_message("Email address must be valid.") == "EmailAddress"
    assert field_from_message("Invoice # must be unique.") == "InvoiceNumber"
    assert field_from_message("Something odd happened") is None
