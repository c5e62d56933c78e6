"""``GET /authorize`` (OpenID Connect's authorization code flow with PKCE, Auth0's parameters),
the answer that ends a sign-in (a code, or an error, back to the app), the session cookie, and
logout (``/v2/logout``, ``/oidc/logout``); docs/emulator.md, "Browser sign-in".

Nothing is ever sent to a URL the client did not register: a ``redirect_uri`` that is not exactly
one of the client's ``callbacks`` gets an error page, and so does a logout ``returnTo`` that is
not one of its ``allowed_logout_urls``.
"""

from __future__ import annotations

import secrets
import urllib.parse
from collections.abc import Mapping

from starlette.responses import Response

from identitystore import User
from identitystore.errors import (
    ConnectionNotFoundError,
    IdentityStoreError,
    StorageError,
    UserBlockedError,
)

from . import _signin as signin
from ._errors import ApiError, OAuthError
from ._html import page
from ._http import Call
from ._sessions import CodeGrant, Session, Transaction
from ._tenant import Client
from ._tokens import id_token_audience

__all__ = [
    "BROWSER_COOKIE",
    "SESSION_COOKIE",
    "authorize",
    "browser_cookie",
    "error_page",
    "finish",
    "logout",
    "oidc_logout",
    "to_app",
]

#: The session cookie (the page contract's name) and the browser's CSRF cookie.
SESSION_COOKIE = "identitystore_session"
BROWSER_COOKIE = "identitystore_csrf"
#: Seconds the session cookie is kept by the browser (Auth0's default maximum session).
_SESSION_COOKIE_AGE = 7 * 24 * 3600
_MODES = ("query", "fragment", "form_post")
_PROMPTS = frozenset({"none", "login", "consent", "select_account"})
#: A PKCE ``code_challenge``: an S256 digest is 43 base64url characters (RFC 7636: 43 to 128).
_CHALLENGE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
#: The longest ``state``, ``nonce``, ``scope``, ... taken (longer ones are refused, never cut:
#: ``state`` must come back unchanged).
_MAX_PARAM = 4096
_BOUNDED = ("state", "nonce", "scope", "audience", "connection", "prompt", "login_hint")


# -- answers ------------------------------------------------------------------------------------


def error_page(status: int, code: str, description: str) -> Response:
    """Auth0's error page: for what cannot go back to the app (no client, a foreign URL)."""
    return page("error.html", status, title="Error", code=code, description=description[:512])


def _location(url: str) -> str:
    """``url`` as a ``Location`` header can carry it (non-ASCII and controls percent-encoded)."""
    return urllib.parse.quote(url, safe=":/?#[]@!$&'()*+,;=%~")


def redirect(url: str, status: int = 302) -> Response:
    """A redirect to ``url`` (an app's registered URL or one of the emulator's pages)."""
    return Response(b"", status_code=status, headers={"location": _location(url)})


def to_app(redirect_uri: str, mode: str, params: Mapping[str, str | None]) -> Response:
    """``params`` (the ``None`` ones left out) sent to the app's ``redirect_uri`` as
    ``response_mode`` says: in its query, its fragment, or a form the browser posts."""
    fields = [(k, v) for k, v in params.items() if v is not None]
    if mode == "form_post":
        return page("form_post.html", title="Continue", action=redirect_uri, fields=fields)
    parts = urllib.parse.urlsplit(redirect_uri)
    encoded = urllib.parse.urlencode(fields)
    if not encoded:
        return redirect(redirect_uri)
    if mode == "fragment":
        url = urllib.parse.urlunsplit(parts._replace(fragment=encoded))
    else:
        query = f"{parts.query}&{encoded}" if parts.query else encoded
        url = urllib.parse.urlunsplit(parts._replace(query=query))
    return redirect(url)


def _error_to_app(tx: Transaction, error: str, description: str) -> Response:
    return to_app(
        tx.redirect_uri,
        tx.response_mode,
        {"error": error, "error_description": description, "state": tx.state},
    )


# -- cookies ------------------------------------------------------------------------------------


def _secure(call: Call) -> bool:
    return call.request.url.scheme == "https"


