"""Helpers of the browser tests: Debian's chromium driven by Selenium, trusting an emulator's own
CA, and a web app that signs users in through the emulator's hosted pages with the code flow."""

from __future__ import annotations

import base64
import hashlib
import html
import os
import secrets
import shutil
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import jwt
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from identitystore.emulator import Emulator
from tests.emulator_support import token_form

#: Names the chromium binary; set (as ``.ci/run`` sets it), a browser that cannot start fails
#: the tests instead of skipping them.
CHROMIUM = "IDENTITYSTORE_TEST_CHROMIUM"
#: How long a page may take to appear (the machine is shared; nothing here takes a second).
WAIT = 20.0
#: A desktop window, and a phone's (the CSS pixels of a small phone).
DESKTOP = (1024, 768)
PHONE = (375, 667)
T = TypeVar("T")


def chromium() -> tuple[str, str]:
    """The paths of chromium and its chromedriver. Skips without them, except when
    ``IDENTITYSTORE_TEST_CHROMIUM`` is set or under ``CI=true``, where it fails."""
    named = os.environ.get(CHROMIUM)
    browser = named or shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if browser and Path(browser).is_file() and driver:
        return browser, driver
    missing = "chromium" if not (browser and Path(browser).is_file()) else "chromedriver"
    why = f"no {missing} (Debian: apt-get install chromium chromium-driver; .ci/run does)"
    if named or os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM}={named or ''} / CI=true but {why}")
    pytest.skip(why)


def _spki_pin(ca_file: str) -> str:
    """The base64 SHA-256 of the CA certificate's public key: what chromium's
    ``--ignore-certificate-errors-spki-list`` trusts (a chain holding that key)."""
    cert = x509.load_pem_x509_certificate(Path(ca_file).read_bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def start_browser(
    ca_file: str | None,
    size: tuple[int, int] = DESKTOP,
    *,
    phone: bool = False,
    javascript: bool = True,
) -> WebDriver:
    """Headless chromium through chromedriver, both named by path (Selenium Manager downloads
    nothing), trusting ``ca_file``'s certificates only, with a window of ``size`` (CSS pixels);
    ``phone``: a touch screen of two device pixels a CSS pixel, as a phone's; ``javascript``
    False: no script runs in any page."""
    binary, driver_path = chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--lang=en-US",
        f"--window-size={size[0]},{size[1]}",
    ):
        options.add_argument(argument)
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    if ca_file is not None:
        options.add_argument(f"--ignore-certificate-errors-spki-list={_spki_pin(ca_file)}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    # --window-size counts the window's frame too: make the page itself `size`
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": size[0],
            "height": size[1],
            "deviceScaleFactor": 2 if phone else 1,
            "mobile": phone,
        },
    )
    return driver


def wait_until(driver: WebDriver, condition: Callable[[WebDriver], T], what: str) -> T:
    """``condition``'s first truthy answer within ``WAIT`` seconds; else fails naming ``what``,
    the page's address and its text."""
    try:  # a page navigating away can fail a check ("inspector error"): check again
        return WebDriverWait(driver, WAIT, ignored_exceptions=(WebDriverException,)).until(
            condition
        )
    except Exception as exc:  # TimeoutException, or the condition's own error
        body = driver.find_element(By.TAG_NAME, "body").text[:2000]
        pytest.fail(f"waited {WAIT} s for {what}; at {driver.current_url}:\n{body}\n({exc!r})")


def element(driver: WebDriver, css: str) -> WebElement:
    """The element ``css`` selects, once the page has it."""
    found: list[WebElement] = wait_until(
        driver, lambda d: d.find_elements(By.CSS_SELECTOR, css), css
    )
    return found[0]


def fill(driver: WebDriver, form_id: str, **values: str) -> WebElement:
    """Type ``values`` into the named inputs of form ``form_id``; returns the form."""
    form = element(driver, f"form#{form_id}")
    for name, value in values.items():
        box = form.find_element(By.NAME, name)
        box.clear()
        box.send_keys(value)
    return form


