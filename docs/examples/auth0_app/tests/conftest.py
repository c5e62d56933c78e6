"""Auth0 faked for the app: identitystore's emulator over HTTPS, on the test's store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from identitystore import IdentityStore
from identitystore.emulator import Emulator


@pytest.fixture
def auth0_tenant(
    identity_store: IdentityStore, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Emulator]:
    """The emulator on the plugin's ``identity_store``, and the app's Auth0 settings pointing at
    it (the SDK hard-codes https://, so it serves TLS and the SDK trusts its CA)."""
    with Emulator(identity_store, tls=True) as emulator:
        assert emulator.ca_file is not None
        monkeypatch.setenv("SSL_CERT_FILE", emulator.ca_file)
        monkeypatch.setenv("AUTH0_DOMAIN", emulator.domain)
        monkeypatch.setenv("AUTH0_CLIENT_ID", emulator.client_id)
        monkeypatch.setenv("AUTH0_CLIENT_SECRET", emulator.client_secret)
        yield emulator
