"""``update_user`` (Auth0's PATCH): metadata merges, profile fields, email, username, password
and history, blocking, timestamps, and refusals that change nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from identitystore import IdentityStore, User, errors
from identitystore.connections import CustomStrategy

from .fixtures import (
    DB,
    HISTORY,
    OTHER_PW,
    PATCH_HINT,
    PW,
    START_META,
    Shared,
    all_events,
    all_users,
    gravatar,
    stamp,
)
from .fixtures import jane_user as jane_user
from .fixtures import scratch_jane_user as scratch_jane_user
from .fixtures import scratch_users as scratch_users
from .fixtures import shared_store as shared_store

# -- update_user: metadata ----------------------------------------------------------------------


@pytest.mark.parametrize("column", ["user_metadata", "app_metadata"])
@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        pytest.param({"b": [1, 2]}, {**START_META, "b": [1, 2]}, id="adds-key"),
        pytest.param({"a": 2}, {**START_META, "a": 2}, id="replaces-value"),
        pytest.param({"a": None}, {"nested": {"x": 1, "y": 2}, "keep": "k"}, id="none-removes"),
        pytest.param(
            {"nested": {"z": 3}}, {**START_META, "nested": {"z": 3}}, id="nested-replaced"
        ),
        pytest.param({"nested": {}}, {**START_META, "nested": {}}, id="nested-emptied"),
        pytest.param({"missing": None}, START_META, id="removing-absent-key"),
        pytest.param({"a": None, "nested": None, "keep": None}, None, id="every-key-removed"),
        pytest.param({}, None, id="empty-object-empties"),
    ],
)
def test_metadata_merges_at_top_level(
    shared: Shared,
    scratch_jane: User,
    column: str,
    patch: dict[str, Any],
    expected: dict[str, Any] | None,
) -> None:
    store, jane = shared.store, scratch_jane
    updated = store.update_user(jane.user_id, **{column: patch})
    assert getattr(updated, column) == expected
    body = updated.to_dict()
    if expected is None:
        assert column not in body
    else:
        assert body[column] == expected
    other = "app_metadata" if column == "user_metadata" else "user_metadata"
    assert getattr(updated, other) == START_META
    assert store.get_user(jane.user_id) == updated


def test_metadata_merges_accumulate(shared: Shared, scratch_jane: User) -> None:
    """Auth0's own example: a first-level object is replaced, its siblings kept."""
    store, jane = shared.store, scratch_jane
    store.update_user(jane.user_id, user_metadata={})
    store.update_user(jane.user_id, user_metadata={"profileCode": 1479})
    store.update_user(
        jane.user_id, user_metadata={"addresses": {"work_address": "100 Industrial Way"}}
    )
    updated = store.update_user(
        jane.user_id,
        user_metadata={
            "addresses": {
                "work_address": "100 Industrial Way",
                "home_address": "742 Evergreen Terrace",
            }
        },
    )
    assert updated.user_metadata == {
        "profileCode": 1479,
        "addresses": {
            "work_address": "100 Industrial Way",
            "home_address": "742 Evergreen Terrace",
        },
    }


def test_metadata_can_be_set_on_a_user_without_any(
    shared: Shared, scratch: Callable[..., User]
) -> None:
    store = shared.store
    user = scratch("sms", phone_number="+14155550199")
    assert "user_metadata" not in user.to_dict()
    updated = store.update_user(user.user_id, user_metadata={"a": None, "b": 1})
    assert updated.user_metadata == {"b": 1}
    assert store.update_user(user.user_id, app_metadata={"x": None}).app_metadata is None


