"""Attacks on the browser sign-in: open redirects through ``redirect_uri`` and ``returnTo``, code
reuse and theft, PKCE downgrade and mismatch, CSRF on every form, reflected input, and secrets
leaking into pages, events or logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
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

#: URLs near the registered ones that must not be accepted in their place.
LOOKALIKES = [
    "{url}/",
    "{url}x",
    "{url}?next=https://evil.example/",
    "{url}#frag",
    "{url}/../../evil",
    "{scheme}://127.0.0.1:9@evil.example{path}",
    "{scheme}://evil.example{path}",
    "{scheme}://127.0.0.1:90{path}",
    "//evil.example{path}",
    "HTTP://127.0.0.1:9{path}",
    " {url}",
    "{url}%00",
    "javascript:alert(1)//{url}",
    "https://evil.example/?{url}",
]


def lookalikes(url: str) -> list[str]:
    parsed = httpx.URL(url)
    return [form.format(url=url, scheme=parsed.scheme, path=parsed.path) for form in LOOKALIKES]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with real_time_emulator() as emulator:
        yield emulator


@pytest.fixture
def jane(emu: Emulator) -> str:
    return emu.store.create_user(DB, email="jane@example.com", password=PASSWORD).user_id


@pytest.fixture
def app(emu: Emulator) -> dict[str, Any]:
    return web_app(emu)


@pytest.fixture
def browser(emu: Emulator) -> Iterator[Browser]:
    b = Browser(emu)
    yield b
    b.close()


def code_for(browser: Browser, client_id: str, **params: str | None) -> str:
    """Sign jane in (or reuse the session) and return the code the app gets."""
    answer = browser.authorize(client_id, **params)
    target = location(answer)
    if target.path == "/u/login":
        _, page = browser.page(str(target))
        target = location(
            browser.submit(page, "login-form", username="jane@example.com", password=PASSWORD)
        )
    return target.params["code"]


def refused(response: httpx.Response, status: int, error: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    description: str = body["error_description"]
    return description


def assert_error_page(response: httpx.Response, status: int = 400) -> Page:
    """An HTML error page, never a redirect."""
    assert response.status_code == status, response.text[:300]
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    page = Page(response.text)
    assert page.ids["error"]["role"] == "alert"
    return page


# -- open redirects -------------------------------------------------------------------------------


@pytest.mark.parametrize("redirect_uri", lookalikes(CALLBACK))
def test_unregistered_redirect_uri_gets_a_page(
    emu: Emulator, app: dict[str, Any], browser: Browser, redirect_uri: str
) -> None:
    page = assert_error_page(browser.authorize(app["client_id"], redirect_uri=redirect_uri))
    assert "Callback URL mismatch" in page.text("error")
    bad_request = browser.authorize(
        app["client_id"], redirect_uri=redirect_uri, response_type="token"
    )
    assert_error_page(bad_request)  # even the errors for the app stay on the page


def test_unknown_or_missing_client_gets_a_page(emu: Emulator, browser: Browser) -> None:
    assert "Unknown client" in assert_error_page(browser.authorize("nobody")).text("error")
    missing = browser.get("/authorize", response_type="code", redirect_uri=CALLBACK)
    assert "client_id" in assert_error_page(missing).text("error")


def test_another_clients_callback_is_refused(
    emu: Emulator, app: dict[str, Any], browser: Browser
) -> None:
    other = web_app(emu, callbacks=["https://other.example/cb"])
    answer = browser.authorize(app["client_id"], redirect_uri=other["callbacks"][0])
    assert_error_page(answer)


@pytest.mark.parametrize("return_to", lookalikes(LOGOUT_URL))
def test_logout_never_redirects_to_an_unlisted_url(
    emu: Emulator, app: dict[str, Any], browser: Browser, return_to: str
) -> None:
    answer = browser.get("/v2/logout", client_id=app["client_id"], returnTo=return_to)
    assert "Allowed Logout URLs" in assert_error_page(answer).text("error")
    oidc = browser.get(
        "/oidc/logout", client_id=app["client_id"], post_logout_redirect_uri=return_to
    )
    assert_error_page(oidc)


def test_logout_without_a_client_or_with_another_clients_url(
    emu: Emulator, app: dict[str, Any], browser: Browser
) -> None:
    assert_error_page(browser.get("/v2/logout", returnTo=LOGOUT_URL))
    other = web_app(emu, allowed_logout_urls=["https://other.example/"])
    assert_error_page(
        browser.get("/v2/logout", client_id=app["client_id"], returnTo="https://other.example/")
    )
    assert location(
        browser.get("/v2/logout", client_id=other["client_id"], returnTo="https://other.example/")
    ) == httpx.URL("https://other.example/")


# -- errors that go back to the app, with their state ------------------------------------------


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),
        ({"response_mode": "web_message"}, "invalid_request"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request"),
        ({"code_challenge_method": "S256"}, "invalid_request"),
        ({"prompt": "none"}, "login_required"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"prompt": "bogus"}, "invalid_request"),
        ({"audience": "https://unknown.example/"}, "access_denied"),
        ({"connection": "no-such-connection"}, "invalid_request"),
    ],
)
@pytest.mark.parametrize("state", ["plain", "sp ace&amp=1+2%2B/é<script>"])
def test_errors_go_back_with_the_state_unchanged(
    emu: Emulator,
    app: dict[str, Any],
    browser: Browser,
    params: dict[str, str | None],
    error: str,
    state: str,
) -> None:
    target = location(browser.authorize(app["client_id"], state=state, **params))
    assert str(target).startswith(CALLBACK + "?")
    assert target.params["error"] == error
    assert target.params["state"] == state
    assert target.params["error_description"]


def test_a_client_without_the_code_grant_is_refused(emu: Emulator, browser: Browser) -> None:
    m2m = web_app(emu, app_type="non_interactive", grant_types=["client_credentials"])
    target = location(browser.authorize(m2m["client_id"]))
    assert target.params["error"] == "unauthorized_client"


# -- codes ----------------------------------------------------------------------------------------


def test_a_code_works_once(emu: Emulator, app: dict[str, Any], jane: str, browser: Browser) -> None:
    code = code_for(browser, app["client_id"])
    assert exchange(emu, app, code).status_code == 200
    again = exchange(emu, app, code)
    assert refused(again, 403, "invalid_grant") == "Invalid authorization code"
    assert "feacft" in [e.type for e in emu.store.list_events()]


def test_a_code_expires_after_ten_minutes(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    code = code_for(browser, app["client_id"])
    emu.advance_clock(timedelta(minutes=10, seconds=1))
    refused(exchange(emu, app, code), 403, "invalid_grant")
    fresh = code_for(browser, app["client_id"])  # the session is still alive (3 days idle)
    emu.advance_clock(timedelta(minutes=9))
    assert exchange(emu, app, fresh).status_code == 200


def test_a_code_is_bound_to_its_client_and_redirect_uri(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    thief = web_app(emu)
    stolen = code_for(browser, app["client_id"])
    refused(exchange(emu, thief, stolen), 403, "invalid_grant")
    refused(exchange(emu, app, stolen), 403, "invalid_grant")  # the attempt used it up
    code = code_for(browser, app["client_id"])
    refused(exchange(emu, app, code, redirect_uri=CALLBACK + "/"), 403, "invalid_grant")
    code = code_for(browser, app["client_id"])
    refused(exchange(emu, app, code, redirect_uri=None), 403, "invalid_grant")
    code = code_for(browser, app["client_id"])
    wrong_secret = {**app, "client_secret": "not-the-secret"}
    refused(exchange(emu, wrong_secret, code), 401, "access_denied")


def test_pkce_mismatch_missing_and_downgrade(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    verifier, challenge = pkce()
    other_verifier, _ = pkce()
    with_pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}
    text = "Failed to verify code verifier"
    code = code_for(browser, app["client_id"], **with_pkce)
    assert (
        refused(exchange(emu, app, code, code_verifier=other_verifier), 403, "invalid_grant")
        == text
    )
    code = code_for(browser, app["client_id"], **with_pkce)
    assert refused(exchange(emu, app, code), 403, "invalid_grant") == text
    code = code_for(browser, app["client_id"], **with_pkce)
    assert refused(exchange(emu, app, code, code_verifier=challenge), 403, "invalid_grant") == text
    code = code_for(browser, app["client_id"])  # no challenge: a verifier is not accepted
    assert refused(exchange(emu, app, code, code_verifier=verifier), 403, "invalid_grant") == text
    code = code_for(browser, app["client_id"], **with_pkce)
    assert exchange(emu, app, code, code_verifier=verifier).status_code == 200


def test_a_public_client_cannot_skip_pkce(emu: Emulator, jane: str, browser: Browser) -> None:
    spa = web_app(emu, app_type="spa")
    target = location(browser.authorize(spa["client_id"]))
    assert target.params["error"] == "invalid_request"
    _verifier, challenge = pkce()
    code = code_for(
        browser, spa["client_id"], code_challenge=challenge, code_challenge_method="S256"
    )
    public = {"client_id": spa["client_id"]}
    refused(exchange(emu, public, code), 403, "invalid_grant")


# -- CSRF -----------------------------------------------------------------------------------------

FormCase = tuple[str, str, dict[str, str]]


def _form_cases(emu: Emulator, browser: Browser, client_id: str) -> dict[str, FormCase]:
    """Each form of the contract: (the URL of its page, its id, good values)."""
    login = str(location(browser.authorize(client_id)))
    _, page = browser.page(login)
    links = {name: page.ids[name]["href"] for name in page.ids if name.endswith("-link")}
    passwordless = links["passwordless-email-link"]
    sent = location(
        browser.submit(browser.page(passwordless)[1], "passwordless-form", email="pat@example.com")
    )
    ticket = emu.store.create_password_change_ticket(
        user_id=emu.store.get_users_by_email("jane@example.com")[0].user_id
    )
    new = "N3w-horse-battery"
    return {
        "login": (login, "login-form", {"username": "jane@example.com", "password": PASSWORD}),
        "signup": (
            links["signup-link"],
            "signup-form",
            {"email": "x@example.com", "password": PASSWORD},
        ),
        "passwordless": (passwordless, "passwordless-form", {"email": "sam@example.com"}),
        "code": (str(sent), "code-form", {"code": emu.outbox[-1].token or ""}),
        "reset-request": (
            links["forgot-link"],
            "reset-request-form",
            {"email": "jane@example.com"},
        ),
        "reset": (
            f"/u/reset-password?{httpx.URL(ticket.url).query.decode()}",
            "reset-form",
            {"password": new, "password_confirm": new},
        ),
    }


def _nothing_happened(emu: Emulator, outbox_size: int) -> None:
    assert emu.store.get_users_by_email("x@example.com") == []
    assert len(emu.outbox) == outbox_size
    assert emu.store.authenticate(DB, "jane@example.com", PASSWORD).user_id


@pytest.mark.parametrize(
    "form", ["login", "signup", "passwordless", "code", "reset-request", "reset"]
)
@pytest.mark.parametrize("attack", ["missing", "wrong", "other transaction", "other browser"])
def test_every_form_needs_its_csrf_token(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser, form: str, attack: str
) -> None:
    url, form_id, values = _form_cases(emu, browser, app["client_id"])[form]
    _, page = browser.page(url)
    token = page.form(form_id).fields["csrf_token"]
    outbox_size = len(emu.outbox)
    if attack == "missing":
        answer = browser.submit(page, form_id, csrf_token=None, **values)
    elif attack == "wrong":
        answer = browser.submit(page, form_id, csrf_token=token[:-2] + "AA", **values)
    elif attack == "other transaction":
        other_url, _, _ = _form_cases(emu, browser, app["client_id"])[form]
        _, other_page = browser.page(other_url)
        outbox_size = len(emu.outbox)
        other_token = other_page.form(form_id).fields["csrf_token"]
        if form == "reset":  # one ticket, one token: another ticket's page instead
            assert other_token != token
        answer = browser.submit(page, form_id, csrf_token=other_token, **values)
    else:  # the attacker's own browser, replaying the victim's form and token
        attacker = Browser(emu)
        try:
            answer = attacker.submit(page, form_id, **values)
        finally:
            attacker.close()
    assert answer.status_code == 403, (form, attack, answer.status_code)
    assert "location" not in answer.headers
    _nothing_happened(emu, outbox_size)


def test_a_transaction_belongs_to_its_browser(
    emu: Emulator, app: dict[str, Any], browser: Browser
) -> None:
    login = str(location(browser.authorize(app["client_id"])))
    other = Browser(emu)
    try:
        assert_error_page(other.get(login), 403)
    finally:
        other.close()
    assert_error_page(browser.get("/u/login", state="made-up"))
    assert_error_page(browser.get("/u/login"))


def test_a_cross_site_form_body_is_not_read(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    login = str(location(browser.authorize(app["client_id"])))
    _, page = browser.page(login)
    fields = {
        **page.form("login-form").fields,
        "username": "jane@example.com",
        "password": PASSWORD,
    }
    as_json = browser.http.post(login, json=fields)
    assert as_json.status_code == 403


# -- reflected input ------------------------------------------------------------------------------

SCRIPT = '"><script>alert(1)</script>'


@pytest.mark.parametrize("screen", ["login", "signup", "passwordless", "forgot"])
def test_login_hint_is_escaped(
    emu: Emulator, app: dict[str, Any], browser: Browser, screen: str
) -> None:
    params = {"login_hint": SCRIPT}
    if screen == "signup":
        params["screen_hint"] = "signup"
    url = str(location(browser.authorize(app["client_id"], **params)))
    if screen in ("passwordless", "forgot"):
        _, page = browser.page(url)
        url = page.ids["passwordless-email-link" if screen == "passwordless" else "forgot-link"][
            "href"
        ]
    response = browser.get(url)
    assert response.status_code == 200
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;" in response.text
    fields = Page(response.text).forms
    assert SCRIPT in [v for f in fields.values() for v in f.fields.values()]


def test_reflected_values_are_escaped_everywhere(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    pages = [
        browser.authorize(SCRIPT),
        browser.get("/v2/logout", client_id=app["client_id"], returnTo=SCRIPT),
        browser.get("/oidc/logout", client_id=app["client_id"], post_logout_redirect_uri=SCRIPT),
        browser.get("/u/reset-password", ticket=SCRIPT),
    ]
    login = str(location(browser.authorize(app["client_id"])))
    _, page = browser.page(login)
    pages.append(browser.submit(page, "login-form", username=SCRIPT, password="x"))
    url = page.ids["passwordless-email-link"]["href"]
    _, form = browser.page(url)
    pages.append(browser.submit(form, "passwordless-form", email=SCRIPT))
    url = page.ids["forgot-link"]["href"]
    _, form = browser.page(url)
    pages.append(browser.submit(form, "reset-request-form", email=SCRIPT))
    for response in pages:
        assert "<script>alert" not in response.text, response.text[:500]


def test_form_post_escapes_state(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    login = str(
        location(browser.authorize(app["client_id"], response_mode="form_post", state=SCRIPT))
    )
    _, page = browser.page(login)
    answer = browser.submit(page, "login-form", username="jane@example.com", password=PASSWORD)
    assert "<script>alert" not in answer.text
    assert Page(answer.text).forms["form-post"].fields["state"] == SCRIPT


# -- secrets --------------------------------------------------------------------------------------


def test_no_password_code_or_token_in_pages_events_or_logs(
    emu: Emulator,
    app: dict[str, Any],
    jane: str,
    browser: Browser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wr0ng-secret-password"
    pages: list[str] = []
    login = str(location(browser.authorize(app["client_id"])))
    _, page = browser.page(login)
    pages.append(
        browser.submit(page, "login-form", username="jane@example.com", password=wrong).text
    )
    answer = browser.submit(page, "login-form", username="jane@example.com", password=PASSWORD)
    code = location(answer).params["code"]
    verifier, challenge = pkce()
    tokens = exchange(emu, app, code).json()
    # passwordless: a wrong code and the right one
    url = str(location(browser.authorize(app["client_id"], connection="email", prompt="login")))
    _, form = browser.page(url)
    sent = location(browser.submit(form, "passwordless-form", email="pat@example.com"))
    _, code_page = browser.page(str(sent))
    otp = emu.outbox[-1].token or ""
    pages.append(browser.submit(code_page, "code-form", code="999999").text)
    browser.submit(code_page, "code-form", code=otp)
    secrets = [
        wrong,
        PASSWORD,
        code,
        otp,
        tokens["access_token"],
        tokens["id_token"],
        app["client_secret"],
        verifier,
        challenge,
    ]
    events = json.dumps([e.to_dict() for e in emu.store.list_events()])
    logs = "\n".join(  # the server's logs (not the test client's own httpx/httpcore ones)
        r.getMessage() for r in caplog.records if r.name.startswith(("identitystore", "uvicorn"))
    )
    for secret in secrets:
        assert secret not in events
        assert secret not in logs
        for text in pages:
            assert secret not in text
    backend = emu.store.backend
    stored = json.dumps(
        [
            backend.list_records(kind)
            for kind in ("authorize_transaction", "login_session", "authorization_code")
        ]
    )
    for secret in (code, *browser.http.cookies.values()):
        assert secret not in stored


def test_error_bodies_are_bounded(emu: Emulator, app: dict[str, Any], browser: Browser) -> None:
    long = "x" * 30_000
    answer = browser.authorize(app["client_id"], redirect_uri=long)
    assert len(answer.text) < 20_000
    target = location(browser.authorize(app["client_id"], response_type=long))
    assert len(str(target)) < 5_000


def test_a_long_state_comes_back_whole_or_is_refused(
    emu: Emulator, app: dict[str, Any], jane: str, browser: Browser
) -> None:
    whole = "s" * 4096
    target = location(browser.authorize(app["client_id"], prompt="none", state=whole))
    assert target.params["state"] == whole
    too_long = location(browser.authorize(app["client_id"], state="s" * 4097))
    assert target.params["state"] != too_long.params["state"]
    assert too_long.params["error"] == "invalid_request"
    assert "state is too long" in too_long.params["error_description"]
