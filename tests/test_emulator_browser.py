"""The emulator's hosted login pages in a real browser: Debian's chromium, headless, driven by
Selenium through chromedriver, against an emulator over TLS whose CA only it trusts, for a web
app of the tenant that runs the code flow with PKCE and verifies the ID token it gets.

Without chromium these skip, except when ``IDENTITYSTORE_TEST_CHROMIUM`` is set (``.ci/run``
installs chromium and sets it) or under ``CI=true``, where they fail. With
``IDENTITYSTORE_WRITE_SCREENSHOTS=1`` the screenshot test rewrites docs/images/login-*.png.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from identitystore import IdentityStore
from identitystore.emulator import Emulator
from identitystore.errors import IdentityStoreError
from identitystore.notify import Message
from identitystore.testing.helpers import ManualClock
from tests.browser_support import (
    PHONE,
    Callback,
    RelyingParty,
    browser_for,
    element,
    submit,
)

DB = "Username-Password-Authentication"
EMAIL = "ann@example.com"
PASSWORD = "Corr3ct-horse-battery"
NEW_PASSWORD = "N3w-staple-battery-9"
SESSION = "identitystore_session"
IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"

pytestmark = pytest.mark.slow


@pytest.fixture
def tenant(identity_store: IdentityStore, identity_clock: ManualClock) -> Iterator[Emulator]:
    """The emulator over TLS on the test's store, whose clock reads the real time (the browser
    and the app compare cookie and token expiries with theirs)."""
    identity_clock.set(datetime.now(timezone.utc))
    with Emulator(identity_store, tls=True) as emu:
        yield emu


@pytest.fixture
def app(tenant: Emulator) -> Iterator[RelyingParty]:
    with RelyingParty(tenant).serving() as rp:
        yield rp


@pytest.fixture
def browser(tenant: Emulator, app: RelyingParty) -> Iterator[WebDriver]:
    """Chromium trusting the tenant's CA; it quits before the app stops."""
    with browser_for(tenant) as driver:
        yield driver


@pytest.fixture
def ann(identity_store: IdentityStore) -> str:
    """A user of the database connection; her id."""
    return identity_store.create_user(DB, email=EMAIL, password=PASSWORD).user_id


def signed_in(browser: WebDriver, app: RelyingParty) -> Callback:
    """The callback the browser has just reached, which must have signed a user in."""
    shown = element(browser, "#signed-in, #callback-error")
    result = app.last
    assert result.error is None, (result.error, result.error_description)
    assert result.claims is not None
    assert shown.text == result.claims["sub"]
    assert result.tokens["token_type"] == "Bearer"
    assert result.tokens["access_token"]
    return result


def sign_in_with_password(
    browser: WebDriver, app: RelyingParty, password: str = PASSWORD, **params: str
) -> Callback:
    browser.get(f"{app.url}/login?{urlencode(params)}")
    submit(browser, "login-form", username=EMAIL, password=password)
    return signed_in(browser, app)


def session_cookie(browser: WebDriver) -> dict[str, Any] | None:
    """The emulator's session cookie in the browser (any domain), if it has one."""
    cookies = browser.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
    found = [c for c in cookies if c["name"] == SESSION]
    assert len(found) <= 1, found
    return found[0] if found else None


def last_message(emu: Emulator, kind: str, to: str) -> Message:
    found = [m for m in emu.outbox if m.kind.startswith(kind) and m.recipient == to]
    assert found, f"no {kind} message to {to} in {[(m.kind, m.recipient) for m in emu.outbox]}"
    return found[-1]


def reset_link(emu: Emulator, to: str) -> str:
    """The newest reset link sent to ``to``, on the emulator: the store names its own
    ``tenant_domain`` (the plugin's store: ``identitystore.local``), the page is served here."""
    link = last_message(emu, "password_reset", to).link
    assert link is not None
    parts = urlsplit(link)
    assert parts.path == "/u/reset-password"
    assert parts.query.startswith("ticket=")
    return f"{emu.url}{parts.path}?{parts.query}"


