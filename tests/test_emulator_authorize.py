"""Browser sign-in on the emulator over real HTTP: ``/authorize``, the login pages under ``/u/``,
the session cookie, logout, and the ``authorization_code`` grant, driven by a scripted browser
(``login_pages.Browser``: httpx with cookies, forms read from the HTML)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest

from identitystore.emulator import Emulator

from .emulator_support import real_time_emulator
from .login_pages import (
    CALLBACK,
    DB,
    LOGOUT_URL,
    PASSWORD,
    Browser,
    Page,
    exchange,
    location,
    pkce,
    web_app,
)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with real_time_emulator(max_login_attempts=3) as emulator:
        yield emulator


@pytest.fixture
def jane(emu: Emulator) -> str:
    user = emu.store.create_user(DB, email="jane@example.com", password=PASSWORD, name="Jane")
    return user.user_id


@pytest.fixture
def app(emu: Emulator) -> dict[str, Any]:
    return web_app(emu)


@pytest.fixture
def browser(emu: Emulator) -> Iterator[Browser]:
    b = Browser(emu)
    yield b
    b.close()


def login_page(browser: Browser, client_id: str, **params: str | None) -> tuple[str, Page]:
    """``/authorize``, then the page it sends the browser to: (its URL, the page)."""
    url = str(location(browser.authorize(client_id, **params)))
    response, page = browser.page(url)
    assert response.status_code == 200, response.text
    return url, page


def sign_in(
    browser: Browser, client_id: str, password: str = PASSWORD, **params: str | None
) -> httpx.URL:
    """The whole sign-in of jane on the page: the callback URL the browser is sent to."""
    _, page = login_page(browser, client_id, **params)
    return location(
        browser.submit(page, "login-form", username="jane@example.com", password=password)
    )


def claims(emu: Emulator, token: str, audience: str) -> dict[str, Any]:
    key = emu.app.emulation.tenant.key.public_pem()
    decoded: dict[str, Any] = jwt.decode(
        token, key, algorithms=["RS256"], audience=audience, issuer=f"https://{emu.domain}/"
    )
    return decoded


# -- the flow -------------------------------------------------------------------------------------


def test_sign_in_gives_a_code_that_gives_tokens(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    verifier, challenge = pkce()
    state = "a b&c=d/é<>%25"
    callback = sign_in(
        browser,
        app["client_id"],
        state=state,
        nonce="n-0S6_WzA2Mj",
        scope="openid profile email offline_access",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    assert str(callback).startswith(CALLBACK + "?")
    assert callback.params["state"] == state  # echoed unchanged
    assert set(callback.params) == {"code", "state"}
    response = exchange(emu, app, callback.params["code"], code_verifier=verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "access_token",
        "id_token",
        "refresh_token",
        "scope",
        "expires_in",
        "token_type",
    }
    id_token = claims(emu, body["id_token"], app["client_id"])
    assert id_token["sub"] == jane
    assert id_token["nonce"] == "n-0S6_WzA2Mj"
    assert id_token["email"] == "jane@example.com"
    assert isinstance(id_token["auth_time"], int)
    access = claims(emu, body["access_token"], f"https://{emu.domain}/userinfo")
    assert access["azp"] == app["client_id"]
    refreshed = httpx.post(
        f"{emu.url}/oauth/token",
        data={
            "grant_type": "refresh_token",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "refresh_token": body["refresh_token"],
        },
    )
    assert refreshed.status_code == 200, refreshed.text
    kinds = [e.type for e in emu.store.list_events()]
    assert "s" in kinds
    assert "seacft" in kinds


def test_session_cookie_is_httponly_and_lax(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    _, page = login_page(browser, app["client_id"])
    answer = browser.submit(page, "login-form", username="jane@example.com", password=PASSWORD)
    cookies = [v for k, v in answer.headers.multi_items() if k == "set-cookie"]
    session = next(c for c in cookies if c.startswith("identitystore_session="))
    flags = {part.strip().lower() for part in session.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= flags
    assert "secure" not in flags  # plain HTTP


def test_audience_gives_an_access_token_for_the_api(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    with httpx.Client(base_url=f"{emu.url}/api/v2") as http:
        token = httpx.post(
            f"{emu.url}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": emu.client_id,
                "client_secret": emu.client_secret,
                "audience": f"https://{emu.domain}/api/v2/",
            },
        ).json()["access_token"]
        made = http.post(
            "/resource-servers",
            json={"identifier": "https://api.example.com/", "scopes": [{"value": "read:items"}]},
            headers={"authorization": f"Bearer {token}"},
        )
        assert made.status_code == 201, made.text
    callback = sign_in(
        browser, app["client_id"], audience="https://api.example.com/", scope="openid read:items"
    )
    body = exchange(emu, app, callback.params["code"]).json()
    access = claims(emu, body["access_token"], "https://api.example.com/")
    assert access["scope"] == "openid read:items"


def test_silent_sign_in_and_prompt(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    nobody = browser.authorize(app["client_id"], prompt="none", state="s0")
    assert location(nobody).params["error"] == "login_required"
    assert location(nobody).params["state"] == "s0"
    sign_in(browser, app["client_id"])
    again = location(browser.authorize(app["client_id"], state="s1"))
    assert str(again).startswith(CALLBACK)
    assert "code" in again.params
    silent = location(browser.authorize(app["client_id"], prompt="none", state="s2"))
    assert silent.params["state"] == "s2"
    body = exchange(emu, app, silent.params["code"]).json()
    assert claims(emu, body["id_token"], app["client_id"])["sub"] == jane
    forced = location(browser.authorize(app["client_id"], prompt="login"))
    assert forced.path == "/u/login"
    kinds = [e.type for e in emu.store.list_events()]
    assert "ssa" in kinds
    assert "fsa" in kinds


def test_form_post_answers_an_auto_submitting_form(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    _, page = login_page(browser, app["client_id"], response_mode="form_post", state="<s>")
    answer = browser.submit(page, "login-form", username="jane@example.com", password=PASSWORD)
    assert answer.status_code == 200
    posted = Page(answer.text)
    form = posted.forms["form-post"]
    assert (form.action, form.method) == (CALLBACK, "post")
    assert set(form.fields) == {"code", "state"}
    assert form.fields["state"] == "<s>"
    assert form.buttons, "a visible Continue button for browsers without JavaScript"
    nonce = answer.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in answer.text
    assert exchange(emu, app, form.fields["code"]).status_code == 200


def test_fragment_mode(emu: Emulator, app: dict[str, Any], jane: str, browser: Browser) -> None:
    callback = sign_in(browser, app["client_id"], response_mode="fragment", state="f")
    assert callback.query == b""
    assert dict(httpx.QueryParams(callback.fragment))["state"] == "f"


def test_public_client_needs_pkce_and_no_secret(emu: Emulator, jane: str, browser: Browser) -> None:
    spa = web_app(emu, app_type="spa")
    assert spa["token_endpoint_auth_method"] == "none"
    refused = location(browser.authorize(spa["client_id"], state="p"))
    assert refused.params["error"] == "invalid_request"
    assert "code_challenge" in refused.params["error_description"]
    assert refused.params["state"] == "p"
    verifier, challenge = pkce()
    callback = sign_in(
        browser, spa["client_id"], code_challenge=challenge, code_challenge_method="S256"
    )
    public = {"client_id": spa["client_id"]}
    assert exchange(emu, public, callback.params["code"]).status_code == 403  # no verifier
    callback = location(  # signed in already: straight back with a code
        browser.authorize(spa["client_id"], code_challenge=challenge, code_challenge_method="S256")
    )
    answer = exchange(emu, public, callback.params["code"], code_verifier=verifier)
    assert answer.status_code == 200, answer.text


# -- the pages ------------------------------------------------------------------------------------


def test_login_page_follows_the_contract(
    emu: Emulator, app: dict[str, Any], browser: Browser
) -> None:
    url, page = login_page(browser, app["client_id"])
    assert url.startswith("/u/login?state=") or "/u/login?state=" in url
    form = page.form("login-form")
    assert form.method == "post"
    assert {"csrf_token", "username", "password"} <= set(form.fields)
    assert {"username", "password"} <= page.labels
    assert form.buttons[0] == {"type": "submit", "name": "action", "value": "default"}
    for link in ("signup-link", "forgot-link", "passwordless-email-link", "passwordless-sms-link"):
        assert link in page.ids, link
    response = browser.get(url)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"


def test_wrong_password_and_unknown_user_read_the_same(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    _, page = login_page(browser, app["client_id"])
    texts = []
    for username in ("jane@example.com", "nobody@example.com"):
        answer = browser.submit(page, "login-form", username=username, password="Wrong-pass-1")
        assert answer.status_code == 400
        again = Page(answer.text)
        assert again.ids["error"]["role"] == "alert"
        texts.append(again.text("error"))
        assert again.form("login-form").fields["password"] == ""  # never sent back
    assert texts == ["Wrong email or password."] * 2


def test_brute_force_protection_blocks_the_page(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    _, page = login_page(browser, app["client_id"])
    for _ in range(3):
        browser.submit(page, "login-form", username="jane@example.com", password="Wrong-pass-1")
    answer = browser.submit(page, "login-form", username="jane@example.com", password=PASSWORD)
    assert answer.status_code == 400
    assert "blocked" in Page(answer.text).text("error")


def test_blocked_user_goes_back_with_access_denied(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    sign_in(browser, app["client_id"])  # a session
    emu.store.update_user(jane, blocked=True)
    silent = location(browser.authorize(app["client_id"], state="b1"))
    assert (silent.params["error"], silent.params["state"]) == ("access_denied", "b1")
    other = Browser(emu)
    try:
        callback = sign_in(other, app["client_id"], state="b2")
    finally:
        other.close()
    assert dict(callback.params) == {
        "error": "access_denied",
        "error_description": "user is blocked",
        "state": "b2",
    }


def test_signup_shows_and_enforces_the_policy(
    emu: Emulator, app: dict[str, Any], browser: Browser
) -> None:
    url = str(location(browser.authorize(app["client_id"], screen_hint="signup")))
    assert url.startswith("/u/signup?state=")
    _, page = browser.page(url)
    form = page.form("signup-form")
    assert {"csrf_token", "email", "password"} <= set(form.fields)
    assert "username" not in form.fields  # the connection does not require one
    assert {"email", "password"} <= page.labels
    assert "At least 8 characters in length" in page.text("password-policy")
    weak = browser.submit(page, "signup-form", email="new@example.com", password="short")
    assert weak.status_code == 400
    assert Page(weak.text).text("error") == "Password is too weak"
    assert emu.store.get_users_by_email("new@example.com") == []
    made = browser.submit(page, "signup-form", email="new@example.com", password=PASSWORD)
    callback = location(made)
    assert str(callback).startswith(CALLBACK)
    assert "code" in callback.params
    (user,) = emu.store.get_users_by_email("new@example.com")
    kinds = [e.type for e in emu.store.list_events()]
    assert "ss" in kinds
    assert "s" in kinds
    assert user.last_login is not None


def test_signup_of_an_existing_user_and_a_required_username(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    _, page = login_page(browser, app["client_id"], screen_hint="signup")
    taken = browser.submit(page, "signup-form", email="jane@example.com", password=PASSWORD)
    assert Page(taken.text).text("error") == "The user already exists."
    emu.store.update_connection(DB, options={"passwordPolicy": "good", "requires_username": True})
    _, page = login_page(browser, app["client_id"], screen_hint="signup")
    assert "username" in page.form("signup-form").fields
    assert "username" in page.labels
    made = browser.submit(
        page, "signup-form", email="joe@example.com", username="joe", password=PASSWORD
    )
    assert "code" in location(made).params
    assert emu.store.get_users_by_email("joe@example.com")[0].username == "joe"


@pytest.mark.parametrize("connection", ["email", "sms"])
def test_passwordless_code(
    emu: Emulator, app: dict[str, Any], browser: Browser, connection: str
) -> None:
    _, login = login_page(browser, app["client_id"])
    link = login.ids[f"passwordless-{connection}-link"]["href"]
    _, page = browser.page(link)
    key = "email" if connection == "email" else "phone_number"
    value = "pat@example.com" if connection == "email" else "+14155550100"
    assert key in page.form("passwordless-form").fields
    assert key in page.labels
    sent = location(browser.submit(page, "passwordless-form", **{key: value}))
    assert sent.path == "/u/login/passwordless/code"
    _, code_page = browser.page(str(sent))
    assert "code" in code_page.labels
    wrong = browser.submit(code_page, "code-form", code="000000")
    assert wrong.status_code == 400
    assert "Wrong" in Page(wrong.text).text("error")
    (message,) = emu.outbox
    assert message.recipient == value
    callback = location(browser.submit(code_page, "code-form", code=message.token))
    body = exchange(emu, app, callback.params["code"]).json()
    assert claims(emu, body["id_token"], app["client_id"])["sub"] == message.user_id


def test_authorize_with_a_passwordless_connection_opens_its_page(
    emu: Emulator, app: dict[str, Any], browser: Browser
) -> None:
    url = location(browser.authorize(app["client_id"], connection="email"))
    assert url.path == "/u/login/passwordless"
    assert url.params["connection"] == "email"


def test_forgot_password_then_sign_in_with_the_new_one(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    _, login = login_page(browser, app["client_id"])
    _, page = browser.page(login.ids["forgot-link"]["href"])
    assert "email" in page.labels
    answer = browser.submit(page, "reset-request-form", email="jane@example.com")
    assert answer.status_code == 200
    assert "check-email" in Page(answer.text).ids
    unknown = browser.submit(page, "reset-request-form", email="nobody@example.com")
    assert Page(unknown.text).text("check-email") == Page(answer.text).text("check-email").replace(
        "jane@example.com", "nobody@example.com"
    )
    (message,) = [m for m in emu.outbox if m.kind == "password_reset"]
    link = httpx.URL(message.link or "")
    assert link.path == "/u/reset-password"  # on the store's tenant_domain
    reader = Browser(emu)  # the email is opened in a fresh browser
    try:
        _, reset = reader.page(f"/u/reset-password?{link.query.decode()}")
        form = reset.form("reset-form")
        assert {"password", "password_confirm"} <= page.labels | reset.labels
        assert form.buttons[0]["type"] == "submit"
        new = "N3w-horse-battery"
        mismatch = reader.submit(reset, "reset-form", password=new, password_confirm=new + "x")
        assert mismatch.status_code == 400
        weak = reader.submit(reset, "reset-form", password="weak", password_confirm="weak")
        assert Page(weak.text).text("error") == "Password is too weak"
        done = reader.submit(reset, "reset-form", password=new, password_confirm=new)
        assert done.status_code == 200
        assert "reset-done" in Page(done.text).ids
        again = reader.submit(reset, "reset-form", password=new, password_confirm=new)
        assert again.status_code == 400
        assert Page(again.text).text("error")
    finally:
        reader.close()
    callback = sign_in(browser, app["client_id"], password=new)
    assert "code" in callback.params


def test_logout_ends_the_session_and_returns_only_to_allowed_urls(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    sign_in(browser, app["client_id"])
    answer = browser.get("/v2/logout", client_id=app["client_id"], returnTo=LOGOUT_URL)
    assert location(answer) == httpx.URL(LOGOUT_URL)
    assert "identitystore_session=" in answer.headers["set-cookie"]
    assert location(browser.authorize(app["client_id"], prompt="none")).params["error"] == (
        "login_required"
    )
    page = browser.get("/v2/logout")
    assert page.status_code == 200
    assert "logged-out" in Page(page.text).ids
    assert "slo" in [e.type for e in emu.store.list_events()]


def test_oidc_logout_with_an_id_token_hint(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    callback = sign_in(browser, app["client_id"])
    id_token = exchange(emu, app, callback.params["code"]).json()["id_token"]
    answer = browser.get(
        "/oidc/logout", id_token_hint=id_token, post_logout_redirect_uri=LOGOUT_URL, state="x y"
    )
    target = location(answer)
    assert str(target).startswith(LOGOUT_URL + "?")
    assert target.params["state"] == "x y"
    assert location(browser.authorize(app["client_id"], prompt="none")).params["error"] == (
        "login_required"
    )
    forged = id_token[:-4] + ("AAAA" if not id_token.endswith("AAAA") else "BBBB")
    bad = browser.get("/oidc/logout", id_token_hint=forged, post_logout_redirect_uri=LOGOUT_URL)
    assert bad.status_code == 400
    assert "location" not in bad.headers
    other = web_app(emu, allowed_logout_urls=["https://other.example/"])
    mixed = browser.get(
        "/oidc/logout",
        id_token_hint=id_token,
        client_id=other["client_id"],
        post_logout_redirect_uri="https://other.example/",
    )
    assert mixed.status_code == 400
    assert "location" not in mixed.headers


def test_discovery_lists_the_browser_flow(emu: Emulator) -> None:
    doc = httpx.get(f"{emu.url}/.well-known/openid-configuration").json()
    base = f"https://{emu.domain}/"
    assert doc["authorization_endpoint"] == f"{base}authorize"
    assert doc["end_session_endpoint"] == f"{base}oidc/logout"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert set(doc["response_modes_supported"]) == {"query", "fragment", "form_post"}
    assert "authorization_code" in doc["grant_types_supported"]
    assert "none" in doc["token_endpoint_auth_methods_supported"]


def test_secure_cookies_under_tls() -> None:
    with Emulator(tls=True) as emu:
        app = web_app(emu)
        emu.store.create_user(DB, email="jane@example.com", password=PASSWORD)
        b = Browser(emu, verify=ssl.create_default_context(cafile=emu.ca_file))
        try:
            answer = b.authorize(app["client_id"])
            assert "secure" in answer.headers["set-cookie"].lower()
            _, page = b.page(str(location(answer)))
            signed = b.submit(page, "login-form", username="jane@example.com", password=PASSWORD)
            session = next(
                v
                for k, v in signed.headers.multi_items()
                if k == "set-cookie" and v.startswith("identitystore_session=")
            )
            assert "secure" in session.lower()
        finally:
            b.close()


def test_passwordless_page_does_not_reveal_a_blocked_user(
    emu: Emulator, app: dict[str, Any], browser: Browser
) -> None:
    user = emu.store.create_user("email", email="pat@example.com")
    emu.store.update_user(user.user_id, blocked=True)
    url = str(location(browser.authorize(app["client_id"], connection="email")))
    _, page = browser.page(url)
    sent = location(browser.submit(page, "passwordless-form", email="pat@example.com"))
    assert sent.path == "/u/login/passwordless/code"  # as for anyone
    assert [m for m in emu.outbox if m.kind.startswith("passwordless")] == []


def test_max_age_asks_for_a_fresh_sign_in(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    sign_in(browser, app["client_id"])
    emu.advance_clock(timedelta(seconds=120))
    fresh_enough = location(browser.authorize(app["client_id"], max_age="300", prompt="none"))
    assert "code" in fresh_enough.params
    too_old = location(browser.authorize(app["client_id"], max_age="60", prompt="none"))
    assert too_old.params["error"] == "login_required"
    assert location(browser.authorize(app["client_id"], max_age="60")).path == "/u/login"
    bad = location(browser.authorize(app["client_id"], max_age="soon"))
    assert bad.params["error"] == "invalid_request"