def browser_cookie(call: Call) -> tuple[str, bool]:
    """The browser's CSRF cookie, and whether it is new (then ``set_browser_cookie``)."""
    cookie = call.request.cookies.get(BROWSER_COOKIE)
    if cookie and 20 <= len(cookie) <= 64 and cookie.isascii():
        return cookie, False
    return secrets.token_urlsafe(32), True


def set_browser_cookie(call: Call, response: Response, cookie: str) -> None:
    """Give the browser its CSRF cookie (HttpOnly, SameSite=Lax, Secure under TLS)."""
    response.set_cookie(
        BROWSER_COOKIE, cookie, httponly=True, samesite="lax", secure=_secure(call), path="/"
    )


def _set_session(call: Call, response: Response, cookie: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=_SESSION_COOKIE_AGE,
        httponly=True,
        samesite="lax",
        secure=_secure(call),
        path="/",
    )


def _clear_session(call: Call, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=_secure(call), path="/"
    )


async def current_session(call: Call) -> tuple[Session, User] | None:
    """The browser's live session and its user (who may be blocked), or None."""
    cookie = call.request.cookies.get(SESSION_COOKIE)
    session = await call.off_loop(call.emu.sessions.session, cookie)
    if session is None:
        return None
    try:
        user: User = await call.store.get_user(session.user_id)
    except StorageError:
        raise
    except IdentityStoreError:  # deleted meanwhile
        return None
    return session, user


async def log_event(
    call: Call,
    kind: str,
    *,
    client_id: str | None,
    user: User | None = None,
    description: str | None = None,
) -> None:
    """Log what only the pages see (``ssa``, ``fsa``, ``slo``, ...); a text the log cannot
    hold loses its entry, never the answer."""
    try:
        name = await call.off_loop(call.emu.tenant.client_name, client_id) if client_id else None
        await call.store.record_event(
            kind,
            description=description,
            user_id=user.user_id if user is not None else None,
            user_name=(user.email or user.username) if user is not None else None,
            connection=user.connection if user is not None else None,
            ip=call.ip,
            client_id=client_id,
            client_name=name,
        )
    except StorageError:
        raise
    except IdentityStoreError:
        pass


# -- GET /authorize -------------------------------------------------------------------------------


def _param(call: Call, name: str) -> str | None:
    value = call.query(name)
    return None if value is None or value == "" else value


async def _client(call: Call, client_id: str) -> Client | None:
    try:
        client: Client = await call.off_loop(call.emu.tenant.get_client, client_id)
    except ApiError:
        return None
    return client


async def authorize(call: Call) -> Response:
    """GET /authorize: check the request, then sign in silently with the browser's session, or
    send the browser to the login page (or the sign-up or passwordless page)."""
    client_id = _param(call, "client_id")
    if client_id is None:
        return error_page(400, "invalid_request", "Missing required parameter: client_id")
    client = await _client(call, client_id)
    if client is None:
        return error_page(400, "invalid_request", f"Unknown client: {client_id}")
    registered = client.callbacks
    redirect_uri = call.query("redirect_uri")
    sent = bool(redirect_uri)
    if not redirect_uri:
        if not registered:
            return error_page(400, "invalid_request", "Missing required parameter: redirect_uri")
        redirect_uri = registered[0]
    elif redirect_uri not in registered:
        return error_page(
            400,
            "invalid_request",
            "Callback URL mismatch. The provided redirect_uri is not in the list of allowed "
            "callback URLs.",
        )
    mode = _param(call, "response_mode") or "query"
    browser, new_browser = browser_cookie(call)
    tx = Transaction(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        redirect_uri_sent=sent,
        response_mode=mode if mode in _MODES else "query",
        browser=call.emu.sessions.browser_id(browser),
        state=_param(call, "state"),
        nonce=_param(call, "nonce"),
        scope=_param(call, "scope") or "",
        audience=_param(call, "audience"),
        code_challenge=_param(call, "code_challenge"),
        connection=_param(call, "connection"),
        prompt=_param(call, "prompt"),
        login_hint=_param(call, "login_hint"),
    )
    problem = await _refusal(call, client, tx, mode)
    if problem is not None:
        return _error_to_app(tx, *problem)
    prompts = set((tx.prompt or "").split())
    found = await current_session(call)
    max_age = call.query("max_age")
    if found is not None and max_age and call.emu.now() - found[0].auth_time > int(max_age):
        found = None  # signed in too long ago: sign in again
    if found is not None and "login" not in prompts:
        session, user = found
        if user.blocked:
            blocked = UserBlockedError.default_message
            await log_event(call, "f", client_id=client.client_id, user=user, description=blocked)
            return _error_to_app(tx, "access_denied", blocked)
        if "none" in prompts:
            await log_event(call, "ssa", client_id=client.client_id, user=user)
        return await finish(call, None, tx, user, auth_time=session.auth_time)
    if "none" in prompts:
        await log_event(call, "fsa", client_id=client.client_id, description="Login required")
        return _error_to_app(tx, "login_required", "Login required")
    tid = await call.off_loop(call.emu.sessions.start, tx)
    response = redirect(await _first_page(call, tx, tid, _param(call, "screen_hint")))
    if new_browser:
        set_browser_cookie(call, response, browser)
    return response


