"""Connections: the built-in and custom strategies, connection settings, creating, reading,
updating and deleting connections, what a connection decides for its users, and connections
kept in a file or shared by two stores."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from identitystore import IdentityStore, IdentityStoreError, PasswordPolicy, errors
from identitystore._models import NewUserRecord
from identitystore.connections import (
    ConnectionStrategy,
    CustomStrategy,
    DatabaseStrategy,
    EmailStrategy,
    SmsStrategy,
)

from .conftest import FAST
from .fixtures import DB, HOUR, PW, Shared, all_users, stamp
from .fixtures import shared_store as shared_store

# -- strategies and settings -----------------------------------------------------------------------


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


# -- create, read, update and delete ---------------------------------------------------------------


def test_get_and_list_connections(store: IdentityStore) -> None:
    defaults = store.list_connections()
    assert [(c.name, c.strategy) for c in defaults] == [
        (DB, "auth0"),
        ("email", "email"),
        ("sms", "sms"),
    ]
    created = store.create_connection(
        "Members", strategy="auth0", options={"passwordPolicy": "fair"}
    )
    assert store.list_connections() == [*defaults, created]
    found = store.get_connection("Members")
    assert found == created
    assert found.to_dict() == {
        "id": created.id,
        "name": "Members",
        "strategy": "auth0",
        "options": {"passwordPolicy": "fair"},
        "is_domain_connection": False,
        "realms": ["Members"],
    }
    assert found.id.startswith("con_")


@pytest.mark.parametrize("name", ["Nope", "members", "", 3, None, ["Members"]])
def test_unknown_connection_is_404(shared: Shared, name: Any) -> None:
    store = shared.store
    before = store.list_connections()
    for call in (
        lambda: store.get_connection(name),
        lambda: store.update_connection(name, options={}),
        lambda: store.delete_connection(name),
    ):
        with pytest.raises(errors.ConnectionNotFoundError) as caught:
            call()
        assert caught.value.to_dict() == {
            "statusCode": 404,
            "error": "Not Found",
            "message": "The connection does not exist",
            "errorCode": "inexistent_connection",
        }
    assert store.list_connections() == before


def test_update_connection_replaces_options(store: IdentityStore) -> None:
    created = store.create_connection(
        "Members", strategy="auth0", options={"passwordPolicy": "fair", "requires_username": True}
    )
    updated = store.update_connection("Members", options={"passwordPolicy": "excellent"})
    assert (updated.id, updated.name, updated.strategy) == (created.id, "Members", "auth0")
    assert updated.options == {"passwordPolicy": "excellent"}
    assert store.get_connection("Members") == updated
    assert store.list_connections()[-1] == updated


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"passwordPolicy": "bogus"}, id="bad-level"),
        pytest.param({"password_history": {"enable": True, "size": 30}}, id="history-too-big"),
        pytest.param({"password_history": {"size": 3}}, id="history-without-enable"),
        pytest.param({"requires_username": "yes"}, id="bad-boolean"),
        pytest.param(
            {"password_options": {"complexity": {"min_length": 8}}, "passwordPolicy": "good"},
            id="flexible-and-legacy",
        ),
        pytest.param({"validation": {"username": {"min": 9, "max": 3}}}, id="min-over-max"),
        pytest.param("good", id="not-an-object"),
    ],
)
def test_update_connection_validates_like_create(shared: Shared, options: Any) -> None:
    store = shared.store
    before = store.list_connections()
    with pytest.raises(errors.PayloadValidationError) as on_create:
        store.create_connection("Other", strategy="auth0", options=options)
    with pytest.raises(errors.PayloadValidationError) as on_update:
        store.update_connection("Members", options=options)
    assert on_update.value.to_dict() == on_create.value.to_dict()
    assert store.list_connections() == before


def test_policy_change_applies_to_new_passwords_only(store: IdentityStore) -> None:
    store.create_connection("Lax", strategy="auth0", options={"passwordPolicy": "none"})
    old = store.create_user("Lax", email="old@example.com", password="abc")
    store.update_connection("Lax", options={"passwordPolicy": "good"})
    assert store.authenticate("Lax", "old@example.com", "abc").user_id == old.user_id
    with pytest.raises(errors.PasswordStrengthError):
        store.create_user("Lax", email="new@example.com", password="abc")
    with pytest.raises(errors.PasswordStrengthError):
        store.update_user(old.user_id, password="abcd")
    store.create_user("Lax", email="new@example.com", password=PW)
    store.update_connection("Lax", options={"passwordPolicy": "none"})
    assert store.create_user("Lax", email="new2@example.com", password="abc")


def test_username_rules_change_with_the_connection(store: IdentityStore) -> None:
    store.create_connection("Members", strategy="auth0")
    user = store.create_user("Members", email="u@example.com", password=PW)
    with pytest.raises(errors.UsernameNotAllowedError):
        store.update_user(user.user_id, username="someone")
    store.update_connection("Members", options={"requires_username": True})
    assert store.update_user(user.user_id, username="Someone").username == "someone"


def test_delete_connection_removes_it_and_all_its_users(store: IdentityStore, clock: Any) -> None:
    store.create_connection("Doomed", strategy="auth0", options={"passwordPolicy": "low"})
    doomed = [
        store.create_user("Doomed", email=f"d{i}@example.com", password="secret") for i in range(3)
    ]
    survivors = [
        store.create_user(DB, email="d0@example.com", password=PW),
        store.create_user("email", email="d1@example.com"),
    ]
    count = store.backend.count_users()
    clock.now += HOUR
    store.delete_connection("Doomed")
    assert store.backend.count_users() == count - len(doomed)
    assert "Doomed" not in [c.name for c in store.list_connections()]
    with pytest.raises(errors.ConnectionNotFoundError):
        store.get_connection("Doomed")
    for user in doomed:
        with pytest.raises(errors.UserNotFoundError):
            store.get_user(user.user_id)
    for user in survivors:
        assert store.get_user(user.user_id) == user
    assert all_users(store) == survivors
    assert store.list_users(include_totals=True).total == len(survivors)
    assert [u.connection for u in store.get_users_by_email("d1@example.com")] == ["email"]
    with pytest.raises(errors.UnknownConnectionError):
        store.create_user("Doomed", email="late@example.com", password="secret")
    with pytest.raises(errors.UnknownConnectionError):
        store.list_users("Doomed")
    with pytest.raises(errors.UnknownConnectionError):
        store.authenticate("Doomed", "d0@example.com", "secret")
    (event,) = store.list_events(type="sapi")
    assert (event.connection, event.date) == ("Doomed", stamp(clock.now))


def test_connection_can_be_recreated_empty_after_delete(store: IdentityStore) -> None:
    store.create_connection("Doomed", strategy="auth0")
    store.create_user("Doomed", email="x@example.com", password=PW)
    store.delete_connection("Doomed")
    again = store.create_connection("Doomed", strategy="auth0")
    assert store.list_users("Doomed", include_totals=True).total == 0
    assert store.create_user("Doomed", email="x@example.com", password=PW).connection == again.name


# -- what a connection decides for the users it creates --------------------------------------------


def test_default_connections(store: IdentityStore) -> None:
    assert [(c.name, c.strategy, dict(c.options)) for c in store.list_connections()] == [
        (DB, "auth0", {"passwordPolicy": "good"}),
        ("email", "email", {}),
        ("sms", "sms", {}),
    ]


@pytest.mark.parametrize(
    ("connection", "fields", "error", "message"),
    [
        pytest.param(
            "nope",
            {},
            errors.UnknownConnectionError,
            "The connection does not exist.",
            id="unknown",
        ),
        pytest.param(
            DB,
            {"password": PW},
            errors.PayloadValidationError,
            "Payload validation error: 'Missing required property: email'.",
            id="db-needs-email",
        ),
        pytest.param(
            DB,
            {"email": "a@example.com"},
            errors.PayloadValidationError,
            "Payload validation error: 'Missing required property: password'.",
            id="db-needs-password",
        ),
        pytest.param(
            DB,
            {"email": "a@example.com", "password": PW, "username": "abc"},
            errors.UsernameNotAllowedError,
            "Cannot set username for connection without requires_username.",
            id="db-username-not-allowed",
        ),
        pytest.param(
            DB,
            {"email": "a@example.com", "password": PW, "phone_number": "+15551234567"},
            errors.FieldNotAllowedError,
            '"phone_number" is not allowed',
            id="db-phone-not-allowed",
        ),
        pytest.param(
            "email",
            {"email": "a@example.com", "password": PW},
            errors.FieldNotAllowedError,
            '"password" is not allowed',
            id="email-no-password",
        ),
        pytest.param(
            "sms",
            {"phone_verified": True},
            errors.PayloadValidationError,
            "Payload validation error: 'Missing required property: phone_number'.",
            id="sms-needs-phone",
        ),
        pytest.param(
            "sms",
            {"phone_number": "+15551234567", "email": "a@example.com"},
            errors.FieldNotAllowedError,
            '"email" is not allowed',
            id="sms-no-email",
        ),
        pytest.param(
            DB,
            {"email": "a@example.com", "password": "short"},
            errors.PasswordStrengthError,
            "PasswordStrengthError: Password is too weak",
            id="weak-password",
        ),
    ],
)
def test_connection_rules(
    store: IdentityStore,
    connection: str,
    fields: dict[str, Any],
    error: type[IdentityStoreError],
    message: str,
) -> None:
    with pytest.raises(error) as caught:
        store.create_user(connection, **fields)
    assert caught.value.message == message
    assert caught.value.status_code == 400
    assert store.backend.count_users() == 0


def test_username_length_from_connection(store: IdentityStore) -> None:
    store.create_connection(
        "Long",
        strategy="auth0",
        options={"requires_username": True, "validation": {"username": {"min": 3, "max": 40}}},
    )
    assert store.create_user("Long", email="a@x.io", password=PW, username="a" * 40)
    with pytest.raises(errors.InvalidUsernameError, match="at least 3"):
        store.create_user("Long", email="b@x.io", password=PW, username="ab")


# -- connections kept in a file, and in a database two stores share --------------------------------


def test_deleted_default_connections_stay_deleted(tmp_path: Path) -> None:
    path = tmp_path / "u.db"
    with IdentityStore(path, hasher=FAST) as store:
        store.create_user("sms", phone_number="+14155550100")
        store.delete_connection("sms")
        assert store.backend.count_users() == 0
    with IdentityStore(path, hasher=FAST) as again:
        assert [c.name for c in again.list_connections()] == [DB, "email"]


@pytest.fixture(params=["file", "postgres"])
def shared_target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """One database two stores open: a SQLite file, or a PostgreSQL schema."""
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return tmp_path / "u.db"


def test_a_connection_changed_by_another_store_is_seen_at_once(shared_target: str | Path) -> None:
    path = shared_target
    with IdentityStore(path, hasher=FAST) as first, IdentityStore(path, hasher=FAST) as second:
        first.create_user(DB, email="a@x.io", password=PW)  # `first` now has the connection cached
        second.update_connection(DB, options={"passwordPolicy": "good", "requires_username": True})
        with pytest.raises(
            errors.PayloadValidationError, match="Missing required property: username"
        ):
            first.create_user(DB, email="b@x.io", password=PW)
        second.delete_connection("sms")
        with pytest.raises(errors.UnknownConnectionError):
            first.create_user("sms", phone_number="+14155550100")


def test_a_refusal_on_a_connection_read_before_is_decided_again(shared_target: str | Path) -> None:
    # `first` refuses nothing on old options it kept: a create refused on a kept connection is
    # decided again on the stored one (here: usernames and weak passwords became allowed).
    with (
        IdentityStore(shared_target, hasher=FAST) as first,
        IdentityStore(shared_target, hasher=FAST) as second,
    ):
        first.create_user(DB, email="a@x.io", password=PW)  # `first` keeps the connection
        with pytest.raises(errors.UsernameNotAllowedError):
            first.create_user(DB, email="b@x.io", password=PW, username="bee")
        second.update_connection(DB, options={"passwordPolicy": "none", "requires_username": True})
        user = first.create_user(DB, email="b@x.io", password="pw", username="bee")
        assert user.username == "bee"
        assert second.authenticate(DB, "bee", "pw").user_id == user.user_id


def test_a_connection_changed_between_read_and_write_is_refused_by_the_write(
    shared_target: str | Path,
) -> None:
    from identitystore.storage import StaleConnection

    with IdentityStore(shared_target, hasher=FAST) as store:
        old = store.backend.get_connection(DB)
        assert old is not None
        assert store.backend.get_connection(DB, cached=True) == old
        store.update_connection(DB, options={"passwordPolicy": "none"})
        before = store.backend.count_users()
        store.create_user(DB, email="c@x.io", password="pw")  # read again: "none" now
        user = store.get_user(store.list_users().users[0].user_id)
        record = NewUserRecord(
            user=replace(user, user_id="auth0|" + "0" * 24, email="d@x.io"),
            connection_id=old.id,
            connection=old,
        )
        with pytest.raises(StaleConnection):
            store.backend.insert_user(record)
        assert store.backend.count_users() == before + 1  # the refused write wrote nothing
