"""The fidelity switch: every rule strict by default, each named rule relaxable on its own."""

from __future__ import annotations

from typing import Any

import pytest

from identitystore import IdentityStore, PasswordHasher, errors

FAST = PasswordHasher.fast_for_tests()
DB = "Username-Password-Authentication"
GOOD = "Sup3r-secret"

#: rule -> (connection, create body breaking only that rule, the error strict mode raises).
BREAKERS: dict[str, tuple[str, dict[str, Any], type[errors.IdentityStoreError]]] = {
    "email_format": (
        DB,
        {"email": "admin@localhost", "password": GOOD},
        errors.PayloadValidationError,
    ),
    "phone_number_format": (
        "sms",
        {"phone_number": "(415) 555-0100"},
        errors.PayloadValidationError,
    ),
    "password_policy": (
        DB,
        {"email": "jane@example.com", "password": "pw"},
        errors.PasswordStrengthError,
    ),
    "username_rules": (
        "Members",
        {"email": "jane@example.com", "username": "jane doe", "password": GOOD},
        errors.InvalidUsernameError,
    ),
    "unknown_properties": (
        DB,
        {"email": "jane@example.com", "password": GOOD, "roles": ["admin"]},
        errors.PayloadValidationError,
    ),
}


def make(*lenient: str) -> IdentityStore:
    store = IdentityStore(hasher=FAST, lenient=lenient)
    store.create_connection("Members", strategy="auth0", options={"requires_username": True})
    store.create_connection(
        "RealPhones", strategy="sms", options={"phone_number_validation": "valid"}
    )
    return store


def test_the_rules_are_the_documented_set() -> None:
    assert sorted(IdentityStore.LENIENT_RULES) == sorted(BREAKERS)


@pytest.mark.parametrize("rule", sorted(BREAKERS))
def test_strict_by_default_refuses(rule: str) -> None:
    connection, body, error = BREAKERS[rule]
    with make() as store:
        assert store.lenient == frozenset()
        with pytest.raises(error):
            store.create_user(connection, **body)


@pytest.mark.parametrize("rule", sorted(BREAKERS))
def test_relaxing_one_rule_accepts_only_its_breach(rule: str) -> None:
    connection, body, _ = BREAKERS[rule]
    with make(rule) as store:
        user = store.create_user(connection, **body)
        assert store.get_user(user.user_id) == user
        for other in sorted(set(BREAKERS) - {rule}):
            other_connection, other_body, error = BREAKERS[other]
            with pytest.raises(error):
                store.create_user(other_connection, **other_body)


def test_unknown_properties_are_ignored_not_stored() -> None:
    with make("unknown_properties") as store:
        user = store.create_user(DB, email="jane@example.com", password=GOOD, roles=["admin"])
        assert "roles" not in user.to_dict()
        updated = store.update_user(user.user_id, nickname="J", plan="pro")
        assert updated.nickname == "J"
        assert "plan" not in updated.to_dict()


def test_relaxed_rules_apply_to_updates_and_passwordless() -> None:
    with make("email_format", "phone_number_format", "username_rules") as store:
        user = store.create_user("Members", email="a@example.com", username="x", password=GOOD)
        assert store.update_user(user.user_id, username="has space").username == "has space"
        assert store.update_user(user.user_id, email="b@localhost").email == "b@localhost"
        message = store.start_passwordless("sms", phone_number="555 0100")
        assert store.verify_passwordless("sms", phone_number="555 0100", code=str(message.token))
        assert store.create_user("RealPhones", phone_number="+15555550100").phone_number


def test_a_relaxed_password_policy_still_hashes(tmp_path: Any) -> None:
    path = tmp_path / "users.db"
    with IdentityStore(path, hasher=FAST, lenient=["password_policy"]) as store:
        user = store.create_user(DB, email="jane@example.com", password="pw-1")
        assert store.authenticate(DB, "jane@example.com", "pw-1").user_id == user.user_id
        with pytest.raises(errors.WrongCredentialsError):
            store.authenticate(DB, "jane@example.com", "pw-2")
        assert store.password_policy(store.get_connection(DB)).history_size == 0
    assert b"pw-1" not in path.read_bytes()


def test_strict_passwords_are_unchanged_by_other_rules() -> None:
    with make("email_format") as store, pytest.raises(errors.PasswordStrengthError):
        store.create_user(DB, email="jane@localhost", password="pw")


@pytest.mark.parametrize(
    ("lenient", "error", "text"),
    [
        pytest.param(["passwords"], ValueError, "unknown lenient rule", id="unknown-name"),
        pytest.param("email_format", TypeError, "not a string", id="a-bare-string"),
    ],
)
def test_bad_rule_names_are_refused(lenient: Any, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        IdentityStore(lenient=lenient)


def test_the_repr_names_relaxed_rules() -> None:
    with make("username_rules") as store:
        assert "lenient=['username_rules']" in repr(store)
    with make() as store:
        assert "lenient" not in repr(store)