# -- update_user: profile fields -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        pytest.param({"name": "Janet Doe"}, {"name": "Janet Doe"}, id="set-name"),
        pytest.param({"name": None}, {"name": "jane@example.com"}, id="unset-name"),
        pytest.param({"nickname": "JJ"}, {"nickname": "JJ"}, id="set-nickname"),
        pytest.param({"nickname": None}, {"nickname": "jane"}, id="unset-nickname"),
        pytest.param(
            {"picture": "https://example.com/new.png"},
            {"picture": "https://example.com/new.png"},
            id="set-picture",
        ),
        pytest.param(
            {"picture": None}, {"picture": gravatar("jane@example.com", "jr")}, id="unset-picture"
        ),
        pytest.param(
            {"name": None, "picture": None},
            {"name": "jane@example.com", "picture": gravatar("jane@example.com", "ja")},
            id="unset-name-and-picture",
        ),
        pytest.param(
            {"name": "Ada Lovelace", "picture": None},
            {"name": "Ada Lovelace", "picture": gravatar("jane@example.com", "al")},
            id="new-name-new-picture",
        ),
        pytest.param(
            {"given_name": None, "family_name": None},
            {"given_name": None, "family_name": None},
            id="unset-given-family",
        ),
        pytest.param(
            {"given_name": "Janet", "family_name": "Doe"},
            {"given_name": "Janet", "family_name": "Doe"},
            id="set-given-family",
        ),
        pytest.param(
            {"email": "New@Example.com", "name": None, "nickname": None},
            {"email": "new@example.com", "name": "new@example.com", "nickname": "new"},
            id="defaults-from-new-email",
        ),
    ],
)
def test_profile_fields_set_and_unset(
    shared: Shared, scratch_jane: User, patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    store, jane = shared.store, scratch_jane
    updated = store.update_user(jane.user_id, **patch)
    for key, value in expected.items():
        assert getattr(updated, key) == value, key
        if value is None:
            assert key not in updated.to_dict()
    untouched = {"name", "nickname", "picture", "given_name", "family_name", "email"} - set(patch)
    for key in untouched:
        assert getattr(updated, key) == getattr(jane, key), key
    assert store.get_user(jane.user_id) == updated


def test_sms_user_defaults_rederived_from_phone(
    shared: Shared, scratch: Callable[..., User]
) -> None:
    user = scratch(
        "sms",
        phone_number="+14155550111",
        name="Pat Doe",
        nickname="pat",
        picture="https://example.com/p.png",
    )
    updated = shared.store.update_user(user.user_id, name=None, nickname=None, picture=None)
    assert updated.name == updated.nickname == "+14155550111"
    assert updated.picture == "https://cdn.auth0.com/avatars/default.png"


def test_custom_strategy_default_name_is_the_same_after_unset(store: IdentityStore) -> None:
    store.register_strategy(
        CustomStrategy("directory", fields={"username"}, required=("username",))
    )
    store.create_connection("Directory", strategy="directory")
    created = store.create_user("Directory", username="Trinity")
    named = store.create_user("Directory", username="Neo", name="Thomas Anderson")
    assert created.name == "trinity"
    unset = store.update_user(named.user_id, name=None, nickname=None)
    assert (unset.name, unset.nickname) == ("neo", "neo")


# -- update_user: email --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patch", "email", "verified"),
    [
        pytest.param({"email": "New@Example.COM"}, "new@example.com", False, id="new-resets"),
        pytest.param(
            {"email": "New@Example.COM", "email_verified": True},
            "new@example.com",
            True,
            id="new-verified-given",
        ),
        pytest.param(
            {"email": "JANE@example.com"}, "jane@example.com", True, id="same-other-case-keeps"
        ),
        pytest.param({"email_verified": False}, "jane@example.com", False, id="only-verified"),
    ],
)
def test_email_change(
    shared: Shared, scratch_jane: User, patch: dict[str, Any], email: str, verified: bool
) -> None:
    store, jane = shared.store, scratch_jane
    sent = len(store.outbox)
    assert jane.email_verified is True
    updated = store.update_user(jane.user_id, **patch)
    assert (updated.email, updated.email_verified) == (email, verified)
    assert store.get_users_by_email(email) == [updated]
    assert len(store.outbox) == sent  # no verify_email, no message


