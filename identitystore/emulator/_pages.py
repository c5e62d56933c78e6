"""The login pages under ``/u/`` (paths as Auth0's New Universal Login): sign in, sign up,
passwordless by email or SMS code, forgot password, and the reset page of a password change
ticket (docs/emulator.md, "Browser sign-in").

Each page is a plain HTML form that works without JavaScript. Every form carries a CSRF token
bound to the browser's cookie and to its transaction (or ticket); a page of a transaction
started in another browser is refused. The store does the checking (``authenticate``,
``create_user``, ``start_passwordless``, ``verify_passwordless``, ``request_password_reset``,
``change_password``) with its brute-force protection, messages and events; a success ends in
``_authorize.finish``, which sends the code back to the app.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from identitystore import Connection, User
from identitystore.errors import (
    IdentityStoreError,
    InvalidTicketError,
    PasswordPolicyError,
    PasswordStrengthError,
    StorageError,
    UserBlockedError,
)

from . import _signin as signin
from ._authentication import log_failed_signup, password_refusal
from ._authorize import (
    BROWSER_COOKIE,
    browser_cookie,
    deny,
    error_page,
    finish,
    redirect,
    set_browser_cookie,
)
from ._html import page
from ._http import Call
from ._sessions import Transaction

__all__ = [
    "login",
    "passwordless",
    "passwordless_code",
    "reset_password",
    "reset_request",
    "signup",
]

#: The largest form body read (a login form is a few hundred bytes).
_MAX_FORM = 64 * 1024
_PASSWORDLESS = ("email", "sms")
_DEFAULT_DATABASE = "Username-Password-Authentication"
_PASSWORDLESS_TEXT = {"email": "Continue with an email code", "sms": "Continue with a text message"}


@dataclass(frozen=True)
class _Flow:
    """A transaction a page works on, and the browser's CSRF cookie."""

    tid: str
    tx: Transaction
    cookie: str

    def url(self, path: str, **extra: str) -> str:
        """The page ``path`` of this transaction."""
        return f"{path}?{urllib.parse.urlencode({'state': self.tid, **extra})}"


async def _posted(call: Call) -> dict[str, str]:
    """A URL-encoded form body (last value wins); empty for any other body."""
    content_type = call.request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return {}
    try:
        text = (await call.body(_MAX_FORM)).decode("utf-8")
    except UnicodeDecodeError:
        return {}
    return dict(urllib.parse.parse_qsl(text, keep_blank_values=True))


async def _flow(call: Call) -> _Flow | Response:
    """The page's transaction (``?state=``), or an error page."""
    tid = call.query("state")
    sessions = call.emu.sessions
    tx = await call.off_loop(sessions.transaction, tid) if tid else None
    if tid is None or tx is None:
        return error_page(
            400,
            "invalid_request",
            "The login transaction is unknown or has expired. Start again from the application.",
        )
    cookie = call.request.cookies.get(BROWSER_COOKIE)
    if not cookie or sessions.browser_id(cookie) != tx.browser:
        return error_page(
            403,
            "invalid_request",
            "This login was started in another browser. Start again from the application.",
        )
    return _Flow(tid, tx, cookie)


def _form_page(
    call: Call,
    template: str,
    *,
    cookie: str,
    purpose: str,
    action: str,
    error: str | None,
    **context: Any,
) -> Response:
    """A page whose form posts to ``action`` with the CSRF token of the browser's ``cookie``
    for ``purpose``; a 400 when it shows an ``error``."""
    token = call.emu.sessions.csrf_token(cookie, purpose)
    status = 200 if error is None else 400
    return page(template, status, action=action, csrf_token=token, error=error, **context)


def _csrf_refused(call: Call, cookie: str | None, purpose: str, form: dict[str, str]) -> bool:
    return not call.emu.sessions.csrf_ok(cookie, purpose, form.get("csrf_token"))


def _csrf_page() -> Response:
    return error_page(
        403, "invalid_request", "Invalid or missing CSRF token. Reload the page and try again."
    )


async def _client_name(call: Call, tx: Transaction) -> str:
    name = await call.off_loop(call.emu.tenant.client_name, tx.client_id)
    return name or tx.client_id


async def _connections(call: Call) -> list[Connection]:
    found: list[Connection] = await call.store.list_connections()
    return found


