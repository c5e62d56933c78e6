"""The app's Auth0 code, end to end against the emulator; its effects checked on the store."""

from __future__ import annotations

import pytest
from team_admin import AuthUnavailable, TeamAdmin

from identitystore import IdentityStore
from identitystore.emulator import Emulator
from identitystore.testing.helpers import Outbox

PASSWORD = "Temp0rary-Passw0rd!"


def test_invite_creates_the_user_and_sends_a_verification_email(
    auth0_tenant: Emulator, identity_store: IdentityStore, identity_outbox: Outbox
) -> None:
    user_id = TeamAdmin("red").invite("Ann@Example.com", PASSWORD)
    user = identity_store.get_user(user_id)
    assert user.email == "ann@example.com"
    assert user.app_metadata == {"team": "red"}
    assert identity_outbox.last(to="ann@example.com", kind="verification_email").link


def test_inviting_an_existing_user_adds_them_to_the_team(
    auth0_tenant: Emulator, identity_store: IdentityStore
) -> None:
    existing = identity_store.create_user(
        "Username-Password-Authentication", email="bob@example.com", password=PASSWORD
    )
    assert TeamAdmin("red").invite("bob@example.com", PASSWORD) == existing.user_id
    assert identity_store.list_users(include_totals=True).total == 1
    assert TeamAdmin("red").members() == ["bob@example.com"]


def test_members_and_remove(auth0_tenant: Emulator, identity_store: IdentityStore) -> None:
    red, blue = TeamAdmin("red"), TeamAdmin("blue")
    red.invite("a@example.com", PASSWORD)
    red.invite("b@example.com", PASSWORD)
    blue.invite("c@example.com", PASSWORD)
    assert red.members() == ["a@example.com", "b@example.com"]
    red.remove("a@example.com")
    assert red.members() == ["b@example.com"]
    assert identity_store.get_users_by_email("a@example.com") == []


def test_a_weak_password_is_refused_as_auth0_would(auth0_tenant: Emulator) -> None:
    from auth0.management.errors import BadRequestError

    with pytest.raises(BadRequestError) as refused:
        TeamAdmin("red").invite("weak@example.com", "short")
    assert refused.value.body["message"] == "PasswordStrengthError: Password is too weak"


def test_the_sdk_retries_a_brief_outage(
    auth0_tenant: Emulator, identity_store: IdentityStore
) -> None:
    auth0_tenant.inject_fault("POST", "/api/v2/users", status=503, times=1)
    user_id = TeamAdmin("red").invite("retry@example.com", PASSWORD)
    assert identity_store.get_user(user_id).email == "retry@example.com"


def test_a_long_outage_reaches_the_app(
    auth0_tenant: Emulator, identity_store: IdentityStore
) -> None:
    auth0_tenant.inject_fault("*", "/api/v2/users-by-email", status=503, times=3)
    with pytest.raises(AuthUnavailable):
        TeamAdmin("red").invite("down@example.com", PASSWORD)
    assert identity_store.list_users(include_totals=True).total == 0