def test_new_email_signs_in_and_old_does_not(shared: Shared, scratch_jane: User) -> None:
    store, jane = shared.store, scratch_jane
    store.update_user(jane.user_id, email="moved@example.com")
    assert store.authenticate(DB, "Moved@Example.com", PW).user_id == jane.user_id
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, "jane@example.com", PW)
    assert store.get_users_by_email("jane@example.com") == []


def test_email_of_other_connection_can_be_taken(
    shared: Shared, scratch: Callable[..., User], scratch_jane: User
) -> None:
    store, jane = shared.store, scratch_jane
    scratch("email", email="shared@example.com")
    updated = store.update_user(jane.user_id, email="Shared@example.com")
    assert [u.connection for u in store.get_users_by_email("shared@example.com")] == [DB, "email"]
    assert updated.email == "shared@example.com"


def test_verify_email_sends_a_working_verification(shared: Shared, scratch_jane: User) -> None:
    store, jane = shared.store, scratch_jane
    sent = len(store.outbox)
    updated = store.update_user(jane.user_id, email="Fresh@Example.com", verify_email=True)
    assert updated.email_verified is False
    (message,) = store.outbox[sent:]
    assert (message.kind, message.recipient, message.user_id) == (
        "verification_email",
        "fresh@example.com",
        jane.user_id,
    )
    assert message.token is not None
    assert store.verify_email(message.token).email_verified is True


def test_email_of_passwordless_user_is_lowercased(
    shared: Shared, scratch: Callable[..., User]
) -> None:
    user = scratch("email", email="p@example.com", verify_email=False)
    updated = shared.store.update_user(user.user_id, email="Q@Example.COM")
    assert (updated.email, updated.email_verified) == ("q@example.com", False)


# -- update_user: username -----------------------------------------------------------------------


@pytest.fixture
def two_members(store: IdentityStore) -> tuple[User, User]:
    """Two users of a Members connection (usernames required), in the test's own store."""
    store.create_connection("Members", strategy="auth0", options={"requires_username": True})
    first = store.create_user("Members", email="m1@example.com", username="first", password=PW)
    second = store.create_user("Members", email="m2@example.com", username="second", password=PW)
    return first, second


def test_username_change_is_lowercased_and_signs_in(
    shared: Shared, scratch: Callable[..., User]
) -> None:
    store = shared.store
    first = scratch("Members", email="first@example.com", username="first", password=PW)
    updated = store.update_user(first.user_id, username="NewName")
    assert updated.username == "newname"
    assert store.authenticate("Members", "NEWNAME", PW).user_id == first.user_id
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate("Members", "first", PW)


@pytest.mark.parametrize("username", ["other", "OTHER", "Other"])
def test_username_in_use(shared: Shared, username: str) -> None:
    store, first = shared.store, shared.users["member"]
    with pytest.raises(errors.UsernameInUseError) as caught:
        store.update_user(first.user_id, username=username)
    assert caught.value.to_dict() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "The username provided is in use already.",
        "errorCode": "auth0_idp_error",
    }
    assert store.get_user(first.user_id) == first


def test_username_of_other_connection_is_free(
    store: IdentityStore, two_members: tuple[User, User]
) -> None:
    store.create_connection("Club", strategy="auth0", options={"requires_username": True})
    other = store.create_user("Club", email="c@example.com", username="clubber", password=PW)
    assert store.update_user(other.user_id, username="second").username == "second"


def test_username_on_connection_without_usernames(shared: Shared, scratch_jane: User) -> None:
    store, jane = shared.store, scratch_jane
    with pytest.raises(errors.UsernameNotAllowedError) as caught:
        store.update_user(jane.user_id, username="jane")
    assert caught.value.message == "Cannot set username for connection without requires_username."


