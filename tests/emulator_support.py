"""Helpers of the emulator's tests: plain-HTTP clients with a token, and the Node SDK's folder."""

from __future__ import annotations

import contextlib
import gc
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from identitystore import IdentityStore, PasswordHasher
from identitystore.emulator import Emulator, OffsetClock


@contextlib.contextmanager
def real_time_emulator(**options: Any) -> Iterator[Emulator]:
    """An emulator on a new in-memory store whose clock is the real time (SDKs and JWT verifiers
    check ``exp`` against it), hashing fast; ``options`` go to ``IdentityStore``."""
    store = IdentityStore(
        ":memory:", hasher=PasswordHasher.fast_for_tests(), clock=OffsetClock(), **options
    )
    with Emulator(store) as emulator:
        yield emulator
    store.close()


def token_form(emu: Emulator, **changes: str | None) -> dict[str, str]:
    """The client-credentials form the SDKs send for ``emu``'s default client; ``changes``
    replace fields (None drops one)."""
    form: dict[str, str | None] = {
        "grant_type": "client_credentials",
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "audience": f"https://{emu.domain}/api/v2/",
        **changes,
    }
    return {k: v for k, v in form.items() if v is not None}


def signin_form(
    emu: Emulator, username: str, password: str, **changes: str | None
) -> dict[str, str]:
    """A ``password-realm`` sign-in of ``username`` on the default database connection with the
    emulator's default client; ``changes`` replace fields (None drops one)."""
    form: dict[str, str | None] = {
        "grant_type": "http://auth0.com/oauth/grant-type/password-realm",
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
        "realm": "Username-Password-Authentication",
        "username": username,
        "password": password,
        **changes,
    }
    return {k: v for k, v in form.items() if v is not None}


def token_response(emu: Emulator, **changes: str | None) -> httpx.Response:
    """``POST /oauth/token`` with ``token_form(emu, **changes)``."""
    return httpx.post(f"{emu.url}/oauth/token", data=token_form(emu, **changes))


def management_token(emu: Emulator, **credentials: str | None) -> str:
    """An access token of the emulator's default client (or of the given one)."""
    response = token_response(emu, **credentials)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def api(emu: Emulator, token: str | None = None) -> httpx.Client:
    """A client for ``{emu.url}/api/v2`` that sends ``token`` (default: a fresh one)."""
    token = token if token is not None else management_token(emu)
    return httpx.Client(base_url=f"{emu.url}/api/v2", headers={"authorization": f"Bearer {token}"})


def node_modules() -> Path:
    """The folder holding the Node ``auth0`` package (``.ci/run`` installs it); skips without
    it, except under ``CI=true``, where it fails."""
    folder = os.environ.get("IDENTITYSTORE_TEST_NODE_MODULES")
    if not folder:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but IDENTITYSTORE_TEST_NODE_MODULES is not set: .ci/run sets it")
        pytest.skip("no Node SDK: set IDENTITYSTORE_TEST_NODE_MODULES (see .ci/run)")
    path = Path(folder)
    if not (path / "auth0" / "package.json").is_file():
        pytest.fail(f"IDENTITYSTORE_TEST_NODE_MODULES={folder} holds no auth0 package")
    return path


@pytest.fixture
def collect_client_sockets() -> Iterator[None]:
    """Collect, quietly, the TLS client sockets a test left to the garbage collector: those of
    auth0-python's httpx client (which it never closes) and of a failed handshake kept alive by
    its exception. Their ResourceWarning would otherwise surface in whichever test runs next."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