async def _refusal(
    call: Call, client: Client, tx: Transaction, mode: str
) -> tuple[str, str] | None:
    """What is wrong with an ``/authorize`` request whose ``redirect_uri`` is good, as
    ``(error, error_description)`` for the app; None if nothing."""
    for name in _BOUNDED:
        if len(call.query(name) or "") > _MAX_PARAM:
            return "invalid_request", f"{name} is too long (at most {_MAX_PARAM} characters)"
    max_age = call.query("max_age")
    if max_age and not (max_age.isascii() and max_age.isdigit() and len(max_age) <= 10):
        return "invalid_request", "max_age must be a number of seconds"
    response_type = call.query("response_type")
    if not response_type:
        return "invalid_request", "Missing required parameter: response_type"
    if response_type != "code":
        return "unsupported_response_type", f"Unsupported response type: {response_type[:256]}"
    if mode not in _MODES:
        return "invalid_request", f"Unsupported response_mode: {mode[:256]}"
    first_party = client.client_id == call.emu.client.client_id
    if not first_party and "authorization_code" not in client.grant_types:
        return "unauthorized_client", "Grant type 'authorization_code' not allowed for the client."
    method = call.query("code_challenge_method")
    if tx.code_challenge is not None:
        if method != "S256":
            return "invalid_request", "code_challenge_method must be S256"
        if (
            not 43 <= len(tx.code_challenge) <= 128
            or not set(tx.code_challenge) <= _CHALLENGE_CHARS
        ):
            return "invalid_request", "code_challenge must be 43 to 128 base64url characters"
    elif method is not None:
        return "invalid_request", "Missing required parameter: code_challenge"
    elif client.public:
        return "invalid_request", "Missing required parameter: code_challenge (PKCE is required)"
    prompts = (tx.prompt or "").split()
    unknown = [p for p in prompts if p not in _PROMPTS]
    if unknown:
        return "invalid_request", f"Unsupported prompt: {unknown[0][:256]}"
    if "none" in prompts and len(prompts) > 1:
        return "invalid_request", "prompt=none cannot be combined with other values"
    try:
        await signin.audience_api(call, tx.audience)
    except OAuthError as exc:
        return exc.error, exc.description
    if tx.connection is not None:
        try:
            await call.store.get_connection(tx.connection)
        except ConnectionNotFoundError:
            return "invalid_request", "the connection was not found"
    return None


async def _first_page(call: Call, tx: Transaction, tid: str, screen_hint: str | None) -> str:
    """The login page a new transaction starts on."""
    query = {"state": tid}
    page_path = "/u/signup" if screen_hint == "signup" else "/u/login"
    if tx.connection is not None:
        strategy = (await call.store.get_connection(tx.connection)).strategy
        if strategy in ("email", "sms"):
            page_path = "/u/login/passwordless"
            query["connection"] = tx.connection
    return f"{page_path}?{urllib.parse.urlencode(query)}"


