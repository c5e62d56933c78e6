"""The emulator's own HTTP errors: Auth0's answers that no store operation gives.

The store's refusals are ``IdentityStoreError`` and carry their own body (``to_dict()``); these
are the gateway's: authentication, routing, request bodies, rate limits, and the
``/oauth/token`` endpoint's OAuth errors (``{"error", "error_description"}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

__all__ = [
    "ApiError",
    "OAuthError",
    "bad_audience",
    "bad_header",
    "body_too_large",
    "expired_token",
    "grant_not_allowed",
    "insufficient_scope",
    "internal_error",
    "invalid_token",
    "method_not_allowed",
    "missing_authentication",
    "not_found",
    "query_error",
    "too_many_requests",
]

#: Reason phrases that differ between Python versions, fixed to the ones Auth0 sends.
_PHRASES = {413: "Request Entity Too Large"}


def phrase(status: int) -> str:
    """Auth0's ``error`` field for ``status``: the HTTP reason phrase."""
    return _PHRASES.get(status) or HTTPStatus(status).phrase


class ApiError(Exception):
    """An error answered in the Management API's envelope ``{statusCode, error, message, ...}``.

    Attributes:
        status_code: the HTTP status.
        message: Auth0's ``message``.
        error_code: Auth0's ``errorCode``, or None where Auth0 sends none.
        attributes: whether the body repeats the message under ``attributes.error`` (401s).
        headers: extra response headers.
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        error_code: str | None = None,
        attributes: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.error_code = error_code
        self.attributes = attributes
        self.headers = dict(headers or {})

    def to_dict(self) -> dict[str, Any]:
        """The JSON body."""
        body: dict[str, Any] = {
            "statusCode": self.status_code,
            "error": phrase(self.status_code),
            "message": self.message,
        }
        if self.error_code is not None:
            body["errorCode"] = self.error_code
        if self.attributes:
            body["attributes"] = {"error": self.message}
        return body


class OAuthError(Exception):
    """An ``/oauth/token`` error: ``{"error": code, "error_description": text}``.

    Attributes:
        status_code: the HTTP status.
        error: the OAuth error code (``invalid_request``, ``access_denied``, ...).
        description: the human text.
        headers: extra response headers.
        extra: further body fields (``error_uri``).
    """

    def __init__(
        self,
        status_code: int,
        error: str,
        description: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: str,
    ) -> None:
        super().__init__(description)
        self.status_code = status_code
        self.error = error
        self.description = description
        self.headers = dict(headers or {})
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        """The JSON body."""
        return {"error": self.error, "error_description": self.description, **self.extra}


def grant_not_allowed(grant_type: str) -> OAuthError:
    """A grant the client may not use on ``/oauth/token``."""
    return OAuthError(
        403,
        "unauthorized_client",
        f"Grant type '{grant_type[:256]}' not allowed for the client.",
        error_uri="https://auth0.com/docs/clients/client-grant-types",
    )


# The token checks, numbered as in docs/auth0-reference-http.md#authentication-of-the-management-api
def missing_authentication() -> ApiError:
    """No ``Authorization`` header (check 1)."""
    return ApiError(401, "Missing authentication")


def bad_header() -> ApiError:
    """An ``Authorization`` header that is not ``Bearer <a>.<b>.<c>`` (check 2)."""
    return ApiError(400, "Bad HTTP authentication header format", error_code="Bearer")


def invalid_token() -> ApiError:
    """A token that is not ours: undecodable, wrongly signed, unknown key or issuer (check 3)."""
    return ApiError(401, "Invalid token", attributes=True)


def expired_token() -> ApiError:
    """A token past its ``exp`` (check 4)."""
    return ApiError(401, "Expired token received for JSON Web Token validation", attributes=True)


def bad_audience(audience: str) -> ApiError:
    """A token for another API; the text names the token's audience (check 5)."""
    return ApiError(401, f"Bad audience: {audience}")


def insufficient_scope(expected: tuple[str, ...]) -> ApiError:
    """A valid token with none of the route's scopes (check 7)."""
    return ApiError(
        403,
        f"Insufficient scope, expected any of: {','.join(expected)}",
        error_code="insufficient_scope",
    )


def not_found() -> ApiError:
    """No route has this path."""
    return ApiError(404, "Not Found")


def method_not_allowed(allowed: list[str]) -> ApiError:
    """A known path, asked with a method it does not serve."""
    return ApiError(405, "Method Not Allowed", headers={"allow": ", ".join(allowed)})


def body_too_large(limit: int) -> ApiError:
    """A body over the limit (hapi's text)."""
    return ApiError(413, f"Payload content length greater than maximum allowed: {limit}")


def query_error(name: str, problem: str) -> ApiError:
    """A query parameter of the wrong type (Auth0's query validation text)."""
    return ApiError(
        400,
        f"Query validation error: '{problem}' on property {name}.",
        error_code="invalid_query_string",
    )


def too_many_requests(retry_after: int) -> ApiError:
    """The client's requests per second are used up (docs/auth0-reference-http.md#rate-limits)."""
    return ApiError(
        429,
        "Global limit has been reached",
        error_code="too_many_requests",
        headers={"retry-after": str(retry_after)},
    )


def internal_error() -> ApiError:
    """An unexpected failure (logged, never shown)."""
    return ApiError(500, "Internal Server Error")
