"""A small web app that signs its users in with Auth0, through Authlib's OpenID Connect client.

Nothing here knows about identitystore. It reads its settings from the environment:
``AUTH0_DOMAIN``, ``AUTH0_CLIENT_ID``, ``AUTH0_CLIENT_SECRET``, and ``SESSION_SECRET`` (signs
the session cookie). Run it with ``uvicorn --factory webapp:create_app``.

Routes: ``/`` (who is signed in), ``/login`` and ``/signup`` (off to Auth0's login page, code
flow with PKCE), ``/callback`` (back from it), ``/logout`` (out of the app and of Auth0).
"""

from __future__ import annotations

import os
from html import escape
from urllib.parse import urlencode

from authlib.integrations.starlette_client import OAuth, OAuthError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route


def _page(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>Web app</title>'
        f"<body>{body}</body></html>",
        status_code=status_code,
    )


def create_app() -> Starlette:
    """The app, configured from the environment."""
    domain = os.environ["AUTH0_DOMAIN"]
    client_id = os.environ["AUTH0_CLIENT_ID"]
    oauth = OAuth()
    auth0 = oauth.register(
        "auth0",
        client_id=client_id,
        client_secret=os.environ["AUTH0_CLIENT_SECRET"],
        server_metadata_url=f"https://{domain}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
    )

    async def home(request: Request) -> Response:
        user = request.session.get("user")
        if user is None:
            return _page(
                '<p><a id="login" href="/login">Sign in</a> or '
                '<a id="signup" href="/signup">sign up</a></p>'
            )
        return _page(
            f'<p id="user">Signed in as <b>{escape(user["email"])}</b></p>'
            '<p><a id="logout" href="/logout">Sign out</a></p>'
        )

    async def login(request: Request) -> Response:
        # off to Auth0 with state, nonce and a PKCE challenge (kept in the session)
        redirect: Response = await auth0.authorize_redirect(request, request.url_for("callback"))
        return redirect

    async def signup(request: Request) -> Response:
        redirect_uri = request.url_for("callback")
        redirect: Response = await auth0.authorize_redirect(
            request, redirect_uri, screen_hint="signup"
        )
        return redirect

    async def callback(request: Request) -> Response:
        try:
            # the code for tokens (with the PKCE verifier); the ID token checked: signature
            # (JWKS), issuer, audience, expiry, nonce
            token = await auth0.authorize_access_token(request)
        except OAuthError as error:
            text = escape(f"{error.error}: {error.description or ''}")
            return _page(f'<p id="error">{text}</p>', status_code=400)
        claims = token["userinfo"]
        request.session["user"] = {"sub": claims["sub"], "email": claims.get("email", "")}
        return RedirectResponse("/", status_code=303)

    async def logout(request: Request) -> Response:
        request.session.clear()
        query = urlencode({"client_id": client_id, "returnTo": str(request.url_for("home"))})
        return RedirectResponse(f"https://{domain}/v2/logout?{query}", status_code=303)

    return Starlette(
        routes=[
            Route("/", home, name="home"),
            Route("/login", login),
            Route("/signup", signup),
            Route("/callback", callback, name="callback"),
            Route("/logout", logout),
        ],
        middleware=[Middleware(SessionMiddleware, secret_key=os.environ["SESSION_SECRET"])],
    )