async def _database(call: Call, tx: Transaction) -> Connection | None:
    """The password connection of the transaction's pages: the one ``/authorize`` named, else
    the tenant's ``default_directory``, else Auth0's default one, else the first database."""
    connections = {c.name: c for c in await _connections(call)}
    for name in (tx.connection, await signin.default_directory(call), _DEFAULT_DATABASE):
        found = connections.get(name) if name is not None else None
        if found is not None and found.strategy not in _PASSWORDLESS:
            return found
    return next((c for c in connections.values() if c.strategy == "auth0"), None)


def _no_database() -> Response:
    return error_page(400, "invalid_request", "No database connection to sign in with")


async def _blocked(call: Call, flow: _Flow) -> Response:
    return await deny(call, flow.tid, flow.tx, "access_denied", UserBlockedError.default_message)


# -- sign in --------------------------------------------------------------------------------------


async def login(call: Call) -> Response:
    """GET, POST /u/login?state=T: email (or username) and password."""
    flow = await _flow(call)
    if isinstance(flow, Response):
        return flow
    conn = await _database(call, flow.tx)
    if conn is None:
        return _no_database()
    if call.request.method == "GET":
        return await _login_page(call, flow, conn, username=flow.tx.login_hint or "")
    form = await _posted(call)
    if _csrf_refused(call, flow.cookie, f"login:{flow.tid}", form):
        return _csrf_page()
    username, password = form.get("username", "").strip(), form.get("password", "")
    if not username or not password:
        return await _login_page(
            call, flow, conn, username=username, error="Please enter your email and password."
        )
    try:
        user: User = await call.store.authenticate(conn.name, username, password, ip=call.ip)
    except UserBlockedError:
        return await _blocked(call, flow)
    except StorageError:
        raise
    except IdentityStoreError as exc:  # wrong credentials, too many attempts, ...
        return await _login_page(call, flow, conn, username=username, error=exc.message)
    return await finish(call, flow.tid, flow.tx, user)


async def _login_page(
    call: Call, flow: _Flow, conn: Connection, *, username: str, error: str | None = None
) -> Response:
    links = []
    seen: set[str] = set()
    for other in await _connections(call):
        if other.strategy in _PASSWORDLESS and other.strategy not in seen:
            seen.add(other.strategy)
            links.append(
                {
                    "strategy": other.strategy,
                    "url": flow.url("/u/login/passwordless", connection=other.name),
                    "text": _PASSWORDLESS_TEXT[other.strategy],
                }
            )
    requires_username = conn.options.get("requires_username") is True
    return _form_page(
        call,
        "login.html",
        title="Welcome",
        client_name=await _client_name(call, flow.tx),
        error=error,
        action=flow.url("/u/login"),
        cookie=flow.cookie,
        purpose=f"login:{flow.tid}",
        username_label="Username or email address" if requires_username else "Email address",
        username=username,
        forgot_url=flow.url("/u/reset-password/request"),
        signup_url=None if conn.options.get("disable_signup") is True else flow.url("/u/signup"),
        passwordless=links,
    )


# -- sign up --------------------------------------------------------------------------------------


async def signup(call: Call) -> Response:
    """GET, POST /u/signup?state=T: a new user of the database connection, then signed in."""
    flow = await _flow(call)
    if isinstance(flow, Response):
        return flow
    conn = await _database(call, flow.tx)
    if conn is None:
        return _no_database()
    if conn.options.get("disable_signup") is True:
        return error_page(403, "access_denied", "Public signup is disabled")
    if call.request.method == "GET":
        return await _signup_page(call, flow, conn, email=flow.tx.login_hint or "")
    form = await _posted(call)
    if _csrf_refused(call, flow.cookie, f"signup:{flow.tid}", form):
        return _csrf_page()
    email, password = form.get("email", "").strip(), form.get("password", "")
    username = form.get("username", "").strip()
    fields: dict[str, Any] = {"email": email, "password": password}
    if conn.options.get("requires_username") is True:
        fields["username"] = username
    try:
        await call.store.create_user(conn.name, **fields)
        user: User = await call.store.authenticate(conn.name, email, password, ip=call.ip)
    except UserBlockedError:
        return await _blocked(call, flow)
    except StorageError:
        raise
    except IdentityStoreError as exc:
        await log_failed_signup(call, conn.name, {"email": email}, exc)
        text = password_refusal(exc) if isinstance(exc, PasswordPolicyError) else exc.message
        return await _signup_page(
            call, flow, conn, email=email, username=username, error=text, password=password
        )
    return await finish(call, flow.tid, flow.tx, user)


