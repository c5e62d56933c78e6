"""identitystore's errors; each one knows its Auth0 error body.

The tree (status code, Auth0 ``errorCode``; each class's docstring gives its message)::

    IdentityStoreError                      status_code, error, error_code, message, to_dict()
    ├── BadRequestError                     400  (also ValueError)
    │   ├── InvalidJsonError                400 -
    │   ├── PayloadValidationError          400 invalid_body
    │   ├── FieldNotAllowedError            400 invalid_body
    │   ├── UsernameNotAllowedError         400 invalid_body
    │   ├── InvalidUsernameError            400 invalid_body
    │   ├── UnknownConnectionError          400 inexistent_connection  (also LookupError)
    │   ├── UnsupportedStrategyError        400 -
    │   ├── UsernameInUseError              400 auth0_idp_error
    │   ├── InvalidQueryError               400 invalid_query_string
    │   ├── InvalidPagingError              400 invalid_paging
    │   ├── ConflictingFieldsError          400 invalid_body
    │   ├── InvalidTicketError              400 invalid_ticket
    │   ├── SignupDisabledError             400 signup_disabled
    │   └── PasswordPolicyError             400 -
    │       ├── PasswordStrengthError       400 -
    │       ├── PasswordDictionaryError     400 -
    │       ├── PasswordNoUserInfoError     400 -
    │       └── PasswordHistoryError        400 -
    ├── AuthenticationError                 (Authentication API errors; to_oauth_dict())
    │   ├── WrongCredentialsError           403 invalid_grant
    │   ├── WrongCodeError                  403 invalid_grant
    │   ├── CodeAttemptsExceededError       403 invalid_grant
    │   ├── UserBlockedError                401 unauthorized
    │   └── TooManyAttemptsError            429 too_many_attempts
    ├── NotFoundError                       404  (also LookupError)
    │   ├── ConnectionNotFoundError         404 inexistent_connection
    │   ├── EventNotFoundError              404 inexistent_log
    │   └── UserNotFoundError               404 inexistent_user
    ├── ConflictError                       409
    │   ├── UserExistsError                 409 auth0_idp_error
    │   └── ConnectionExistsError           409 connection_conflict
    └── StorageError                        500 storage_error
        ├── StorageBusyError                503 storage_busy
        ├── StorageFullError                503 storage_full
        ├── StorageReadOnlyError            503 storage_read_only
        └── SchemaVersionError              500 schema_version_unsupported

``error`` is always the HTTP reason phrase of ``status_code``; ``to_dict()`` is the JSON body Auth0
sends, with ``errorCode`` left out where Auth0 sends none.

A message can always be sent: caller input it echoes is cut to ``ECHO_MAX_LENGTH`` characters
(``echo``), lone surrogates become ``\\udXXX`` escapes, and no message is longer than
``MESSAGE_MAX_LENGTH``.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import ClassVar, Final

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "CodeAttemptsExceededError",
    "ConflictError",
    "ConflictingFieldsError",
    "ConnectionExistsError",
    "ConnectionNotFoundError",
    "EventNotFoundError",
    "FieldNotAllowedError",
    "IdentityStoreError",
    "InvalidJsonError",
    "InvalidPagingError",
    "InvalidQueryError",
    "InvalidTicketError",
    "InvalidUsernameError",
    "NotFoundError",
    "PasswordDictionaryError",
    "PasswordHistoryError",
    "PasswordNoUserInfoError",
    "PasswordPolicyError",
    "PasswordStrengthError",
    "PayloadValidationError",
    "SchemaVersionError",
    "SignupDisabledError",
    "StorageBusyError",
    "StorageError",
    "StorageFullError",
    "StorageReadOnlyError",
    "TooManyAttemptsError",
    "UnknownConnectionError",
    "UnsupportedStrategyError",
    "UserBlockedError",
    "UserExistsError",
    "UserNotFoundError",
    "UsernameInUseError",
    "UsernameNotAllowedError",
    "WrongCodeError",
    "WrongCredentialsError",
]


#: The most characters of one piece of caller input (a value, a property name, a query) that a
#: message shows; the rest is left out and counted (see ``echo``).
ECHO_MAX_LENGTH: Final = 256
#: The most characters an error's ``message`` has, whatever it echoes.
MESSAGE_MAX_LENGTH: Final = 4096

_SHOWN = reprlib.Repr()  # bounded, never-failing text of a non-string value
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother = 3, ECHO_MAX_LENGTH, ECHO_MAX_LENGTH


def _escaped(text: str) -> str:
    """``text`` with each lone surrogate as a ``\\udXXX`` escape: valid UTF-8 once encoded."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def echo(value: object, limit: int = ECHO_MAX_LENGTH) -> str:
    """``value`` (caller input) as an error message may show it: strings as they are, other values
    as a bounded repr, cut after ``limit`` characters, lone surrogates escaped."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = _SHOWN.repr(value)
        except Exception:  # a repr that fails, e.g. an int of more than 4300 digits
            text = f"<{type(value).__name__}>"
    return _cut(_escaped(text), limit)


def _sendable(message: str, limit: int = MESSAGE_MAX_LENGTH - 40) -> str:
    """``message`` with lone surrogates escaped, cut to at most ``MESSAGE_MAX_LENGTH``."""
    return _cut(_escaped(message), limit)


class IdentityStoreError(Exception):
    """Base of every error identitystore raises for a request it refuses.

    Attributes:
        status_code: the HTTP status Auth0 answers with.
        error_code: Auth0's ``errorCode``, or None where Auth0 sends none.
        message: Auth0's ``message`` text: valid UTF-8 once encoded, at most
            ``MESSAGE_MAX_LENGTH`` characters.
    """

    status_code: ClassVar[int] = 500
    error_code: ClassVar[str | None] = None
    default_message: ClassVar[str] = "Internal error"

    def __init__(self, message: str | None = None) -> None:
        self.message = _sendable(message) if message is not None else self.default_message
        super().__init__(self.message)

    @property
    def error(self) -> str:
        """The HTTP reason phrase of ``status_code`` (Auth0's ``error`` field)."""
        return HTTPStatus(self.status_code).phrase

    def to_dict(self) -> dict[str, object]:
        """Auth0's error body: ``statusCode``, ``error``, ``message`` and ``errorCode`` if any."""
        body: dict[str, object] = {
            "statusCode": self.status_code,
            "error": self.error,
            "message": self.message,
        }
        if self.error_code is not None:
            body["errorCode"] = self.error_code
        return body

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class BadRequestError(IdentityStoreError, ValueError):
    """A 400: the request itself is wrong."""

    status_code = 400


class InvalidJsonError(BadRequestError):
    """A body that is not JSON (hapi's text, as Auth0 answers for it)."""

    default_message = "Invalid request payload JSON format"


class PayloadValidationError(BadRequestError):
    """The body breaks Auth0's schema; every problem is listed, joined with `` (also) ``.

    A message that would outgrow ``MESSAGE_MAX_LENGTH`` lists the first problems and counts the
    others (``... (also) 3 more problems.``); ``errors`` keeps them all.

    Attributes:
        errors: each problem as its own full sentence, in Auth0's order.
    """

    error_code = "invalid_body"

    def __init__(self, errors: Sequence[str]) -> None:
        if not errors:
            raise ValueError("PayloadValidationError needs at least one error")
        self.errors = tuple(_sendable(error, MESSAGE_MAX_LENGTH - 80) for error in errors)
        super().__init__(_joined(self.errors))

    @classmethod
    def ticket_user(cls) -> PayloadValidationError:
        """A password change ticket asked for a user named by ``user_id`` and by connection and
        email at once, or by neither."""
        return cls(
            [cls.format("Give either user_id, or connection_id and email, to name the user")]
        )

    #: What Auth0 adds, on PATCH, to a problem about properties the schema does not have.
    PATCH_HINT: ClassVar[str] = (
        ' (consider storing them in app_metadata or user_metadata. See "Users Metadata" in '
        "https://auth0.com/docs/api/v2/changes for more details)"
    )

    @classmethod
    def format(
        cls,
        problem: str,
        prop: str | None = None,
        description: str | None = None,
        *,
        patch_hint: bool = False,
    ) -> str:
        """One problem in Auth0's words: ``Payload validation error: '...' on property x (...).``

        Without ``description``: ``... on property x.``; without ``prop`` either: ``... '...'.``
        With ``patch_hint``, ``PATCH_HINT`` comes before the final period.
        """
        hint = cls.PATCH_HINT if patch_hint else ""
        if prop is None:
            return f"Payload validation error: '{problem}'{hint}."
        if description is None:
            return f"Payload validation error: '{problem}' on property {prop}{hint}."
        return f"Payload validation error: '{problem}' on property {prop} ({description}){hint}."


def _joined(problems: Sequence[str]) -> str:
    """``problems`` joined with `` (also) ``, as many as ``MESSAGE_MAX_LENGTH`` leaves room for."""
    room = MESSAGE_MAX_LENGTH - 40  # for the count of the problems left out
    shown = 0
    size = -len(" (also) ")
    for problem in problems:
        size += len(" (also) ") + len(problem)
        if size > room and shown:
            break
        shown += 1
    text = " (also) ".join(problems[:shown])
    left = len(problems) - shown
    return text if not left else f"{text} (also) {left} more problems."


class FieldNotAllowedError(BadRequestError):
    """A field the connection's strategy does not take, e.g. ``"phone_number" is not allowed``."""

    error_code = "invalid_body"

    def __init__(self, fields: Iterable[str]) -> None:
        self.fields = tuple(fields)
        super().__init__(_joined([f'"{echo(f)}" is not allowed' for f in self.fields]))


class UsernameNotAllowedError(BadRequestError):
    """A username sent to a connection without ``requires_username``."""

    error_code = "invalid_body"
    default_message = "Cannot set username for connection without requires_username."


class InvalidUsernameError(BadRequestError):
    """The username breaks the connection's length or character rules.

    Attributes:
        reason: ``too_short``, ``too_long``, ``invalid_characters`` or ``is_email``.
    """

    error_code = "invalid_body"

    def __init__(self, message: str, *, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


class UnknownConnectionError(BadRequestError, LookupError):
    """The request names a connection that does not exist."""

    error_code = "inexistent_connection"
    default_message = "The connection does not exist."


class UnsupportedStrategyError(BadRequestError):
    """The connection's strategy cannot create users in this store, or cannot do what was asked
    (``no_password``, ``no_password_change``, ``not_database``, ``not_passwordless``)."""

    default_message = (
        "Connection does not support user creation through the API. "
        "It must either be a database or passwordless connection."
    )

    @classmethod
    def no_password(cls) -> UnsupportedStrategyError:
        """A password sign-in on a connection without passwords."""
        return cls("This connection does not support password sign-in.")

    @classmethod
    def not_database(cls) -> UnsupportedStrategyError:
        """An operation only database (password) connections have."""
        return cls("Connection must be a database connection.")

    @classmethod
    def no_password_change(cls) -> UnsupportedStrategyError:
        """A password change (ticket or reset) for a user of a connection without passwords."""
        return cls("The user's main connection does not support this operation.")

    @classmethod
    def not_passwordless(cls) -> UnsupportedStrategyError:
        """A one-time code asked of a connection that is neither ``email`` nor ``sms``."""
        return cls("Passwordless sign-in needs an email or sms connection.")


class UsernameInUseError(BadRequestError):
    """Another user of the connection has this username."""

    error_code = "auth0_idp_error"
    default_message = "The username provided is in use already."


class InvalidQueryError(BadRequestError):
    """A ``list_users`` query, sort or page that cannot be served."""

    error_code = "invalid_query_string"


class InvalidPagingError(BadRequestError):
    """A ``list_users`` page beyond the first 1000 results."""

    error_code = "invalid_paging"
    default_message = (
        "You can only page through the first 1000 records. See "
        "https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation"
    )


class ConflictingFieldsError(BadRequestError):
    """A PATCH that changes two fields Auth0 refuses to change together."""

    error_code = "invalid_body"

    def __init__(self, first: str, second: str) -> None:
        self.fields = (first, second)
        super().__init__(f"Cannot update {echo(first)} and {echo(second)} simultaneously.")


class InvalidTicketError(BadRequestError):
    """A verification ticket that is unknown, already used or expired (Auth0's page texts)."""

    error_code = "invalid_ticket"
    default_message = "This ticket is invalid."
    _TEXTS: ClassVar[dict[str, str]] = {
        "used": "This ticket was already used.",
        "expired": "This ticket was expired.",
    }

    @classmethod
    def because(cls, outcome: str) -> InvalidTicketError:
        """The error for a ticket found ``used`` or ``expired``; any other outcome is invalid."""
        return cls(cls._TEXTS.get(outcome))


class SignupDisabledError(BadRequestError):
    """Passwordless sign-in for an unknown user on a connection with ``disable_signup``."""

    error_code = "signup_disabled"
    default_message = "Public signup is disabled"


class PasswordPolicyError(BadRequestError):
    """The password breaks the connection's password policy (Auth0 sends no errorCode).

    Attributes:
        rules: codes of the rules that failed (e.g. ``("lengthAtLeast",)``), for diagnostics.
    """

    def __init__(self, message: str | None = None, *, rules: Sequence[str] = ()) -> None:
        self.rules = tuple(rules)
        super().__init__(message)


class PasswordStrengthError(PasswordPolicyError):
    """Too short, too long (``error`` mode), or missing required character kinds."""

    default_message = "PasswordStrengthError: Password is too weak"


class PasswordDictionaryError(PasswordPolicyError):
    """The password is in the dictionary of common passwords."""

    default_message = "PasswordDictionaryError: Password is too common"


class PasswordNoUserInfoError(PasswordPolicyError):
    """The password contains the user's name, username or email local part."""

    default_message = "PasswordNoUserInfoError: Password contains user information"


class PasswordHistoryError(PasswordPolicyError):
    """The password was used recently by the same user."""

    default_message = "PasswordHistoryError: Password has previously been used"


class AuthenticationError(IdentityStoreError):
    """A refused sign-in. ``to_oauth_dict()`` is the Authentication API's error body."""

    status_code = 403
    error_code = "invalid_grant"

    def to_oauth_dict(self) -> dict[str, str]:
        """``{"error": error_code, "error_description": message}``, as ``/oauth/token`` answers."""
        return {"error": str(self.error_code), "error_description": self.message}


class WrongCredentialsError(AuthenticationError):
    """Wrong password or unknown user: the same answer for both."""

    default_message = "Wrong email or password."


class WrongCodeError(AuthenticationError):
    """A passwordless code that is wrong, expired or already used."""

    default_message = "Wrong email or verification code."

    @classmethod
    def wrong(cls, identifier: str) -> WrongCodeError:
        """A wrong (or used) code sent to an ``email`` or a ``phone_number``."""
        if identifier == "phone_number":
            return cls("Wrong phone number or verification code.")
        return cls()

    @classmethod
    def expired(cls) -> WrongCodeError:
        """A code past its lifetime."""
        return cls("The verification code has expired. Please try to login again.")


class CodeAttemptsExceededError(AuthenticationError):
    """Too many wrong guesses of one passwordless code; the code is void."""

    default_message = "You've reached the maximum number of attempts. Please try to login again."


class UserBlockedError(AuthenticationError):
    """The user is blocked (``blocked: true``).

    Attributes:
        user_id: the blocked user, where the refusal may be answered as a success to hide the
            block (``start_passwordless``); else None. It is in no error body.
    """

    status_code = 401
    error_code = "unauthorized"
    default_message = "user is blocked"

    def __init__(self, message: str | None = None, *, user_id: str | None = None) -> None:
        super().__init__(message)
        self.user_id = user_id


class TooManyAttemptsError(AuthenticationError):
    """Brute-force protection: too many failed sign-ins for this user from this IP."""

    status_code = 429
    error_code = "too_many_attempts"
    default_message = (
        "Your account has been blocked after multiple consecutive login attempts. "
        "We've sent you an email with instructions on how to unblock it."
    )


class NotFoundError(IdentityStoreError, LookupError):
    """A 404: the thing asked for does not exist."""

    status_code = 404


class ConnectionNotFoundError(NotFoundError):
    """No connection by that name (connection management calls)."""

    error_code = "inexistent_connection"
    default_message = "The connection does not exist"


class EventNotFoundError(NotFoundError):
    """No event (log entry) with that ``log_id``."""

    error_code = "inexistent_log"
    default_message = "Log not found."


class UserNotFoundError(NotFoundError):
    """No user with that ``user_id``."""

    error_code = "inexistent_user"
    default_message = "The user does not exist."


class ConflictError(IdentityStoreError):
    """A 409: a unique key is taken."""

    status_code = 409


class UserExistsError(ConflictError):
    """Email, phone number or user_id already taken.

    Attributes:
        field: which key collided (``email``, ``phone_number`` or ``user_id``), for diagnostics.
    """

    error_code = "auth0_idp_error"
    default_message = "The user already exists."

    def __init__(self, *, field: str) -> None:
        self.field = field
        super().__init__()


class ConnectionExistsError(ConflictError):
    """A connection with that name exists already."""

    error_code = "connection_conflict"
    default_message = "A connection with the same name already exists"


class StorageError(IdentityStoreError):
    """The storage failed; nothing was written."""

    error_code = "storage_error"


class StorageBusyError(StorageError):
    """The storage stayed locked by other writers for longer than the store waits."""

    status_code = 503
    error_code = "storage_busy"


class StorageFullError(StorageError):
    """The disk or the database is full; nothing was written. Retry once space is freed."""

    status_code = 503
    error_code = "storage_full"
    default_message = "The storage is full: nothing was written."


class StorageReadOnlyError(StorageError):
    """The database cannot be written (read-only file, directory or server); nothing was written.
    Retry once it is writable."""

    status_code = 503
    error_code = "storage_read_only"
    default_message = "The storage is read-only: nothing was written."


class SchemaVersionError(StorageError):
    """The database was written by a newer identitystore; it was left untouched."""

    error_code = "schema_version_unsupported"