async def finish(
    call: Call, tid: str | None, tx: Transaction, user: User, *, auth_time: int | None = None
) -> Response:
    """End a sign-in: a code back to the app. ``auth_time`` None means the user just proved
    who they are: a new session starts (the browser's old one ends)."""
    sessions = call.emu.sessions
    cookie = None
    if auth_time is None:
        await call.off_loop(sessions.sign_out, call.request.cookies.get(SESSION_COOKIE))
        cookie, session = await call.off_loop(sessions.sign_in, user.user_id)
        auth_time = session.auth_time
    grant = CodeGrant(
        client_id=tx.client_id,
        redirect_uri=tx.redirect_uri,
        redirect_uri_sent=tx.redirect_uri_sent,
        user_id=user.user_id,
        scope=tx.scope,
        audience=tx.audience,
        nonce=tx.nonce,
        code_challenge=tx.code_challenge,
        auth_time=auth_time,
    )
    code = await call.off_loop(sessions.new_code, grant)
    if tid is not None:
        await call.off_loop(sessions.finish, tid)
    response = to_app(tx.redirect_uri, tx.response_mode, {"code": code, "state": tx.state})
    if cookie is not None:
        _set_session(call, response, cookie)
    return response


async def deny(call: Call, tid: str, tx: Transaction, error: str, description: str) -> Response:
    """End a sign-in with an error back to the app (a blocked user: ``access_denied``)."""
    await call.off_loop(call.emu.sessions.finish, tid)
    return _error_to_app(tx, error, description)


# -- logout ---------------------------------------------------------------------------------------


async def _end_session(call: Call, client_id: str | None) -> None:
    """End the browser's session (logged ``slo``)."""
    ended = await call.off_loop(
        call.emu.sessions.sign_out, call.request.cookies.get(SESSION_COOKIE)
    )
    user = None
    if ended is not None:
        try:
            user = await call.store.get_user(ended.user_id)
        except StorageError:
            raise
        except IdentityStoreError:
            user = None
    await log_event(call, "slo", client_id=client_id, user=user, description="Logout")


def _logged_out(call: Call, error: str | None = None, status: int = 200) -> Response:
    response = page("logged_out.html", status, title="Logged out", error=error)
    _clear_session(call, response)
    return response


async def logout(call: Call) -> Response:
    """GET /v2/logout?client_id=&returnTo=: the session ends; the browser goes to ``returnTo``
    if it is one of the client's allowed logout URLs, else it sees a page saying so."""
    client_id = _param(call, "client_id")
    return await _log_out(call, client_id, "returnTo", call.query("returnTo"))


async def oidc_logout(call: Call) -> Response:
    """GET /oidc/logout (OpenID Connect RP-initiated logout): ``post_logout_redirect_uri`` must
    be an allowed logout URL of the client named by ``client_id`` or the ``id_token_hint``'s
    audience; ``state`` goes back with it."""
    client_id = _param(call, "client_id")
    hint = call.query("id_token_hint")
    if hint:
        audience = _hinted_client(call, hint)
        if audience is None:
            return _logged_out(call, "Invalid id_token_hint", 400)
        if client_id is not None and client_id != audience:
            return _logged_out(call, "The client_id does not match the id_token_hint", 400)
        client_id = audience
    target = call.query("post_logout_redirect_uri")
    return await _log_out(call, client_id, "post_logout_redirect_uri", target, call.query("state"))


async def _log_out(
    call: Call, client_id: str | None, name: str, target: str | None, state: str | None = None
) -> Response:
    """End the session; then a redirect to ``target`` (parameter ``name``) with ``state`` if it
    is one of the client's allowed logout URLs, else a page."""
    client = await _client(call, client_id) if client_id is not None else None
    await _end_session(call, client.client_id if client is not None else None)
    if not target:
        return _logged_out(call)
    if client is None or target not in client.allowed_logout_urls:
        return _logged_out(
            call,
            f'The "{name}" parameter "{target[:512]}" is not defined as a valid URL in '
            '"Allowed Logout URLs".',
            400,
        )
    response = to_app(target, "query", {"state": state or None})
    _clear_session(call, response)
    return response


def _hinted_client(call: Call, token: str) -> str | None:
    """The client (``aud``) of an ID token this tenant signed (expired or not), or None."""
    tenant = call.emu.tenant
    return id_token_audience(token, tenant.public_key, issuer=tenant.issuer)