async def _signup_page(
    call: Call,
    flow: _Flow,
    conn: Connection,
    *,
    email: str,
    username: str = "",
    error: str | None = None,
    password: str | None = None,
) -> Response:
    policy = [
        {
            "message": rule.message,
            "failed": password is not None
            and rule.error is PasswordStrengthError
            and not rule.passes(password),
        }
        for rule in call.emu.store.password_policy(conn).rules
    ]
    return _form_page(
        call,
        "signup.html",
        title="Create your account",
        client_name=await _client_name(call, flow.tx),
        error=error,
        action=flow.url("/u/signup"),
        cookie=flow.cookie,
        purpose=f"signup:{flow.tid}",
        email=email,
        username=username,
        username_required=conn.options.get("requires_username") is True,
        policy=policy,
        login_url=flow.url("/u/login"),
    )


# -- passwordless ---------------------------------------------------------------------------------


async def _passwordless_connection(call: Call, name: str | None) -> Connection | None:
    for conn in await _connections(call):
        if conn.name == name and conn.strategy in _PASSWORDLESS:
            return conn
    return None


def _key(conn: Connection) -> str:
    return "email" if conn.strategy == "email" else "phone_number"


async def passwordless(call: Call) -> Response:
    """GET, POST /u/login/passwordless?state=T&connection=email|sms: a code is sent (to the
    outbox), then the code page."""
    flow = await _flow(call)
    if isinstance(flow, Response):
        return flow
    conn = await _passwordless_connection(call, call.query("connection"))
    if conn is None:
        return error_page(400, "invalid_request", "the connection was not found")
    purpose = f"passwordless:{flow.tid}:{conn.name}"
    if call.request.method == "GET":
        hint = flow.tx.login_hint if conn.strategy == "email" else None
        return _passwordless_page(call, flow, conn, purpose, value=hint or "")
    form = await _posted(call)
    if _csrf_refused(call, flow.cookie, purpose, form):
        return _csrf_page()
    key = _key(conn)
    value = form.get(key, "").strip()
    if not value:
        text = (
            "Please enter your email address." if key == "email" else "Please enter a phone number."
        )
        return _passwordless_page(call, flow, conn, purpose, value=value, error=text)
    try:
        await call.store.start_passwordless(conn.name, send="code", ip=call.ip, **{key: value})
    except UserBlockedError:
        pass  # no code, and the same next page: the block is not shown to whoever typed this
    except StorageError:
        raise
    except IdentityStoreError as exc:
        return _passwordless_page(call, flow, conn, purpose, value=value, error=exc.message)
    pending = {"connection": conn.name, "key": key, "value": value}
    await call.off_loop(call.emu.sessions.update, flow.tid, flow.tx, pending=pending)
    return redirect(flow.url("/u/login/passwordless/code"), 303)


def _passwordless_page(
    call: Call, flow: _Flow, conn: Connection, purpose: str, *, value: str, error: str | None = None
) -> Response:
    email = conn.strategy == "email"
    return _form_page(
        call,
        "passwordless.html",
        title="Welcome",
        lead="Enter your email address to get a code."
        if email
        else "Enter your phone number to get a code by text message.",
        error=error,
        action=flow.url("/u/login/passwordless", connection=conn.name),
        cookie=flow.cookie,
        purpose=purpose,
        key=_key(conn),
        value=value,
        login_url=flow.url("/u/login"),
    )


async def passwordless_code(call: Call) -> Response:
    """GET, POST /u/login/passwordless/code?state=T: the code sent is checked; signed in."""
    flow = await _flow(call)
    if isinstance(flow, Response):
        return flow
    pending = flow.tx.pending
    if pending is None:
        return redirect(flow.url("/u/login"), 303)
    purpose = f"code:{flow.tid}"
    if call.request.method == "GET":
        return _code_page(call, flow, pending["value"], purpose)
    form = await _posted(call)
    if _csrf_refused(call, flow.cookie, purpose, form):
        return _csrf_page()
    code = form.get("code", "").strip()
    try:
        user: User = await call.store.verify_passwordless(
            pending["connection"], code=code, ip=call.ip, **{pending["key"]: pending["value"]}
        )
    except UserBlockedError:
        return await _blocked(call, flow)
    except StorageError:
        raise
    except IdentityStoreError as exc:
        return _code_page(call, flow, pending["value"], purpose, error=exc.message)
    return await finish(call, flow.tid, flow.tx, user)


