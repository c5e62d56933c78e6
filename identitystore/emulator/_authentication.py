"""The Authentication API's database and passwordless routes, and the Management API's password
change ticket, on the store's public methods.

Each route answers in its own Auth0 shape: sign-up errors are ``{name, code, description,
statusCode}``, the others ``{error, error_description}`` (``OAuthError``). The store's rules stay
the store's: a handler checks the request's shape, names the client, and translates the store's
refusals into the route's shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from identitystore import User
from identitystore.errors import (
    ConnectionNotFoundError,
    FieldNotAllowedError,
    IdentityStoreError,
    InvalidJsonError,
    PasswordDictionaryError,
    PasswordPolicyError,
    PasswordStrengthError,
    PayloadValidationError,
    StorageError,
    UserBlockedError,
    UserExistsError,
    UsernameInUseError,
)

from ._errors import ApiError, OAuthError
from ._http import Call, json_response
from ._tenant import json_type

__all__ = [
    "change_password",
    "log_failed_signup",
    "password_refusal",
    "passwordless_start",
    "post_password_change_ticket",
    "signup",
]

#: What ``/dbconnections/signup`` takes (Auth0's documented body); anything else is refused.
_SIGNUP_FIELDS = (
    "client_id",
    "connection",
    "email",
    "password",
    "username",
    "phone_number",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "user_metadata",
)
#: Profile fields a sign-up answer repeats when they were sent.
_ECHOED = ("username", "given_name", "family_name", "name", "nickname", "picture")
#: Auth0's limits on a sign-up's ``user_metadata``.
_METADATA_KEYS, _METADATA_NAME, _METADATA_VALUE = 10, 100, 500
#: What ``/passwordless/start`` takes (Auth0's documented body).
_PASSWORDLESS_FIELDS = (
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "connection",
    "email",
    "phone_number",
    "send",
    "authParams",
)
#: What ``POST /api/v2/tickets/password-change`` takes (OAS ``ChangePasswordTicketRequestContent``).
_TICKET_FIELDS = (
    "result_url",
    "user_id",
    "client_id",
    "organization_id",
    "connection_id",
    "email",
    "ttl_sec",
    "mark_email_as_verified",
    "includeEmailInRedirect",
    "identity",
)
#: The answer of ``/dbconnections/change_password``, known email or not (as recorded).
RESET_SENT = "We've just sent you an email to reset your password."
#: The dictionary error's description, as Auth0 words it on sign-up.
_TOO_COMMON = "Password is not allowed, it might be too common."


async def _parameters(call: Call, error: str = "invalid_request") -> dict[str, Any]:
    """The JSON or form body as an object, JSON nulls dropped (auth0-python sends them)."""
    try:
        body = await call.form_or_json()
    except InvalidJsonError as exc:
        raise OAuthError(400, error, exc.message) from None
    if not isinstance(body, Mapping):
        raise OAuthError(400, error, "The request body must be a JSON object or a form")
    return {k: v for k, v in body.items() if v is not None}


def _required(params: Mapping[str, Any], name: str, *, error: str = "invalid_request") -> str:
    """A string parameter that must be sent: a 400 ``error`` when missing or not a string."""
    value = params.get(name)
    if value is None or value == "":
        raise OAuthError(400, error, f"Missing required parameter: {name}")
    if not isinstance(value, str):
        raise OAuthError(400, error, f"Invalid parameter: {name} must be a string")
    return value


async def _check_client(call: Call, params: Mapping[str, Any], *, error: str) -> None:
    """The request's ``client_id`` names a client of the tenant, and its ``client_secret``, when
    sent, is that client's: a 400 ``error`` for a missing id, a 401 for an unknown client or a
    wrong secret (compared in constant time)."""
    client_id = _required(params, "client_id", error=error)
    call.log_client = client_id
    tenant = call.emu.tenant
    secret = params.get("client_secret")
    if secret is not None:
        known = isinstance(secret, str) and (
            await call.off_loop(tenant.authenticate, client_id, secret) is not None
        )
    else:
        known = await call.off_loop(tenant.client_name, client_id) is not None
    if not known:
        raise OAuthError(401, "access_denied", "Unauthorized")


def _oauth(exc: IdentityStoreError, error: str = "invalid_request") -> Exception:
    """A store refusal as ``{error, error_description}`` (a storage failure as it is)."""
    if isinstance(exc, StorageError):
        return exc
    return OAuthError(exc.status_code if exc.status_code < 500 else 400, error, exc.message)


# -- POST /dbconnections/signup -----------------------------------------------------------------


def _signup_error(
    code: str, description: object, *, name: str = "BadRequestError", **extra: object
) -> Response:
    """A sign-up refusal: ``{name, code, description, statusCode}`` (and ``message``, ``policy``
    for a password), always 400."""
    body = {"name": name, **extra, "code": code, "description": description, "statusCode": 400}
    return json_response(body, 400)


def password_refusal(exc: PasswordPolicyError) -> str:
    """A refused password's text as Auth0 words it on sign-up (no error class name)."""
    if isinstance(exc, PasswordDictionaryError):
        return _TOO_COMMON
    return exc.message.removeprefix(f"{type(exc).__name__}: ")


