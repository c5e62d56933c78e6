"""Token lifetimes from the client's settings, over real HTTP: the ID token's from
``jwt_configuration``, refresh tokens' rotation (with its leeway and reuse detection) and expiry
from ``refresh_token``, on the store's clock moved through the emulator's clock control; the
exchanges by auth0-python's ``GetToken.refresh_token``, unmodified."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from auth0.authentication import GetToken
from auth0.authentication.exceptions import Auth0Error

from identitystore import IdentityStore
from identitystore.emulator import Emulator
from identitystore.testing.helpers import ManualClock

from .conftest import FAST
from .emulator_support import api

DB = "Username-Password-Authentication"
PASSWORD = "Corr3ct-horse-battery"
REALM = "http://auth0.com/oauth/grant-type/password-realm"
UNKNOWN = "Unknown or invalid refresh token."


@pytest.fixture
def emu(identity_emulator: Emulator) -> Emulator:
    """An emulator on a store with a ``ManualClock``, and a user jane."""
    identity_emulator.store.create_user(DB, email="jane@example.com", password=PASSWORD)
    return identity_emulator


def make_client(emu: Emulator, **settings: Any) -> dict[str, Any]:
    """A public (spa) client allowed the password-realm and refresh grants, with ``settings``."""
    body = {"name": "app", "app_type": "spa", "grant_types": [REALM, "refresh_token"], **settings}
    with api(emu) as client:
        made = client.post("/clients", json=body)
    assert made.status_code == 201, made.text
    created: dict[str, Any] = made.json()
    return created


def rotating(emu: Emulator, expiration: str = "non-expiring", **periods: int) -> dict[str, Any]:
    """``make_client`` with a ``rotating`` refresh-token setting and these periods."""
    settings = {"rotation_type": "rotating", "expiration_type": expiration, **periods}
    return make_client(emu, refresh_token=settings)


def sdk(emu: Emulator, client: dict[str, Any]) -> GetToken:
    """auth0-python's ``GetToken`` for a public client (no secret)."""
    return GetToken(emu.domain, client["client_id"], protocol="http")


def sign_in(tokens: GetToken) -> dict[str, Any]:
    body: dict[str, Any] = tokens.login(
        "jane@example.com", PASSWORD, realm=DB, scope="openid offline_access"
    )
    return body


def advance(emu: Emulator, seconds: int) -> None:
    """Move the store's clock with the emulator's control endpoint."""
    moved = httpx.post(f"{emu.url}/emulator/v1/clock", json={"advance": seconds})
    assert moved.status_code == 200, moved.text


def refused(tokens: GetToken, refresh: str) -> bool:
    """Whether ``refresh`` is refused with Auth0's 403 ``invalid_grant``."""
    try:
        tokens.refresh_token(refresh)
    except Auth0Error as exc:
        error = exc
    else:
        return False
    assert (error.status_code, error.error_code, error.message) == (403, "invalid_grant", UNKNOWN)
    return True


def claims(token: str) -> dict[str, Any]:
    found: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return found


# -- lifetimes ---------------------------------------------------------------------------------


def test_the_id_token_lives_the_clients_jwt_lifetime(emu: Emulator) -> None:
    short = make_client(emu, jwt_configuration={"lifetime_in_seconds": 600})
    id_token = sign_in(sdk(emu, short))["id_token"]
    issued = claims(id_token)
    assert issued["exp"] - issued["iat"] == 600
    assert issued["aud"] == short["client_id"]
    default = make_client(emu)
    issued = claims(sign_in(sdk(emu, default))["id_token"])
    assert issued["exp"] - issued["iat"] == 36000  # Auth0's default, 10 hours
    with api(emu) as client:
        client.patch(
            f"/clients/{default['client_id']}",
            json={"jwt_configuration": {"lifetime_in_seconds": 5}},
        )
    issued = claims(sign_in(sdk(emu, default))["id_token"])
    assert issued["exp"] - issued["iat"] == 5


# -- rotation ----------------------------------------------------------------------------------


def test_non_rotating_tokens_are_kept_and_never_expire_by_default(emu: Emulator) -> None:
    tokens = sdk(emu, make_client(emu))
    refresh = sign_in(tokens)["refresh_token"]
    for _ in range(3):
        advance(emu, 400 * 86400)  # over a year each time
        assert "refresh_token" not in tokens.refresh_token(refresh)


def test_rotation_answers_a_new_token_and_detects_reuse_after_the_leeway(emu: Emulator) -> None:
    client = rotating(emu, leeway=10)
    tokens = sdk(emu, client)
    first = sign_in(tokens)["refresh_token"]
    second = tokens.refresh_token(first)["refresh_token"]
    assert second != first
    third = tokens.refresh_token(second)["refresh_token"]
    advance(emu, 9)
    retried = tokens.refresh_token(second)["refresh_token"]  # within the leeway: a retry
    assert retried not in (second, third)
    advance(emu, 1)
    assert refused(tokens, second)  # leeway over: a reuse, and the family is revoked
    assert refused(tokens, retried)
    assert refused(tokens, third)
    assert refused(tokens, first)
    types = [e.type for e in emu.store.list_events()]
    assert types.count("sertft") == 3
    assert types.count("fertft") == 4
    assert all(token not in str(emu.store.backend.list_records("refresh_token"))
               for token in (first, second, third, retried))  # fmt: skip
    renewed = sign_in(tokens)["refresh_token"]  # a new sign-in starts a new family
    assert "refresh_token" in tokens.refresh_token(renewed)


