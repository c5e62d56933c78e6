"""Auth0's limits, patterns and field descriptions: one source for validation, docs and tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

__all__ = [
    "APP_METADATA_RESERVED_KEYS",
    "BCRYPT_MAX_BYTES",
    "CODE_LENGTH",
    "CODE_LENGTH_RANGE",
    "CODE_LIFETIME",
    "CODE_MAX_ATTEMPTS",
    "CODE_TIME_STEP_RANGE",
    "CONNECTION_NAME_MAX",
    "CONNECTION_NAME_PATTERN",
    "CREATE_USER_FIELDS",
    "FIELD_DESCRIPTIONS",
    "MAX_LISTED_RESULTS",
    "MAX_PER_PAGE",
    "METADATA_MAX_BYTES",
    "METADATA_MAX_DEPTH",
    "PASSWORD_POLICY_LEVELS",
    "PHONE_NUMBER_PATTERN",
    "USERNAME_DEFAULT_MAX",
    "USERNAME_DEFAULT_MIN",
    "USERNAME_SCHEMA_MAX",
    "USERNAME_SYMBOLS",
    "USER_ID_MAX",
    "USER_ID_PATTERN",
    "VERIFICATION_TTL",
    "VERIFICATION_TTL_MAX",
]

#: Every property ``POST /api/v2/users`` accepts, in the order of Auth0's schema.
CREATE_USER_FIELDS: Final = (
    "email",
    "phone_number",
    "user_metadata",
    "blocked",
    "email_verified",
    "phone_verified",
    "app_metadata",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "user_id",
    "connection",
    "password",
    "verify_email",
    "username",
)

#: The text Auth0 puts in parentheses after ``on property X`` (the OpenAPI description without its
#: final period).
FIELD_DESCRIPTIONS: Final = {
    "email": "The user's email",
    "phone_number": "The user's phone number (following the E.164 recommendation)",
    "user_metadata": (
        "Data related to the user that does not affect the application's core functionality"
    ),
    "blocked": "Whether this user was blocked by an administrator (true) or not (false)",
    "email_verified": (
        "Whether this email address is verified (true) or unverified (false). User will receive a "
        "verification email after creation if `email_verified` is false or not specified"
    ),
    "phone_verified": "Whether this phone number has been verified (true) or not (false)",
    "app_metadata": (
        "Data related to the user that does affect the application's core functionality"
    ),
    "given_name": "The user's given name(s)",
    "family_name": "The user's family name(s)",
    "name": "The user's full name",
    "nickname": "The user's nickname",
    "picture": "A URI pointing to the user's picture",
    "user_id": "The external user's id provided by the identity provider",
    "connection": "Name of the connection this user should be created in",
    "password": "Initial password for this user. Only valid for auth0 connection strategy",
    "verify_email": (
        "Whether the user will receive a verification email after creation (true) or no email "
        "(false). Overrides behavior of `email_verified` parameter"
    ),
    "username": "The user's username. Only valid if the connection requires a username",
}

#: Auth0's E.164 pattern for ``phone_number``.
PHONE_NUMBER_PATTERN: Final = r"^\+[0-9]{1,15}$"
#: ``user_id``: no whitespace, at most 255 characters.
USER_ID_PATTERN: Final = r"^\S*$"
USER_ID_MAX: Final = 255

#: Usernames: schema maximum, and the per-connection default range (``validation.username``).
USERNAME_SCHEMA_MAX: Final = 128
USERNAME_DEFAULT_MIN: Final = 1
USERNAME_DEFAULT_MAX: Final = 15
#: The symbols a username may hold besides ASCII letters and digits.
USERNAME_SYMBOLS: Final = "@^$.!`-#+'~_"

#: Connection names (``CreateConnectionRequestContent``).
CONNECTION_NAME_PATTERN: Final = r"^[a-zA-Z0-9](-[a-zA-Z0-9]|[a-zA-Z0-9])*$"
CONNECTION_NAME_MAX: Final = 128

#: ``app_metadata`` keys Auth0 reserves.
APP_METADATA_RESERVED_KEYS: Final = frozenset(
    {
        "__tenant",
        "_id",
        "blocked",
        "clientID",
        "created_at",
        "email_verified",
        "email",
        "globalClientID",
        "global_client_id",
        "identities",
        "lastIP",
        "lastLogin",
        "loginsCount",
        "metadata",
        "multifactor_last_modified",
        "multifactor",
        "updated_at",
        "user_id",
    }
)
#: Largest ``user_metadata`` / ``app_metadata`` object, as compact UTF-8 JSON (a choice: see
#: docs/decisions.md).
METADATA_MAX_BYTES: Final = 16 * 1024
#: Deepest nesting of arrays and objects inside one metadata object (a choice).
METADATA_MAX_DEPTH: Final = 32

#: bcrypt reads at most this many bytes of a password.
BCRYPT_MAX_BYTES: Final = 72

#: ``options.passwordPolicy`` levels, weakest first.
PASSWORD_POLICY_LEVELS: Final = ("none", "low", "fair", "good", "excellent")

#: Auth0 pages through at most this many results of one query (users, log events).
MAX_LISTED_RESULTS: Final = 1000
#: Largest ``per_page`` Auth0 accepts.
MAX_PER_PAGE: Final = 100

#: Passwordless codes: digits and lifetime (Auth0's ``totp`` defaults) and wrong guesses allowed.
CODE_LENGTH: Final = 6
CODE_LIFETIME: Final = timedelta(seconds=180)
CODE_MAX_ATTEMPTS: Final = 3
#: Bounds of ``options.totp``: Auth0's ``length`` 4 to 40 digits and ``time_step`` of at least
#: 60 s (the upper bound of a year is ours: it keeps expiry dates in range).
CODE_LENGTH_RANGE: Final = (4, 40)
CODE_TIME_STEP_RANGE: Final = (60, 365 * 24 * 3600)

#: How long a verification email link works by default (Auth0's 5 days), and at most (30 days).
VERIFICATION_TTL: Final = timedelta(days=5)
VERIFICATION_TTL_MAX: Final = timedelta(days=30)
