"""Passwordless one-time codes: which identifier a connection sends them to, their length and
lifetime, how they are made, stored (so that a copy of the database does not give them) and sent
as a link."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import urllib.parse
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from .limits import CODE_LENGTH, CODE_LENGTH_RANGE, CODE_LIFETIME, CODE_TIME_STEP_RANGE

__all__ = [
    "code_digest",
    "code_settings",
    "identifier_key",
    "magic_link",
    "new_code",
]

Identifier = Literal["email", "phone_number"]

#: The bytes of a store's secret key for codes.
KEY_BYTES = 32
#: scrypt's (n, r, p) for codes stored without a secret key: 2 MiB and a few ms a code.
CODE_SCRYPT = (2**11, 8, 1)


def identifier_key(strategy: str) -> Identifier | None:
    """Where a connection of ``strategy`` sends codes: ``email``, ``phone_number``, or None."""
    if strategy == "email":
        return "email"
    if strategy == "sms":
        return "phone_number"
    return None


def code_settings(options: Mapping[str, Any]) -> tuple[int, timedelta]:
    """Code length and lifetime from ``options.totp``; a missing or unusable value is the default.

    A value outside Auth0's bounds (e.g. ``length: 0``, which would make the empty string a valid
    code) or of the wrong type is ignored rather than trusted.
    """
    totp = options.get("totp")
    if not isinstance(totp, Mapping):
        totp = {}
    length, step = totp.get("length"), totp.get("time_step")
    low, high = CODE_LENGTH_RANGE
    low_step, high_step = CODE_TIME_STEP_RANGE
    if not (isinstance(length, int) and not isinstance(length, bool) and low <= length <= high):
        length = CODE_LENGTH
    lifetime = CODE_LIFETIME
    if isinstance(step, int) and not isinstance(step, bool) and low_step <= step <= high_step:
        lifetime = timedelta(seconds=step)
    return length, lifetime


def new_code(length: int) -> str:
    """A random code of ``length`` decimal digits."""
    return "".join(secrets.choice("0123456789") for _ in range(length))


def code_digest(key: bytes | None, connection_id: str, identifier: str, code: str) -> str:
    """What is stored of a code, so that a copy of the database does not give it back.

    With the store's secret ``key`` (never stored in the database): HMAC-SHA256, which a copy
    cannot reverse at all. Without one: scrypt salted with the connection and identifier
    (``CODE_SCRYPT``: a few milliseconds a code, so searching a 6-digit code's million values
    costs hours of CPU, against a lifetime of minutes).
    """
    message = f"{connection_id}\x00{identifier}\x00".encode("utf-8", "surrogatepass")
    secret = code.encode("utf-8", "surrogatepass")
    if key is not None:
        return hmac.new(key, message + secret, hashlib.sha256).hexdigest()
    n, r, p = CODE_SCRYPT
    return hashlib.scrypt(secret, salt=message, n=n, r=r, p=p, maxmem=256 * n * r, dklen=32).hex()


def magic_link(domain: str, connection: str, key: Identifier, value: str, code: str) -> str:
    """The link a ``send="link"`` message carries: Auth0's ``/passwordless/verify_redirect``."""
    query = urllib.parse.urlencode(
        {"connection": connection, key: value, "verification_code": code}
    )
    return f"https://{domain}/passwordless/verify_redirect?{query}"
