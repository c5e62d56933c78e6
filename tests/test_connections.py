"""Connections and connection strategies: built-ins, custom strategies, connection options."""

from __future__ import annotations

from pathlib import Path

import pytest

from identitystore import IdentityStore, PasswordHasher, PasswordPolicy, errors
from identitystore.connections import (
    ConnectionStrategy,
    CustomStrategy,
    DatabaseStrategy,
    EmailStrategy,
    SmsStrategy,
)

FAST = PasswordHasher.fast_for_tests()


def test_builtins_implement_the_protocol() -> None:
    for strategy in (DatabaseStrategy(), EmailStrategy(), SmsStrategy()):
        assert isinstance(strategy, ConnectionStrategy)


def test_database_fields_follow_the_options() -> None:
    plain = DatabaseStrategy().field_rules({})
    assert "username" not in plain.allowed
    assert plain.required == ("email", "password")
    with_username = DatabaseStrategy().field_rules({"requires_username": True})
    assert "username" in with_username.allowed
    assert with_username.required == ("email", "password", "username")
    with_phone = DatabaseStrategy().field_rules({"attributes": {"phone_number": {}}})
    assert {"phone_number", "phone_verified"} <= with_phone.allowed


def test_custom_strategy_creates_users_with_its_own_prefix() -> None:
    ldap = CustomStrategy(
        "ldap",
        fields={"email", "password", "username"},
        required=("email", "password"),
        user_id_prefix="ad",
        takes_password=True,
    )
    with IdentityStore(":memory:", hasher=FAST, strategies=[ldap]) as store:
        store.create_connection("Corp", strategy="ldap", options={"passwordPolicy": "low"})
        user = store.create_user("Corp", email="A@Corp.io", password="secret", username="Ann")
        assert user.user_id.startswith("ad|")
        assert user.to_dict()["identities"][0]["provider"] == "ad"
        assert (user.email, user.username) == ("a@corp.io", "ann")
        with pytest.raises(errors.PasswordStrengthError):
            store.create_user("Corp", email="b@corp.io", password="short")
        with pytest.raises(errors.FieldNotAllowedError, match='"phone_number" is not allowed'):
            store.create_user("Corp", email="c@corp.io", password="secret", phone_number="+1555")
        with pytest.raises(errors.PayloadValidationError, match="Missing required property: email"):
            store.create_user("Corp", password="secret")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"fields": {"nope"}}, "unknown user fields: nope", id="unknown-field"),
        pytest.param({"fields": {"password"}}, "takes_password=True", id="password-flag"),
        pytest.param({"user_id_prefix": "a|b"}, "user_id_prefix", id="bad-prefix"),
    ],
)
def test_custom_strategy_checks_its_definition(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CustomStrategy("x", **kwargs)  # type: ignore[arg-type]


def test_register_strategy_checks_the_protocol() -> None:
    with IdentityStore(":memory:", hasher=FAST) as store, pytest.raises(TypeError):
        store.register_strategy(object())  # type: ignore[arg-type]


def test_a_strategy_this_store_does_not_know_cannot_create_users(tmp_path: Path) -> None:
    path = tmp_path / "u.db"
    with IdentityStore(path, hasher=FAST, strategies=[CustomStrategy("saml")]) as first:
        first.create_connection("Corp", strategy="saml")
    with IdentityStore(path, hasher=FAST) as second:
        with pytest.raises(errors.UnsupportedStrategyError) as caught:
            second.create_user("Corp", email="a@corp.io")
        assert caught.value.to_dict() == {
            "statusCode": 400,
            "error": "Bad Request",
            "message": "Connection does not support user creation through the API. "
            "It must either be a database or passwordless connection.",
        }


def test_connection_names_are_unique() -> None:
    with IdentityStore(":memory:", hasher=FAST) as store:
        with pytest.raises(errors.ConnectionExistsError) as caught:
            store.create_connection("email", strategy="email")
        assert caught.value.status_code == 409


@pytest.mark.parametrize(
    ("name", "strategy", "options", "fragment"),
    [
        pytest.param("bad name", "auth0", {}, "on property name", id="name-pattern"),
        pytest.param("-x", "auth0", {}, "on property name", id="name-hyphen"),
        pytest.param("X", "nope", {}, "Unknown strategy: nope", id="strategy"),
        pytest.param(
            "X", "auth0", {"passwordPolicy": "great"}, "No enum match for: great", id="level"
        ),
        pytest.param(
            "X",
            "auth0",
            {"requires_username": "yes"},
            "'Expected type boolean but found type string' on property options.requires_username",
            id="type",
        ),
        pytest.param(
            "X",
            "auth0",
            {"password_complexity_options": {"min_length": 0}},
            "Value 0 is less than minimum 1",
            id="min-length",
        ),
        pytest.param(
            "X",
            "auth0",
            {"passwordPolicy": "good", "password_options": {}},
            "cannot be combined with passwordPolicy",
            id="legacy-and-flexible",
        ),
        pytest.param(
            "X",
            "auth0",
            {
                "password_options": {
                    "complexity": {
                        "character_types": ["uppercase"],
                        "character_type_rule": "three_of_four",
                    }
                }
            },
            "three_of_four requires all four",
            id="three-of-four",
        ),
        pytest.param(
            "X",
            "auth0",
            {"validation": {"username": {"min": 5, "max": 2}}},
            "min must not be greater than max",
            id="username-range",
        ),
        pytest.param("X", "auth0", [], "Expected type object but found type array", id="list"),
    ],
)
def test_connection_settings_are_validated(
    name: str, strategy: str, options: object, fragment: str
) -> None:
    with IdentityStore(":memory:", hasher=FAST) as store:
        with pytest.raises(errors.PayloadValidationError) as caught:
            store.create_connection(name, strategy=strategy, options=options)  # type: ignore[arg-type]
        assert fragment in caught.value.message
        assert len(store.list_connections()) == 3


def test_policy_options_apply_to_new_users() -> None:
    with IdentityStore(":memory:", hasher=FAST) as store:
        store.create_connection(
            "Members",
            strategy="auth0",
            options={
                "passwordPolicy": "excellent",
                "password_dictionary": {"enable": True, "dictionary": ["Tr0ub4dor&3xx"]},
                "password_no_personal_info": {"enable": True},
            },
        )
        with pytest.raises(errors.PasswordStrengthError):
            store.create_user("Members", email="a@x.io", password="Aaa1!aaaaaaa")
        with pytest.raises(errors.PasswordDictionaryError) as common:
            store.create_user("Members", email="a@x.io", password="tr0ub4dor&3XX")
        assert common.value.message == "PasswordDictionaryError: Password is too common"
        with pytest.raises(errors.PasswordNoUserInfoError) as personal:
            store.create_user("Members", email="johnny@x.io", password="My-Johnny-Pass-1")
        assert personal.value.message == (
            "PasswordNoUserInfoError: Password contains user information"
        )
        assert store.backend.count_users() == 0
        assert store.create_user("Members", email="a@x.io", password="Correct-Horse-9")


#: Options under which a common word passes every other rule (length 6, no character classes,
#: no personal information in it): only the dictionary refuses it.
COMMON_WORDS = {
    "passwordPolicy": "low",
    "password_dictionary": {"enable": True, "dictionary": ["Acme-2026"]},
    "password_no_personal_info": {"enable": True},
}


@pytest.mark.parametrize("password", ["password", "123456", "Qwerty123", "ACME-2026"])
def test_a_common_word_is_refused_by_the_dictionary_alone(password: str) -> None:
    """On create and on a password change, through the connection, with nothing written."""
    assert [r.code for r in PasswordPolicy.from_options(COMMON_WORDS).missing(password)] == [
        "dictionary"
    ]
    body = {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "PasswordDictionaryError: Password is too common",
    }
    with IdentityStore(":memory:", hasher=FAST) as store:
        store.create_connection("Common", strategy="auth0", options=COMMON_WORDS)
        with pytest.raises(errors.PasswordDictionaryError) as refused:
            store.create_user("Common", email="jane@example.com", password=password)
        assert refused.value.to_dict() == body
        assert refused.value.rules == ("dictionary",)
        assert store.backend.count_users() == 0
        assert store.outbox == []
        user = store.create_user("Common", email="jane@example.com", password="zebra-fig-41")
        with pytest.raises(errors.PasswordDictionaryError) as changed:
            store.update_user(user.user_id, password=password)
        assert changed.value.to_dict() == body
        assert store.get_user(user.user_id) == user
        assert store.authenticate("Common", "jane@example.com", "zebra-fig-41") is not None


def test_real_phone_number_validation_is_opt_in() -> None:
    with IdentityStore(":memory:", hasher=FAST) as store:
        store.create_connection(
            "strict-sms", strategy="sms", options={"phone_number_validation": "valid"}
        )
        assert store.create_user("sms", phone_number="+1999")  # Auth0's pattern only
        with pytest.raises(errors.PayloadValidationError, match="Not a valid phone number"):
            store.create_user("strict-sms", phone_number="+1999")
        assert store.create_user("strict-sms", phone_number="+14155552671")
