"""Auth0 faked for the web app: identitystore's emulator over HTTPS on the test's store, the app
registered with it and served on 127.0.0.1, and a real browser (Debian's chromium, headless,
through Selenium and chromedriver) to click through the emulator's login pages."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import authlib.deprecate  # noqa: F401 - its import adds an "always" filter, before ours below
import pytest
import uvicorn
from auth0.management import ManagementClient
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from identitystore import IdentityStore
from identitystore.emulator import Emulator
from identitystore.testing.helpers import ManualClock

with warnings.catch_warnings():
    # Authlib prefers its fork httpx2 and warns when it runs on httpx (which auth0-python needs)
    warnings.filterwarnings("ignore", "The httpx module is deprecated", DeprecationWarning)
    from webapp import create_app


@pytest.fixture
def auth0_tenant(
    identity_store: IdentityStore, identity_clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Emulator]:
    """The emulator on the plugin's ``identity_store``; the app's server-side calls (Authlib's
    httpx) trust its CA through ``SSL_CERT_FILE``."""
    identity_clock.set(datetime.now(timezone.utc))  # Authlib checks the ID token's times
    with Emulator(identity_store, tls=True) as emulator:
        assert emulator.ca_file is not None
        monkeypatch.setenv("SSL_CERT_FILE", emulator.ca_file)
        monkeypatch.setenv("AUTH0_DOMAIN", emulator.domain)
        yield emulator


@pytest.fixture
def app_url(auth0_tenant: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Where the app runs; registered with the tenant as a regular web app (its callback and
    logout URLs allowed), the way one registers it with Auth0."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    auth0 = ManagementClient(
        domain=auth0_tenant.domain,
        client_id=auth0_tenant.client_id,
        client_secret=auth0_tenant.client_secret,
    )
    client = auth0.clients.create(
        name="Web app",
        app_type="regular_web",
        callbacks=[f"{url}/callback"],
        allowed_logout_urls=[f"{url}/"],
    )
    monkeypatch.setenv("AUTH0_CLIENT_ID", str(client.client_id))
    monkeypatch.setenv("AUTH0_CLIENT_SECRET", str(client.client_secret))
    monkeypatch.setenv("SESSION_SECRET", secrets.token_urlsafe(32))
    server = uvicorn.Server(uvicorn.Config(create_app(), log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    for _ in range(1000):  # up to 10 seconds
        if server.started or not thread.is_alive():
            break
        time.sleep(0.01)
    assert server.started, "the app did not start"
    yield url
    server.should_exit = True
    thread.join(10)
    listener.close()


@pytest.fixture
def browser(auth0_tenant: Emulator, app_url: str) -> Iterator[WebDriver]:
    """Headless chromium trusting the emulator's CA (by its public key). Chromium and
    chromedriver are Debian's (``apt-get install chromium chromium-driver``), named by path so
    Selenium downloads nothing. Without them the tests skip, unless ``IDENTITYSTORE_TEST_CHROMIUM``
    (the browser's path) or ``CI=true`` says they must run. It quits before the app stops."""
    binary = os.environ.get("IDENTITYSTORE_TEST_CHROMIUM") or shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        if os.environ.get("IDENTITYSTORE_TEST_CHROMIUM") or os.environ.get("CI") == "true":
            pytest.fail("chromium or chromedriver missing")
        pytest.skip("needs chromium and chromedriver")
    assert auth0_tenant.ca_file is not None
    ca = x509.load_pem_x509_certificate(Path(auth0_tenant.ca_file).read_bytes())
    key = ca.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    options.add_argument("--headless=new")
    options.add_argument("--no-sandbox")  # CI runs as root
    options.add_argument("--window-size=1024,768")
    pin = base64.b64encode(hashlib.sha256(key).digest()).decode()
    options.add_argument(f"--ignore-certificate-errors-spki-list={pin}")
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    chrome.set_page_load_timeout(20)
    yield chrome
    chrome.quit()