def _password_error(
    call: Call, exc: PasswordPolicyError, connection: str, password: str
) -> Response:
    """A password the connection's policy refuses, in Auth0's sign-up words."""
    name = type(exc).__name__
    message = exc.message.removeprefix(f"{name}: ")
    if not isinstance(exc, PasswordStrengthError):
        return _signup_error("invalid_password", password_refusal(exc), name=name, message=message)
    policy = call.emu.store.password_policy(call.emu.store.get_connection(connection))
    rules = [r for r in policy.rules if r.error is PasswordStrengthError]
    checked = [
        {"message": r.message, "code": r.code, "verified": r.passes(password)} for r in rules
    ]
    return _signup_error(
        "invalid_password",
        {"rules": checked, "verified": False},
        name=name,
        message=message,
        policy="\n".join(f"* {r.message}" for r in rules),
    )


def _metadata_problem(metadata: object) -> str | None:
    """What breaks Auth0's sign-up limits on ``user_metadata``, or None."""
    if not isinstance(metadata, Mapping):
        return f"user_metadata must be an object, not {json_type(metadata)}"
    if len(metadata) > _METADATA_KEYS:
        return f"user_metadata may have at most {_METADATA_KEYS} properties"
    for key, value in metadata.items():
        if len(key) > _METADATA_NAME:
            return f"user_metadata property names may have at most {_METADATA_NAME} characters"
        if not isinstance(value, str) or len(value) > _METADATA_VALUE:
            return f"user_metadata values must be strings of at most {_METADATA_VALUE} characters"
    return None


async def signup(call: Call) -> Response:
    """POST /dbconnections/signup: a new user of a database connection; 200 ``{_id, email,
    email_verified, ...}`` with ``_id`` the id without its provider prefix."""
    call.emu.check_rate(call, oauth=True)
    params = await _parameters(call)
    if "client_id" in params:  # optional: Auth0 falls back to the tenant's global client
        await _check_client(call, params, error="invalid_request")
    extra = sorted(k for k in params if k not in _SIGNUP_FIELDS)
    if extra:
        return _signup_error(
            "invalid_parameter", f"the following properties are not allowed: {', '.join(extra)}"
        )
    for name in ("connection", "password"):
        if not isinstance(params.get(name), str) or not params[name]:
            return _signup_error("invalid_parameter", f"Missing required parameter: {name}")
    if "user_metadata" in params:
        problem = _metadata_problem(params["user_metadata"])
        if problem is not None:
            return _signup_error("invalid_parameter", problem)
    fields = {k: v for k, v in params.items() if k not in ("client_id", "connection")}
    connection: str = params["connection"]
    try:
        user: User = await call.store.create_user(connection, **fields)
    except IdentityStoreError as exc:
        if isinstance(exc, StorageError):
            raise
        await log_failed_signup(call, connection, params, exc)
        if isinstance(exc, UserExistsError):
            return _signup_error("invalid_signup", "Invalid sign up")
        if isinstance(exc, UsernameInUseError):
            return _signup_error("username_exists", exc.message)
        if isinstance(exc, PasswordPolicyError):
            return _password_error(call, exc, connection, params["password"])
        return _signup_error("invalid_parameter", exc.message)
    body: dict[str, Any] = {"_id": user.identity_user_id, "email_verified": user.email_verified}
    if user.email is not None:
        body["email"] = user.email
    body.update({k: getattr(user, k) for k in _ECHOED if k in params})
    return json_response(body)


async def log_failed_signup(
    call: Call, connection: str, params: Mapping[str, Any], exc: IdentityStoreError
) -> None:
    """Log a refused sign-up (``fs``): the refusal's text, never the password."""
    email = params.get("email")
    try:
        await call.store.record_event(
            "fs",
            description=exc.message,
            connection=connection if await _connection_exists(call, connection) else None,
            user_name=email[:256] if isinstance(email, str) else None,
            ip=call.ip,
            client_id=call.log_client,
        )
    except IdentityStoreError:
        pass  # a text the log cannot hold: the refusal stands without its entry


async def _connection_exists(call: Call, name: str) -> bool:
    try:
        await call.store.get_connection(name)
    except IdentityStoreError:
        return False
    return True


# -- POST /dbconnections/change_password --------------------------------------------------------


async def change_password(call: Call) -> Response:
    """POST /dbconnections/change_password: a reset email to the connection's user with that
    email; the same 200 text whether or not there is one."""
    call.emu.check_rate(call, oauth=True)
    params = await _parameters(call)
    if "client_id" in params:
        await _check_client(call, params, error="invalid_request")
    email = _required(params, "email")
    connection = _required(params, "connection")
    try:
        await call.store.request_password_reset(connection, email, ip=call.ip)
    except IdentityStoreError as exc:
        raise _oauth(exc) from None
    return Response(RESET_SENT, media_type="text/html")