def error_text(browser: WebDriver) -> str:
    shown = element(browser, "#error")
    assert shown.get_attribute("role") == "alert"
    assert shown.is_displayed()
    return shown.text


# -- the flows ---------------------------------------------------------------------------------


def test_sign_in_with_email_and_password(
    browser: WebDriver, app: RelyingParty, tenant: Emulator, ann: str
) -> None:
    browser.get(f"{app.url}/login")
    assert "/u/login?" in browser.current_url
    assert "state=" in browser.current_url
    submit(browser, "login-form", username=EMAIL, password=PASSWORD)
    result = signed_in(browser, app)
    assert browser.current_url.startswith(app.callback_url + "?")
    assert result.claims is not None
    assert result.claims["sub"] == ann
    assert result.claims["email"] == EMAIL
    assert result.claims["iss"] == f"https://{tenant.domain}/"
    assert "refresh_token" not in result.tokens  # no offline_access asked
    cookie = session_cookie(browser)
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["secure"] is True  # over TLS
    assert cookie["sameSite"] == "Lax"
    assert PASSWORD not in cookie["value"]


def test_a_wrong_password_shows_auth0s_error_and_signs_nobody_in(
    browser: WebDriver, app: RelyingParty, identity_store: IdentityStore, ann: str
) -> None:
    browser.get(f"{app.url}/login")
    submit(browser, "login-form", username=EMAIL, password="Wrong-horse-battery-1")
    assert "Wrong email or password" in error_text(browser)
    assert "Wrong-horse-battery-1" not in browser.page_source
    assert app.callbacks == []
    assert session_cookie(browser) is None
    assert [e.type for e in identity_store.list_events(user_id=ann)][-1] == "fp"
    # the same transaction goes on: the right password now signs her in
    submit(browser, "login-form", username=EMAIL, password=PASSWORD)
    assert signed_in(browser, app).claims == app.last.claims
    assert app.last.claims is not None
    assert app.last.claims["sub"] == ann


def test_an_unknown_user_gets_the_same_error(
    browser: WebDriver, app: RelyingParty, identity_store: IdentityStore
) -> None:
    browser.get(f"{app.url}/login")
    submit(browser, "login-form", username="nobody@example.com", password=PASSWORD)
    assert "Wrong email or password" in error_text(browser)
    assert identity_store.get_users_by_email("nobody@example.com") == []
    assert app.callbacks == []


def test_sign_up_enforces_the_policy_then_signs_the_new_user_in(
    browser: WebDriver, app: RelyingParty, identity_store: IdentityStore
) -> None:
    browser.get(f"{app.url}/login")
    element(browser, "#signup-link").click()
    policy = element(browser, "#password-policy")
    assert policy.is_displayed()
    assert policy.text
    submit(browser, "signup-form", email=EMAIL, password="short")
    assert error_text(browser)
    assert identity_store.get_users_by_email(EMAIL) == []
    submit(browser, "signup-form", email=EMAIL, password=PASSWORD)
    result = signed_in(browser, app)
    (user,) = identity_store.get_users_by_email(EMAIL)
    assert user.connection == DB
    assert result.claims is not None
    assert result.claims["sub"] == user.user_id
    assert identity_store.authenticate(DB, EMAIL, PASSWORD).user_id == user.user_id


def test_screen_hint_signup_opens_the_sign_up_page(browser: WebDriver, app: RelyingParty) -> None:
    browser.get(f"{app.url}/login?screen_hint=signup")
    element(browser, "form#signup-form")
    assert "/u/signup?" in browser.current_url


def test_passwordless_by_email_code(
    browser: WebDriver, app: RelyingParty, tenant: Emulator, identity_store: IdentityStore
) -> None:
    browser.get(f"{app.url}/login")
    element(browser, "#passwordless-email-link").click()
    submit(browser, "passwordless-form", email=EMAIL)
    element(browser, "form#code-form")
    code = last_message(tenant, "passwordless", EMAIL).token
    assert code is not None
    assert code not in element(browser, "body").text
    wrong = "000000" if code != "000000" else "111111"
    submit(browser, "code-form", code=wrong)
    assert error_text(browser)
    assert app.callbacks == []
    submit(browser, "code-form", code=code)
    result = signed_in(browser, app)
    (user,) = identity_store.get_users_by_email(EMAIL)
    assert user.connection == "email"
    assert result.claims is not None
    assert result.claims["sub"] == user.user_id
    assert result.claims["email"] == EMAIL