# -- update_user: password -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "weak",
    [
        pytest.param("short1A", id="too-short"),
        pytest.param("alllowercase", id="one-kind"),
        pytest.param("lowercase-only", id="two-kinds"),
    ],
)
def test_password_change_follows_policy(shared: Shared, weak: str) -> None:
    store, user = shared.store, shared.users["db"]
    with pytest.raises(errors.PasswordStrengthError) as caught:
        store.update_user(user.user_id, password=weak)
    assert caught.value.to_dict() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "PasswordStrengthError: Password is too weak",
    }
    assert store.get_user(user.user_id) == user


def test_new_password_works_and_old_does_not(shared: Shared, scratch_jane: User) -> None:
    store, jane = shared.store, scratch_jane
    store.update_user(jane.user_id, password=OTHER_PW)
    assert store.authenticate(DB, "jane@example.com", OTHER_PW).user_id == jane.user_id
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, "jane@example.com", PW)


def test_without_history_the_current_password_may_be_set_again(
    shared: Shared, scratch_jane: User
) -> None:
    store, jane = shared.store, scratch_jane
    store.update_user(jane.user_id, password=PW)
    assert store.authenticate(DB, "jane@example.com", PW).user_id == jane.user_id


@pytest.fixture
def vault_user(shared: Shared, scratch: Callable[..., User]) -> User:
    """A user of a connection with ``password_history`` size 3 who has had four passwords."""
    user = scratch("Vault", email="v@example.com", password=HISTORY[0])
    for password in HISTORY[1:]:
        shared.store.update_user(user.user_id, password=password)
    return shared.store.get_user(user.user_id)


@pytest.mark.parametrize(
    ("password", "refused"),
    [
        pytest.param(HISTORY[3], True, id="current"),
        pytest.param(HISTORY[2], True, id="previous"),
        pytest.param(HISTORY[1], True, id="two-back"),
        pytest.param(HISTORY[0], False, id="three-back-allowed-again"),
        pytest.param("brand-new-pass", False, id="new"),
    ],
)
def test_password_history(shared: Shared, vault_user: User, password: str, refused: bool) -> None:
    store = shared.store
    if refused:
        before_events = all_events(store)
        with pytest.raises(errors.PasswordHistoryError) as caught:
            store.update_user(vault_user.user_id, password=password)
        assert caught.value.to_dict() == {
            "statusCode": 400,
            "error": "Bad Request",
            "message": "PasswordHistoryError: Password has previously been used",
        }
        assert store.get_user(vault_user.user_id) == vault_user
        assert all_events(store) == before_events
        assert store.authenticate("Vault", "v@example.com", HISTORY[3])
    else:
        store.update_user(vault_user.user_id, password=password)
        assert store.authenticate("Vault", "v@example.com", password)


def test_history_window_moves(shared: Shared, vault_user: User) -> None:
    store = shared.store
    store.update_user(vault_user.user_id, password=HISTORY[0])  # now: 0, 3, 2 remembered
    store.update_user(vault_user.user_id, password=HISTORY[1])  # 1 fell out of the window
    with pytest.raises(errors.PasswordHistoryError):
        store.update_user(vault_user.user_id, password=HISTORY[0])
    with pytest.raises(errors.PasswordHistoryError):
        store.update_user(vault_user.user_id, password=HISTORY[3])


# -- update_user: blocked, timestamps ------------------------------------------------------------


def test_blocked_true_then_false(shared: Shared, scratch_jane: User) -> None:
    store, jane = shared.store, scratch_jane
    blocked = store.update_user(jane.user_id, blocked=True)
    assert blocked.blocked is True
    assert store.list_users(q="email:jane@example.com AND blocked:true").users == (blocked,)
    with pytest.raises(errors.UserBlockedError):
        store.authenticate(DB, "jane@example.com", PW)
    unblocked = store.update_user(jane.user_id, blocked=False)
    assert unblocked.to_dict()["blocked"] is False
    assert store.authenticate(DB, "jane@example.com", PW).user_id == jane.user_id


