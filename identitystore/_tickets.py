"""Single-use tickets (email verification links): their secret token, what is stored of it, their
lifetime and their link."""

from __future__ import annotations

import hashlib
import secrets
import urllib.parse
from datetime import timedelta

from .errors import BadRequestError
from .limits import VERIFICATION_TTL, VERIFICATION_TTL_MAX

__all__ = ["new_token", "ticket_lifetime", "token_digest", "verification_link"]


def new_token() -> str:
    """A ticket's secret: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored of a ticket token: its SHA-256 (the token is random, so unkeyed is enough)."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


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
    return f"https://{domain}/u/email-verification?{urllib.parse.urlencode({'ticket': token})}#"