def test_forgot_password_then_sign_in_with_the_new_one(
    browser: WebDriver,
    app: RelyingParty,
    tenant: Emulator,
    identity_store: IdentityStore,
    ann: str,
) -> None:
    browser.get(f"{app.url}/login")
    element(browser, "#forgot-link").click()
    submit(browser, "reset-request-form", email=EMAIL)
    element(browser, "#check-email")
    browser.get(reset_link(tenant, EMAIL))
    submit(browser, "reset-form", password=NEW_PASSWORD, password_confirm=NEW_PASSWORD)
    element(browser, "#reset-done")
    assert NEW_PASSWORD not in browser.page_source
    with pytest.raises(IdentityStoreError):
        identity_store.authenticate(DB, EMAIL, PASSWORD)
    result = sign_in_with_password(browser, app, NEW_PASSWORD)
    assert result.claims is not None
    assert result.claims["sub"] == ann


def test_a_reset_with_two_different_passwords_changes_nothing(
    browser: WebDriver, tenant: Emulator, identity_store: IdentityStore, ann: str
) -> None:
    identity_store.request_password_reset(DB, EMAIL)
    browser.get(reset_link(tenant, EMAIL))
    submit(browser, "reset-form", password=NEW_PASSWORD, password_confirm=NEW_PASSWORD + "x")
    assert error_text(browser)
    assert identity_store.authenticate(DB, EMAIL, PASSWORD).user_id == ann


def test_a_second_authorize_signs_in_silently(
    browser: WebDriver, app: RelyingParty, ann: str
) -> None:
    first = sign_in_with_password(browser, app)
    browser.get(f"{app.url}/login")  # the session cookie: no page, straight back
    second = signed_in(browser, app)
    assert second is not first
    assert second.claims is not None
    assert second.claims["sub"] == ann
    browser.get(f"{app.url}/login?prompt=none")
    third = signed_in(browser, app)
    assert third.claims is not None
    assert third.claims["sub"] == ann
    assert len(app.callbacks) == 3


def test_prompt_none_without_a_session_answers_login_required(
    browser: WebDriver, app: RelyingParty
) -> None:
    browser.get(f"{app.url}/login?prompt=none")
    element(browser, "#callback-error")
    result = app.last
    assert result.error == "login_required"
    assert result.state is not None  # sent back unchanged (the app found it pending)
    assert result.claims is None


def test_prompt_login_asks_again_despite_the_session(
    browser: WebDriver, app: RelyingParty, ann: str
) -> None:
    sign_in_with_password(browser, app)
    browser.get(f"{app.url}/login?prompt=login")
    element(browser, "form#login-form")
    assert len(app.callbacks) == 1


def test_form_post_response_mode(browser: WebDriver, app: RelyingParty, ann: str) -> None:
    result = sign_in_with_password(browser, app, response_mode="form_post")
    assert result.method == "POST"
    assert result.claims is not None
    assert result.claims["sub"] == ann


def test_logout_ends_the_session(browser: WebDriver, app: RelyingParty, ann: str) -> None:
    sign_in_with_password(browser, app)
    assert session_cookie(browser) is not None
    browser.get(app.logout_url())
    element(browser, "#logged-out")
    assert browser.current_url == app.logged_out_url
    assert session_cookie(browser) is None
    browser.get(f"{app.url}/login")  # no silent sign-in any more: the form again
    element(browser, "form#login-form")
    assert len(app.callbacks) == 1
    browser.get(f"{app.url}/login?prompt=none")
    element(browser, "#callback-error")
    assert app.last.error == "login_required"


def test_oidc_logout_with_the_id_token_as_hint(
    browser: WebDriver, app: RelyingParty, ann: str
) -> None:
    signed = sign_in_with_password(browser, app)
    browser.get(app.oidc_logout_url(signed.tokens["id_token"], state="bye-1"))
    element(browser, "#logged-out")
    assert app.logged_out == [{"state": "bye-1"}]
    assert session_cookie(browser) is None


