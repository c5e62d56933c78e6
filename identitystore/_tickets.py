"""Single-use tickets (email verification and password change links): their secret token, what is
stored of it, their lifetime and their link."""

from __future__ import annotations

import hashlib
import json
import secrets
import urllib.parse
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from ._jsonschema import problems
from .errors import BadRequestError, PayloadValidationError
from .limits import VERIFICATION_TTL, VERIFICATION_TTL_MAX

__all__ = [
    "PASSWORD_CHANGE",
    "PASSWORD_CHANGE_USED",
    "PasswordChange",
    "check_password_change_request",
    "new_token",
    "reset_link",
    "ticket_lifetime",
    "token_digest",
    "verification_link",
]

#: The record kind a password change ticket is kept under (keyed by its token's digest), and the
#: kind of the mark that it was used.
PASSWORD_CHANGE = "password_change_ticket"
PASSWORD_CHANGE_USED = "password_change_ticket_used"
#: How long a password change ticket's record is kept after it expires, so that using it says
#: "expired" or "already used" rather than "invalid".
KEPT_AFTER_EXPIRY = VERIFICATION_TTL_MAX


def new_token() -> str:
    """A ticket's secret: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored of a ticket token: its SHA-256 (the token is random, so unkeyed is enough)."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


#: A password change ticket's arguments, in Auth0's words (``ChangePasswordTicketRequestContent``).
_PASSWORD_CHANGE_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "result_url": {
            "type": "string",
            "format": "strict-uri",
            "description": "URL the user will be redirected to once the ticket is used",
        },
        "user_id": {
            "type": "string",
            "minLength": 1,
            "description": "user_id of for whom the ticket should be created",
        },
        "connection": {"type": "string", "minLength": 1, "description": "The connection's name"},
        "email": {
            "type": "string",
            "format": "email",
            "description": "Email address of the user for whom the tickets should be created",
        },
        "ttl_sec": {
            "type": "integer",
            "minimum": 0,
            "description": "Number of seconds for which the ticket is valid before expiration",
        },
        "mark_email_as_verified": {
            "type": "boolean",
            "description": "Whether to set the email_verified attribute to true",
        },
    },
}


def check_password_change_request(fields: Mapping[str, Any]) -> None:
    """Check a password change ticket's arguments (those given, None left out).

    Raises:
        PayloadValidationError: a value of the wrong type or format (every one listed), or a user
            named by ``user_id`` and by ``connection`` and ``email`` at once, or by neither.
    """
    found = problems(fields, _PASSWORD_CHANGE_SCHEMA)
    if found:
        raise PayloadValidationError(found)
    by_email = fields.keys() & {"connection", "email"}
    if ("user_id" in fields and by_email) or ("user_id" not in fields and len(by_email) != 2):
        raise PayloadValidationError.ticket_user()


def ticket_lifetime(ttl_sec: object) -> timedelta:
    """Auth0's ``ttl_sec``: whole seconds up to 30 days; 0 means the 5-day default.

    Raises:
        BadRequestError: not an integer, or out of range.
    """
    if isinstance(ttl_sec, bool) or not isinstance(ttl_sec, int):
        raise BadRequestError("ttl_sec must be an integer")
    most = int(VERIFICATION_TTL_MAX.total_seconds())
    if not 0 <= ttl_sec <= most:
        raise BadRequestError(f"ttl_sec must be between 0 and {most} seconds")
    return timedelta(seconds=ttl_sec) if ttl_sec else VERIFICATION_TTL


def verification_link(domain: str, token: str) -> str:
    """The email verification link of ``token``: Auth0's ``/u/email-verification?ticket=...#``."""
    return _link(domain, "email-verification", token)


def reset_link(domain: str, token: str) -> str:
    """The password change link of ``token``: Auth0's ``/u/reset-password?ticket=...#``."""
    return _link(domain, "reset-password", token)


def _link(domain: str, page: str, token: str) -> str:
    return f"https://{domain}/u/{page}?{urllib.parse.urlencode({'ticket': token})}#"


@dataclass(frozen=True, slots=True)
class PasswordChange:
    """What a password change ticket's record holds (never its token).

    Attributes:
        user_id: whose password it changes.
        email: the user's email when it was made: a ticket for an older email is void.
        expires_at: when it stops working.
        mark_email_as_verified: whether using it also verifies the email.
        result_url: where a reset page sends the user afterwards, if anywhere.
    """

    user_id: str
    email: str | None
    expires_at: str
    mark_email_as_verified: bool = False
    result_url: str | None = None

    def to_record(self) -> str:
        """The record's JSON text."""
        return json.dumps(asdict(self))

    @classmethod
    def from_record(cls, text: str) -> PasswordChange:
        """The ticket of a record written by ``to_record``."""
        data: Mapping[str, Any] = json.loads(text)
        return cls(**data)