def _code_page(
    call: Call, flow: _Flow, recipient: str, purpose: str, *, error: str | None = None
) -> Response:
    return _form_page(
        call,
        "code.html",
        title="Verify your identity",
        recipient=recipient,
        error=error,
        action=flow.url("/u/login/passwordless/code"),
        cookie=flow.cookie,
        purpose=purpose,
        login_url=flow.url("/u/login"),
    )


# -- forgot password ------------------------------------------------------------------------------


async def reset_request(call: Call) -> Response:
    """GET, POST /u/reset-password/request?state=T: a reset link to the user's email (in the
    outbox); the same answer whether or not the email is known."""
    flow = await _flow(call)
    if isinstance(flow, Response):
        return flow
    conn = await _database(call, flow.tx)
    if conn is None:
        return _no_database()
    purpose = f"reset-request:{flow.tid}"
    if call.request.method == "GET":
        return _reset_request_page(call, flow, purpose, email=flow.tx.login_hint or "")
    form = await _posted(call)
    if _csrf_refused(call, flow.cookie, purpose, form):
        return _csrf_page()
    email = form.get("email", "").strip()
    if not email:
        return _reset_request_page(
            call, flow, purpose, email=email, error="Please enter your email address."
        )
    try:
        await call.store.request_password_reset(conn.name, email, ip=call.ip)
    except StorageError:
        raise
    except IdentityStoreError as exc:
        return _reset_request_page(call, flow, purpose, email=email, error=exc.message)
    return page(
        "check_email.html", title="Check your email", email=email, login_url=flow.url("/u/login")
    )


def _reset_request_page(
    call: Call, flow: _Flow, purpose: str, *, email: str, error: str | None = None
) -> Response:
    return _form_page(
        call,
        "reset_request.html",
        title="Forgot your password?",
        error=error,
        action=flow.url("/u/reset-password/request"),
        cookie=flow.cookie,
        purpose=purpose,
        email=email,
        login_url=flow.url("/u/login"),
    )


# -- the reset link -------------------------------------------------------------------------------


async def reset_password(call: Call) -> Response:
    """GET, POST /u/reset-password?ticket=...: a new password with a password change ticket
    (the link ``request_password_reset`` sends), typed twice."""
    ticket = call.query("ticket")
    if not ticket:
        return error_page(400, "invalid_request", "Missing required parameter: ticket")
    purpose = "reset:" + hashlib.sha256(ticket.encode("utf-8", "replace")).hexdigest()
    cookie, new = browser_cookie(call)
    action = f"/u/reset-password?{urllib.parse.urlencode({'ticket': ticket})}"
    if call.request.method == "GET" or new:
        response = _reset_page(call, cookie, purpose, action)
        if new:
            set_browser_cookie(call, response, cookie)
        if call.request.method == "POST":
            return _csrf_page()
        return response
    form = await _posted(call)
    if _csrf_refused(call, cookie, purpose, form):
        return _csrf_page()
    password = form.get("password", "")
    if password != form.get("password_confirm"):
        error = "Please ensure the password and the confirmation are the same."
        return _reset_page(call, cookie, purpose, action, error=error)
    try:
        await call.store.change_password(ticket, password, ip=call.ip)
    except StorageError:
        raise
    except (InvalidTicketError, PasswordPolicyError) as exc:
        text = password_refusal(exc) if isinstance(exc, PasswordPolicyError) else exc.message
        return _reset_page(call, cookie, purpose, action, error=text)
    except IdentityStoreError as exc:
        return _reset_page(call, cookie, purpose, action, error=exc.message)
    return page("reset_done.html", title="Password changed")


def _reset_page(
    call: Call, cookie: str, purpose: str, action: str, *, error: str | None = None
) -> Response:
    return _form_page(
        call,
        "reset.html",
        title="Change your password",
        error=error,
        action=action,
        cookie=cookie,
        purpose=purpose,
    )