def test_offline_access_brings_a_refresh_token(
    browser: WebDriver, app: RelyingParty, ann: str
) -> None:
    result = sign_in_with_password(browser, app, scope="openid email offline_access")
    assert result.tokens["refresh_token"]
    assert "offline_access" in result.tokens["scope"].split()


def test_passwordless_by_sms_code(
    browser: WebDriver, app: RelyingParty, tenant: Emulator, identity_store: IdentityStore
) -> None:
    phone = "+14155550100"
    browser.get(f"{app.url}/login")
    element(browser, "#passwordless-sms-link").click()
    submit(browser, "passwordless-form", phone_number=phone)
    code = last_message(tenant, "passwordless", phone).token
    assert code is not None
    submit(browser, "code-form", code=code)
    result = signed_in(browser, app)
    (user,) = identity_store.list_users(connection="sms")
    assert user.phone_number == phone
    assert result.claims is not None
    assert result.claims["sub"] == user.user_id


# -- without JavaScript, by keyboard and on a phone ----------------------------------------------


def test_the_pages_work_without_javascript(tenant: Emulator, app: RelyingParty, ann: str) -> None:
    with browser_for(tenant, javascript=False) as browser:
        browser.get("data:text/html,<title>off</title><script>document.title='on'</script>")
        assert browser.title == "off"  # no page's script runs
        browser.get(f"{app.url}/login")
        submit(browser, "login-form", username=EMAIL, password=PASSWORD)
        assert signed_in(browser, app).method == "GET"
        browser.get(f"{app.url}/login?prompt=login&response_mode=form_post")
        submit(browser, "login-form", username=EMAIL, password=PASSWORD)
        submit(browser, "form-post")  # the page a script would have posted: its Continue button
        result = signed_in(browser, app)
        assert result.method == "POST"
        assert result.claims is not None
        assert result.claims["sub"] == ann
        browser.get(f"{app.url}/login?screen_hint=signup&prompt=login")
        submit(browser, "signup-form", email="bob@example.com", password=PASSWORD)
        assert signed_in(browser, app).claims is not None


# -- usable by keyboard and on a phone ---------------------------------------------------------


def test_sign_in_with_the_keyboard_only(browser: WebDriver, app: RelyingParty, ann: str) -> None:
    browser.get(f"{app.url}/login")
    element(browser, "form#login-form")

    def focused() -> str:
        """What has the focus: its name, or its tag and id."""
        now = browser.switch_to.active_element
        return now.get_attribute("name") or f"{now.tag_name}#{now.get_attribute('id')}"

    def press(*keys: str) -> str:
        ActionChains(browser).send_keys(*keys).perform()
        return focused()

    def shift_tab() -> str:
        ActionChains(browser).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
        return focused()

    assert focused() == "username"  # the page opens with the focus in its first field
    assert press(EMAIL, Keys.TAB) == "password"
    assert shift_tab() == "username"  # and back
    assert press(Keys.TAB, PASSWORD, Keys.TAB) == "action"  # the Continue button
    assert press(Keys.TAB) == "a#forgot-link"  # the links come after it
    assert shift_tab() == "action"
    press(Keys.ENTER)
    result = signed_in(browser, app)
    assert result.claims is not None
    assert result.claims["sub"] == ann


def _fits(browser: WebDriver) -> None:
    """Nothing wider than the window; every visible input labelled and at least 16 CSS px tall
    text (phones zoom into smaller)."""
    width = browser.execute_script("return window.innerWidth")
    assert width == PHONE[0]
    assert browser.execute_script("return document.documentElement.scrollWidth") <= width
    viewport = browser.find_elements(By.CSS_SELECTOR, "meta[name=viewport]")
    assert viewport
    assert "width=device-width" in str(viewport[0].get_attribute("content"))
    for box in browser.find_elements(By.CSS_SELECTOR, "input, button"):
        if not box.is_displayed():
            continue
        rect = box.rect
        assert rect["x"] >= 0
        assert rect["x"] + rect["width"] <= width, box.get_attribute("outerHTML")
        if box.tag_name == "input":
            box_id = box.get_attribute("id")
            assert box_id
            assert browser.find_elements(By.CSS_SELECTOR, f"label[for='{box_id}']"), box_id
            size = browser.execute_script(
                "return parseFloat(getComputedStyle(arguments[0]).fontSize)", box
            )
            assert size >= 16, (box_id, size)