# -- POST /passwordless/start -------------------------------------------------------------------


async def passwordless_start(call: Call) -> Response:
    """POST /passwordless/start: a one-time code (``send: code``) or a magic link (``send:
    link``; the default by email, codes by SMS); 200 ``{_id, email, email_verified}`` or
    ``{_id, phone_number, phone_verified}``, the same for a blocked user, who is sent nothing."""
    call.emu.check_rate(call, oauth=True)
    params = await _parameters(call, "bad.request")
    extra = [k for k in params if k not in _PASSWORDLESS_FIELDS]
    if extra:
        raise OAuthError(
            400, "bad.request", f"the following properties are not allowed: {', '.join(extra)}"
        )
    if "client_id" not in params:
        raise OAuthError(400, "bad.client_id", "Missing required property: client_id")
    await _check_client(call, params, error="bad.client_id")
    if "connection" not in params:
        raise OAuthError(400, "bad.connection", "Missing required property: connection")
    connection = _required(params, "connection", error="bad.connection")
    auth_params = params.get("authParams")
    if auth_params is not None and not isinstance(auth_params, Mapping):
        raise OAuthError(
            400,
            "bad.authParams",
            f"error in authParams - invalid type: {json_type(auth_params)} (expected object)",
        )
    try:
        strategy = (await call.store.get_connection(connection)).strategy
    except ConnectionNotFoundError:
        raise OAuthError(400, "bad.connection", "Connection does not exist") from None
    key = {"email": "email", "sms": "phone_number"}.get(strategy)
    if key is None:
        raise OAuthError(
            400,
            "bad.connection",
            "Invalid connection strategy. It must either be a passwordless connection",
        )
    if key not in params:
        raise OAuthError(400, f"bad.{key}", f"Missing required property: {key}")
    _required(params, key, error=f"bad.{key}")
    send = params.get("send", "link" if key == "email" else "code")  # SMS carries codes
    if send not in ("code", "link"):
        raise OAuthError(400, "bad.request", "send must be code or link")
    try:
        try:
            message = await call.store.start_passwordless(
                connection,
                email=params.get("email"),
                phone_number=params.get("phone_number"),
                send=send,
                ip=call.ip,
            )
            user_id = message.user_id
        except UserBlockedError as exc:  # no code was sent; the answer does not tell
            if exc.user_id is None:
                raise
            user_id = exc.user_id
        user = await call.store.get_user(user_id)
    except FieldNotAllowedError as exc:
        problem = f"the following properties are not allowed: {', '.join(exc.fields)}"
        raise OAuthError(400, "bad.request", problem) from None
    except IdentityStoreError as exc:
        error = exc.error_code if exc.error_code == "signup_disabled" else f"bad.{key}"
        raise _oauth(exc, error) from None
    verified = "email_verified" if key == "email" else "phone_verified"
    return json_response(
        {"_id": user.identity_user_id, key: getattr(user, key), verified: getattr(user, verified)}
    )


# -- POST /api/v2/tickets/password-change -------------------------------------------------------


async def post_password_change_ticket(call: Call) -> Response:
    """POST /api/v2/tickets/password-change (201 ``{"ticket": url}``): the user by ``user_id``,
    or by ``connection_id`` and ``email``; ``client_id``, ``organization_id``,
    ``includeEmailInRedirect`` and ``identity`` are accepted and not used."""
    body = await call.json()
    if not isinstance(body, dict):
        problem = f"Expected type object but found type {json_type(body)}"
        raise PayloadValidationError([PayloadValidationError.format(problem)])
    extra = [k for k in body if k not in _TICKET_FIELDS]
    if extra:
        problem = f"Additional properties not allowed: {','.join(extra)}"
        raise PayloadValidationError([PayloadValidationError.format(problem)])
    connection = None
    connection_id = body.get("connection_id")
    if connection_id is not None:
        if not isinstance(connection_id, str):
            problem = f"Expected type string but found type {json_type(connection_id)}"
            raise PayloadValidationError(
                [PayloadValidationError.format(problem, "connection_id", "ID of the connection")]
            )
        try:
            connection = (await call.store.get_connection_by_id(connection_id)).name
        except ConnectionNotFoundError:
            raise ApiError(
                400,
                f"The connection with id {connection_id[:256]} does not exist.",
                error_code="inexistent_connection",
            ) from None
    mark = body.get("mark_email_as_verified")
    ticket = await call.store.create_password_change_ticket(
        user_id=body.get("user_id"),
        connection=connection,
        email=body.get("email"),
        result_url=body.get("result_url"),
        ttl_sec=body.get("ttl_sec"),
        mark_email_as_verified=False if mark is None else mark,
    )
    return json_response(ticket.to_dict(), 201)
