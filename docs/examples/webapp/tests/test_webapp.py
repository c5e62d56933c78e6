"""The web app's sign-in, sign-up and sign-out, end to end: a real browser on the app and on the
emulator's login pages, Authlib in the app exchanging the code and checking the ID token."""

from __future__ import annotations

import ssl

import httpx
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as shown
from selenium.webdriver.support.wait import WebDriverWait

from identitystore import IdentityStore
from identitystore.emulator import Emulator

DB = "Username-Password-Authentication"
PASSWORD = "Corr3ct-horse-battery"


def find(browser: WebDriver, css: str) -> WebElement:
    """The element, once the page shows it (at most 20 seconds)."""
    try:  # a check that meets a page navigating away fails; it is made again
        found: WebElement = WebDriverWait(
            browser, 20, ignored_exceptions=(WebDriverException,)
        ).until(shown.visibility_of_element_located((By.CSS_SELECTOR, css)))
    except TimeoutException:
        page = browser.find_element(By.TAG_NAME, "body").text
        raise AssertionError(f"no {css} at {browser.current_url}: {page}") from None
    return found


def type_into(browser: WebDriver, form: str, **fields: str) -> None:
    """Fill the login page's form ``form`` and press its Continue button."""
    page = find(browser, f"form#{form}")
    for name, value in fields.items():
        page.find_element(By.NAME, name).send_keys(value)
    page.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 20).until(shown.staleness_of(page))


def test_a_user_signs_in_on_the_login_page(
    browser: WebDriver, app_url: str, identity_store: IdentityStore
) -> None:
    identity_store.create_user(DB, email="ann@example.com", password=PASSWORD)
    browser.get(app_url)
    find(browser, "#login").click()
    type_into(browser, "login-form", username="ann@example.com", password=PASSWORD)
    assert find(browser, "#user").text == "Signed in as ann@example.com"
    assert browser.current_url == f"{app_url}/"


def test_a_wrong_password_keeps_the_user_out(
    browser: WebDriver, app_url: str, identity_store: IdentityStore
) -> None:
    identity_store.create_user(DB, email="ann@example.com", password=PASSWORD)
    browser.get(f"{app_url}/login")
    type_into(browser, "login-form", username="ann@example.com", password="Not-her-passw0rd")
    assert "Wrong email or password" in find(browser, "#error").text
    browser.get(app_url)
    find(browser, "#login")


def test_sign_up_creates_the_user_in_the_store(
    browser: WebDriver, app_url: str, identity_store: IdentityStore
) -> None:
    browser.get(app_url)
    find(browser, "#signup").click()
    type_into(browser, "signup-form", email="bob@example.com", password=PASSWORD)
    assert find(browser, "#user").text == "Signed in as bob@example.com"
    (bob,) = identity_store.get_users_by_email("bob@example.com")
    assert bob.connection == DB
    assert identity_store.authenticate(DB, "bob@example.com", PASSWORD).user_id == bob.user_id


def test_the_next_sign_in_is_silent_until_sign_out(
    browser: WebDriver, app_url: str, identity_store: IdentityStore
) -> None:
    identity_store.create_user(DB, email="ann@example.com", password=PASSWORD)
    browser.get(f"{app_url}/login")
    type_into(browser, "login-form", username="ann@example.com", password=PASSWORD)
    find(browser, "#user")
    browser.delete_cookie("session")  # the app's session ends; Auth0's (the emulator's) stays
    browser.get(app_url)
    find(browser, "#login").click()  # no login page this time
    assert find(browser, "#user").text == "Signed in as ann@example.com"
    find(browser, "#logout").click()  # out of the app, then out of Auth0, then home
    find(browser, "#login").click()
    find(browser, "form#login-form")  # the login page again


def test_passwordless_with_the_code_from_the_outbox(
    browser: WebDriver, app_url: str, auth0_tenant: Emulator
) -> None:
    browser.get(f"{app_url}/login")
    find(browser, "#passwordless-email-link").click()
    type_into(browser, "passwordless-form", email="cy@example.com")
    find(browser, "form#code-form")
    # the emails the emulator sent, over HTTP (a test in any language can read them)
    trust = ssl.create_default_context(cafile=auth0_tenant.ca_file)
    outbox = httpx.get(f"{auth0_tenant.url}/emulator/v1/outbox", verify=trust)
    (message,) = [m for m in outbox.json() if m["recipient"] == "cy@example.com"]
    type_into(browser, "code-form", code=message["token"])
    assert find(browser, "#user").text == "Signed in as cy@example.com"