def test_updated_at_follows_the_clock_created_at_never_moves(
    store: IdentityStore, jane: User, clock: Any
) -> None:
    patches: list[dict[str, Any]] = [
        {"name": "One"},
        {"user_metadata": {"n": 2}},
        {"password": OTHER_PW},
        {"blocked": True},
    ]
    for step, patch in enumerate(patches):
        clock.now += timedelta(minutes=7, milliseconds=step + 1)
        updated = store.update_user(jane.user_id, **patch)
        assert updated.updated_at == stamp(clock.now)
        assert updated.created_at == jane.created_at
        assert store.get_user(jane.user_id) == updated
    assert store.get_user(jane.user_id).updated_at > jane.updated_at


def test_update_returns_full_stored_user(shared: Shared, scratch_jane: User) -> None:
    store, jane = shared.store, scratch_jane
    store.authenticate(DB, "jane@example.com", PW, ip="10.0.0.1")
    updated = store.update_user(jane.user_id, nickname="jj")
    assert updated.logins_count == 1
    assert updated.last_ip == "10.0.0.1"
    assert updated == store.get_user(jane.user_id)


# -- update_user: refusals change nothing --------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            {"name": ""},
            "Payload validation error: 'String is too short (0 chars), minimum 1' on property "
            "name (Name of this user).",
            id="empty-name",
        ),
        pytest.param(
            {"blocked": "yes"},
            "Payload validation error: 'Expected type boolean but found type string' on "
            "property blocked (Whether this user was blocked by an administrator (true) or not "
            "(false)).",
            id="blocked-string",
        ),
        pytest.param(
            {"blocked": None},
            "Payload validation error: 'Expected type boolean but found type null' on "
            "property blocked (Whether this user was blocked by an administrator (true) or not "
            "(false)).",
            id="blocked-null",
        ),
        pytest.param(
            {"email": "nope"},
            "Payload validation error: 'Object didn't pass validation for format email: nope' "
            "on property email (Email address of this user).",
            id="bad-email",
        ),
        pytest.param(
            {"picture": "x"},
            "Payload validation error: 'Object didn't pass validation for format strict-uri: x' "
            "on property picture (URL to picture, photo, or avatar of this user).",
            id="bad-picture",
        ),
        pytest.param(
            {"user_metadata": "x"},
            "Payload validation error: 'Expected type object but found type string' on "
            "property user_metadata (User metadata to which this user has read/write access).",
            id="metadata-string",
        ),
        pytest.param(
            {"app_metadata": {"a.b": 1}},
            "Payload validation error: 'Field names must not contain '.' or '$': "
            "app_metadata.a.b' on property app_metadata (User metadata to which this user has "
            "read-only access).",
            id="metadata-dotted-key",
        ),
        pytest.param(
            {"email": None},
            "Payload validation error: 'Expected type string but found type null' on property "
            "email (Email address of this user).",
            id="unset-required-email",
        ),
        pytest.param(
            {"password": None},
            "Payload validation error: 'Expected type string but found type null' on property "
            "password (New password for this user. Only valid for database connections).",
            id="unset-password",
        ),
        pytest.param(
            {"favorite_color": "blue"},
            "Payload validation error: 'Additional properties not allowed: favorite_color'"
            f"{PATCH_HINT}.",
            id="unknown-property",
        ),
        pytest.param(
            {"user_id": "auth0|other"},
            f"Payload validation error: 'Additional properties not allowed: user_id'{PATCH_HINT}.",
            id="user-id-not-patchable",
        ),
    ],
)
def test_schema_errors_use_patch_descriptions(
    shared: Shared, body: dict[str, Any], message: str
) -> None:
    user = shared.users["db"]
    with pytest.raises(errors.PayloadValidationError) as caught:
        shared.store.update_user(user.user_id, **body)
    assert caught.value.to_dict() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": message,
        "errorCode": "invalid_body",
    }
    assert shared.store.get_user(user.user_id) == user