def submit(driver: WebDriver, form_id: str, **values: str) -> None:
    """Fill form ``form_id`` and click its submit button; returns once the page has left."""
    form = fill(driver, form_id, **values)
    before = driver.current_url
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until(
        driver,
        lambda d: d.current_url != before or not d.find_elements(By.ID, form_id) or _stale(form),
        f"{form_id} to be submitted",
    )


def _stale(node: WebElement) -> bool:
    try:
        node.is_enabled()
    except Exception:  # StaleElementReferenceException: a new page
        return True
    return False


# -- a web app of the tenant -------------------------------------------------------------------


@dataclass
class Callback:
    """What one request to the app's ``/callback`` brought: verified ID token claims and the
    token response, or the error the emulator sent back."""

    state: str | None
    claims: dict[str, Any] | None = None
    tokens: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_description: str | None = None
    method: str = "GET"


class RelyingParty:
    """A regular web app of the emulator's tenant that signs users in by hand: ``GET /login``
    (its query string is added to the request, e.g. ``prompt=none``) sends the browser to
    ``/authorize`` with the code flow, PKCE S256, ``state`` and ``nonce``; ``/callback``
    (GET, or POST for ``response_mode=form_post``) exchanges the code at ``/oauth/token`` with
    the verifier and checks the ID token's signature (JWKS), issuer, audience, expiry and nonce.
    Each callback is in ``callbacks``; its page shows ``id="signed-in"`` (the ``sub``) or
    ``id="callback-error"``. Its client is made with ``POST /api/v2/clients``."""

    def __init__(self, emu: Emulator, *, name: str = "Example App") -> None:
        assert emu.ca_file is not None, "the hosted pages run over TLS"
        self.emu = emu
        self._tls = ssl.create_default_context(cafile=emu.ca_file)
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self.callback_url = f"{self.url}/callback"
        self.logged_out_url = f"{self.url}/logged-out"
        try:
            self.client_id, self.client_secret = self._make_client(name)
        except BaseException:
            self._socket.close()
            raise
        self.callbacks: list[Callback] = []
        self.logged_out: list[dict[str, str]] = []  # the query of each visit to /logged-out
        self._pending: dict[str, tuple[str, str]] = {}  # state -> (code verifier, nonce)
        self.app = Starlette(
            routes=[
                Route("/login", self._login),
                Route("/callback", self._callback, methods=["GET", "POST"]),
                Route("/logged-out", self._logged_out),
            ]
        )

    def _make_client(self, name: str) -> tuple[str, str]:
        """A regular web app of the tenant with this app's callback and logout URLs."""
        with httpx.Client(base_url=self.emu.url, verify=self._tls, timeout=WAIT) as http:
            token = http.post("/oauth/token", data=token_form(self.emu)).json()["access_token"]
            made = http.post(
                "/api/v2/clients",
                headers={"authorization": f"Bearer {token}"},
                json={
                    "name": name,
                    "app_type": "regular_web",
                    "callbacks": [self.callback_url],
                    "allowed_logout_urls": [self.logged_out_url],
                    "grant_types": ["authorization_code", "refresh_token"],
                },
            )
        assert made.status_code == 201, made.text
        return made.json()["client_id"], made.json()["client_secret"]

    def authorize_url(self, **params: str) -> str:
        """A fresh ``/authorize`` address of this app (new state, nonce and verifier)."""
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)  # 64 characters (RFC 7636: 43 to 128)
        self._pending[state] = (verifier, nonce)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.callback_url,
            "scope": "openid profile email",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
            **params,
        }
        return f"{self.emu.url}/authorize?{urlencode(query)}"

    def logout_url(self) -> str:
        """Auth0's ``/v2/logout`` of this app, back to its ``/logged-out`` page."""
        query = urlencode({"client_id": self.client_id, "returnTo": self.logged_out_url})
        return f"{self.emu.url}/v2/logout?{query}"

    def oidc_logout_url(self, id_token: str, state: str) -> str:
        """OpenID Connect's ``/oidc/logout`` with the ID token as the hint, back to
        ``/logged-out``."""
        query = urlencode(
            {
                "id_token_hint": id_token,
                "post_logout_redirect_uri": self.logged_out_url,
                "state": state,
            }
        )
        return f"{self.emu.url}/oidc/logout?{query}"

    @property
    def last(self) -> Callback:
        """The newest callback (fails if none came)."""
        assert self.callbacks, "the browser never reached the app's /callback"
        return self.callbacks[-1]

    async def _login(self, request: Request) -> Response:
        return RedirectResponse(self.authorize_url(**request.query_params), status_code=302)

    async def _logged_out(self, request: Request) -> Response:
        self.logged_out.append(dict(request.query_params))
        return HTMLResponse('<!doctype html><title>Bye</title><p id="logged-out">Signed out</p>')

    async def _callback(self, request: Request) -> Response:
        params = dict(await request.form()) if request.method == "POST" else request.query_params
        values = {k: v for k, v in params.items() if isinstance(v, str)}
        result = Callback(values.get("state"), method=request.method)
        self.callbacks.append(result)
        pending = self._pending.pop(result.state or "", None)
        if "error" in values:
            result.error = values["error"]
            result.error_description = values.get("error_description")
        elif pending is None:
            result.error = "unknown state"
        else:
            try:
                await self._exchange(values.get("code", ""), *pending, result)
            except Exception as exc:  # shown on the page and kept for the test
                result.error = f"{type(exc).__name__}: {exc}"
        if result.error is not None or result.claims is None:
            text = html.escape(f"{result.error}: {result.error_description}")
            return HTMLResponse(f'<!doctype html><p id="callback-error">{text}</p>')
        sub = html.escape(str(result.claims["sub"]))
        return HTMLResponse(f'<!doctype html><title>Signed in</title><p id="signed-in">{sub}</p>')

    async def _exchange(self, code: str, verifier: str, nonce: str, result: Callback) -> None:
        async with httpx.AsyncClient(verify=self._tls, timeout=WAIT) as client:
            answer = await client.post(
                f"{self.emu.url}/oauth/token",
                data={
                    "grant_type": "authorization_code",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "code": code,
                    "redirect_uri": self.callback_url,
                    "code_verifier": verifier,
                },
            )
            if answer.status_code != 200:
                result.error = f"token endpoint answered {answer.status_code}: {answer.text}"
                return
            result.tokens = answer.json()
            keys = jwt.PyJWKSet.from_dict(
                (await client.get(f"{self.emu.url}/.well-known/jwks.json")).json()
            )
        id_token = result.tokens["id_token"]
        key = next(k for k in keys.keys if k.key_id == jwt.get_unverified_header(id_token)["kid"])
        claims = jwt.decode(
            id_token,
            key,
            algorithms=["RS256"],
            audience=self.client_id,
            issuer=f"https://{self.emu.domain}/",
            options={"require": ["iss", "sub", "aud", "exp", "iat", "nonce"]},
        )
        if claims["nonce"] != nonce:
            raise ValueError("the ID token's nonce is not the one sent")
        result.claims = claims

    # -- serving ------------------------------------------------------------------------------

    @contextmanager
    def serving(self) -> Iterator[RelyingParty]:
        """Serve the app on its socket from a thread, until the block ends."""
        server = uvicorn.Server(
            uvicorn.Config(self.app, lifespan="off", log_config=None, access_log=False)
        )
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        thread.start()
        try:
            deadline = time.monotonic() + WAIT
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("the app did not start")
                time.sleep(0.01)
            yield self
        finally:
            server.should_exit = True
            thread.join(WAIT)
            self._socket.close()


@contextmanager
def browser_for(
    emu: Emulator, size: tuple[int, int] = DESKTOP, *, phone: bool = False, javascript: bool = True
) -> Iterator[WebDriver]:
    """A browser trusting ``emu``'s CA (``start_browser``), quit afterwards."""
    driver = start_browser(emu.ca_file, size, phone=phone, javascript=javascript)
    try:
        yield driver
    finally:
        driver.quit()