def test_only_the_previous_token_may_be_retried(emu: Emulator) -> None:
    client = rotating(emu, leeway=60)
    tokens = sdk(emu, client)
    first = sign_in(tokens)["refresh_token"]
    second = tokens.refresh_token(first)["refresh_token"]
    third = tokens.refresh_token(second)["refresh_token"]
    assert refused(tokens, first)  # within the leeway, but not the last one exchanged
    assert refused(tokens, third)


@pytest.mark.parametrize("end", ["reuse", "revoke"])
def test_a_reuse_without_leeway_or_a_revocation_ends_the_family(emu: Emulator, end: str) -> None:
    client = rotating(emu)
    tokens = sdk(emu, client)
    first = sign_in(tokens)["refresh_token"]
    second = tokens.refresh_token(first)["refresh_token"]
    if end == "reuse":
        assert refused(tokens, first)
    else:
        revoked = httpx.post(
            f"{emu.url}/oauth/revoke", json={"client_id": client["client_id"], "token": first}
        )
        assert revoked.status_code == 200
    assert refused(tokens, second)


def test_turning_rotation_on_and_off_replaces_the_token(emu: Emulator) -> None:
    client = make_client(emu)
    tokens = sdk(emu, client)
    plain = sign_in(tokens)["refresh_token"]
    path = f"/clients/{client['client_id']}"
    with api(emu) as http:
        rotating = {"rotation_type": "rotating", "expiration_type": "non-expiring"}
        assert http.patch(path, json={"refresh_token": rotating}).status_code == 200
        swapped = tokens.refresh_token(plain)["refresh_token"]  # a rotating one replaces it
        assert refused(tokens, plain)
        assert http.patch(path, json={"refresh_token": None}).status_code == 200
        back = tokens.refresh_token(swapped)["refresh_token"]  # a non-rotating one again
    assert refused(tokens, swapped)
    assert "refresh_token" not in tokens.refresh_token(back)
    assert "refresh_token" not in tokens.refresh_token(back)


# -- expiry ------------------------------------------------------------------------------------


def test_an_expiring_token_dies_when_idle_and_at_its_absolute_lifetime(emu: Emulator) -> None:
    client = make_client(
        emu,
        refresh_token={
            "rotation_type": "non-rotating",
            "expiration_type": "expiring",
            "token_lifetime": 100,
            "idle_token_lifetime": 30,
        },
    )
    tokens = sdk(emu, client)
    idle = sign_in(tokens)["refresh_token"]
    advance(emu, 29)
    assert not refused(tokens, idle)  # used: idle until 29 + 30
    advance(emu, 29)
    assert not refused(tokens, idle)
    advance(emu, 30)
    assert refused(tokens, idle)  # 30 s without use

    kept = sign_in(tokens)["refresh_token"]
    for _ in range(3):
        advance(emu, 25)
        assert not refused(tokens, kept)  # used every 25 s
    advance(emu, 25)
    assert refused(tokens, kept)  # 100 s after the sign-in, however recently used


def test_a_rotating_family_keeps_its_sign_ins_deadline(emu: Emulator) -> None:
    client = rotating(emu, "expiring", token_lifetime=100, idle_token_lifetime=60)
    tokens = sdk(emu, client)
    refresh = sign_in(tokens)["refresh_token"]
    advance(emu, 59)
    refresh = tokens.refresh_token(refresh)["refresh_token"]
    advance(emu, 40)
    refresh = tokens.refresh_token(refresh)["refresh_token"]  # 99 s: still alive
    advance(emu, 1)
    assert refused(tokens, refresh)  # 100 s: the family's end, though used 1 s ago


def test_refresh_tokens_survive_a_restart(tmp_path: Path) -> None:
    clock = ManualClock()
    database = tmp_path / "tenant.db"
    rotating = {"rotation_type": "rotating", "expiration_type": "expiring", "token_lifetime": 50}
    with IdentityStore(database, hasher=FAST, clock=clock) as store, Emulator(store) as first:
        store.create_user(DB, email="jane@example.com", password=PASSWORD)
        client = make_client(first, refresh_token=rotating)
        issued = sign_in(sdk(first, client))["refresh_token"]
        default_id = first.client_id
    with IdentityStore(database, hasher=FAST, clock=clock) as store, Emulator(store) as second:
        assert second.client_id == default_id
        tokens = sdk(second, client)
        renewed = tokens.refresh_token(issued)["refresh_token"]
        assert refused(tokens, issued)  # the family and its reuse rules were kept
        assert refused(tokens, renewed)