REFUSALS = [
    pytest.param("db", {"email": "Taken@example.com"}, errors.UserExistsError, id="email-taken"),
    pytest.param(
        "db", {"email": "taken@example.com", "name": "X"}, errors.UserExistsError, id="taken+name"
    ),
    pytest.param("member", {"username": "OTHER"}, errors.UsernameInUseError, id="username-taken"),
    pytest.param("db", {"username": "db"}, errors.UsernameNotAllowedError, id="username-no"),
    pytest.param("member", {"username": "a b"}, errors.InvalidUsernameError, id="bad-username"),
    pytest.param("db", {"password": "weak"}, errors.PasswordStrengthError, id="weak-password"),
    pytest.param("member", {"password": PW}, errors.PasswordHistoryError, id="history"),
    pytest.param("sms", {"password": PW}, errors.FieldNotAllowedError, id="password-on-sms"),
    pytest.param("sms", {"email": "s@example.com"}, errors.FieldNotAllowedError, id="email-sms"),
    pytest.param("sms", {"email_verified": True}, errors.FieldNotAllowedError, id="verified-sms"),
    pytest.param("mail", {"password": PW}, errors.FieldNotAllowedError, id="password-on-email"),
    pytest.param("db", {"phone_number": "+14155550101"}, errors.FieldNotAllowedError, id="phone"),
    pytest.param("sms", {"phone_number": None}, errors.PayloadValidationError, id="unset-phone"),
    pytest.param("db", {"name": 5}, errors.PayloadValidationError, id="schema"),
    pytest.param("db", {"nope": 1}, errors.PayloadValidationError, id="unknown-prop"),
    pytest.param(
        "db",
        {"user_metadata": {"b": 1}, "nope": 1},
        errors.PayloadValidationError,
        id="valid-metadata-with-unknown-prop",
    ),
    pytest.param("db", {"connection": "sms"}, errors.UnknownConnectionError, id="connection"),
    pytest.param(None, {"name": "ghost"}, errors.UserNotFoundError, id="unknown-user"),
]


@pytest.mark.parametrize(("who", "body", "error"), REFUSALS)
def test_refused_update_changes_nothing(
    shared: Shared, who: str | None, body: dict[str, Any], error: type[Exception]
) -> None:
    store = shared.store
    before_users = all_users(store)
    before_events = all_events(store)
    before_outbox = list(store.outbox)
    target = shared.users[who].user_id if who else "auth0|ghost"
    with pytest.raises(error):
        store.update_user(target, **body)
    assert all_users(store) == before_users
    if who:
        assert store.get_user(target) == shared.users[who]
    assert all_events(store) == before_events
    assert store.outbox == before_outbox


def test_email_taken_is_auth0_409(shared: Shared) -> None:
    with pytest.raises(errors.UserExistsError) as caught:
        shared.store.update_user(shared.users["db"].user_id, email="taken@example.com")
    assert caught.value.to_dict() == {
        "statusCode": 409,
        "error": "Conflict",
        "message": "The user already exists.",
        "errorCode": "auth0_idp_error",
    }


def test_field_not_allowed_message(shared: Shared) -> None:
    with pytest.raises(errors.FieldNotAllowedError) as caught:
        shared.store.update_user(shared.users["sms"].user_id, password=PW)
    assert caught.value.to_dict() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": '"password" is not allowed',
        "errorCode": "invalid_body",
    }


def test_connection_naming_the_users_own_is_accepted(store: IdentityStore, jane: User) -> None:
    assert store.update_user(jane.user_id, connection=DB, name="Same").name == "Same"


def test_scratch_users_were_all_deleted(shared: Shared) -> None:
    """Runs after the other shared-store tests: nothing they created is left."""
    left = sorted(u.user_id for u in all_users(shared.store))
    assert left == sorted(u.user_id for u in shared.users.values())
    assert shared.store.list_users(include_totals=True).total == len(shared.users)