def test_the_pages_fit_a_phone(tenant: Emulator, app: RelyingParty, ann: str) -> None:
    with browser_for(tenant, PHONE, phone=True) as phone:
        checked: list[str] = []

        def fits(css: str) -> None:
            element(phone, css)
            _fits(phone)
            checked.append(css)

        for link, form, then in [
            ("#signup-link", "signup-form", {"email": EMAIL, "password": "short"}),
            ("#passwordless-email-link", "passwordless-form", {"email": "bob@example.com"}),
            ("#passwordless-sms-link", "passwordless-form", {"phone_number": "+14155550100"}),
            ("#forgot-link", "reset-request-form", {"email": EMAIL}),
        ]:
            phone.get(f"{app.url}/login?prompt=login")
            fits("form#login-form")
            element(phone, link).click()
            fits(f"form#{form}")
            submit(phone, form, **then)
            fits("#error, form#code-form, #check-email")  # what comes next
        phone.get(reset_link(tenant, EMAIL))
        fits("form#reset-form")
        submit(phone, "reset-form", password="x", password_confirm="x")
        fits("#error")
        phone.get(f"{app.url}/login")
        submit(phone, "login-form", username=EMAIL, password="Wrong-horse-battery-1")
        fits("#error")
        submit(phone, "login-form", username=EMAIL, password=PASSWORD)
        assert signed_in(phone, app).claims is not None
        assert len(checked) == 15


# -- screenshots for the docs -----------------------------------------------------------------

SCREENSHOTS = [
    "login",
    "login-error",
    "signup",
    "passwordless",
    "passwordless-code",
    "reset-request",
    "reset",
]


def test_screenshots_of_the_pages(
    tenant: Emulator, app: RelyingParty, ann: str, tmp_path: Path
) -> None:
    """Each page, as docs/emulator.md shows it; written to docs/images/ with
    ``IDENTITYSTORE_WRITE_SCREENSHOTS=1``."""
    folder = IMAGES if os.environ.get("IDENTITYSTORE_WRITE_SCREENSHOTS") == "1" else tmp_path
    shots: list[str] = []
    with browser_for(tenant, (480, 720)) as browser:

        def shot(name: str) -> None:
            element(browser, "form, #check-email, #reset-done")
            path = folder / f"{name}.png"
            assert browser.save_screenshot(str(path))
            assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
            shots.append(name)

        def start() -> None:
            browser.get(f"{app.url}/login")
            element(browser, "form#login-form")

        start()
        shot("login")
        submit(browser, "login-form", username=EMAIL, password="not-her-password")
        error_text(browser)
        shot("login-error")
        element(browser, "#signup-link").click()
        element(browser, "form#signup-form")
        shot("signup")
        start()
        element(browser, "#passwordless-email-link").click()
        element(browser, "form#passwordless-form")
        shot("passwordless")
        submit(browser, "passwordless-form", email="bob@example.com")
        element(browser, "form#code-form")
        shot("passwordless-code")
        start()
        element(browser, "#forgot-link").click()
        element(browser, "form#reset-request-form")
        shot("reset-request")
        submit(browser, "reset-request-form", email=EMAIL)
        element(browser, "#check-email")
        browser.get(reset_link(tenant, EMAIL))
        element(browser, "form#reset-form")
        shot("reset")
    assert shots == SCREENSHOTS


def test_the_docs_show_every_screenshot() -> None:
    page = (IMAGES.parent / "emulator.md").read_text(encoding="utf-8")
    for name in SCREENSHOTS:
        assert f"(images/{name}.png)" in page, name
        assert (IMAGES / f"{name}.png").read_bytes().startswith(b"\x89PNG")
