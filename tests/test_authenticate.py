"""Password sign-in (``authenticate``): logins, wrong and odd credentials, blocked users, hash
upgrades, brute-force protection, and the events a sign-in logs."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from identitystore import IdentityStore, PasswordHasher, errors
from identitystore.testing.helpers import ManualClock

from .fixtures import members_connection as members_connection
from .fixtures import stamp

FAST = PasswordHasher.fast_for_tests()
DB = "Username-Password-Authentication"
PASSWORD = "Corr3ct-horse-battery"  # meets the default connection's "good" policy
WRONG = "Wr0ng-horse-battery"
EMAIL = "jane@example.com"
PHONE = "+14155550100"
WRONG_CREDENTIALS_BODY = {
    "statusCode": 403,
    "error": "Forbidden",
    "message": "Wrong email or password.",
    "errorCode": "invalid_grant",
}
WRONG_CREDENTIALS_OAUTH = {
    "error": "invalid_grant",
    "error_description": "Wrong email or password.",
}
TOO_MANY_ATTEMPTS_BODY = {
    "statusCode": 429,
    "error": "Too Many Requests",
    "message": "Your account has been blocked after multiple consecutive login attempts. "
    "We've sent you an email with instructions on how to unblock it.",
    "errorCode": "too_many_attempts",
}


def events_text(store: IdentityStore) -> str:
    """Every logged event, serialised, to search for secrets."""
    events = store.list_events(limit=10_000)
    return json.dumps([e.to_dict() for e in events]) + repr(events)


def types(store: IdentityStore) -> list[str]:
    return [e.type for e in store.list_events(limit=10_000)]


def stored_hash(path: Path, user_id: str) -> str:
    with sqlite3.connect(path) as conn:
        (hashed,) = conn.execute(
            "SELECT password_hash FROM users WHERE user_id = ?", (user_id,)
        ).fetchone()
    conn.close()
    return str(hashed)


@pytest.fixture
def jane_id(store: IdentityStore) -> str:
    """The id of a database user who signs in with ``EMAIL`` and ``PASSWORD``."""
    return store.create_user(DB, email=EMAIL, password=PASSWORD).user_id


StoreFactory = Callable[..., IdentityStore]


@pytest.fixture(params=["memory", "file"])
def make_store(
    request: pytest.FixtureRequest, tmp_path: Path, identity_store_factory: StoreFactory
) -> StoreFactory:
    """Builds stores with custom settings, once in memory and once on a SQLite file."""
    count = 0

    def make(**kwargs: Any) -> IdentityStore:
        nonlocal count
        count += 1
        if request.param == "memory":
            return identity_store_factory(":memory:", **kwargs)
        kwargs.setdefault("durability", "normal")  # fewer fsyncs; sign-in does not depend on it
        return identity_store_factory(tmp_path / f"s{count}.db", **kwargs)

    return make


@pytest.fixture
def guarded(make_store: StoreFactory) -> IdentityStore:
    """A store blocking a user and IP after 3 failures, for 5 minutes; Jane is a user."""
    s = make_store(max_login_attempts=3, login_block=timedelta(minutes=5))
    s.create_user(DB, email=EMAIL, password=PASSWORD)
    return s


class CountingHasher:
    """FAST, counting the calls of each method."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {"hash": 0, "verify": 0, "needs_update": 0, "dummy": 0}

    def hash(self, secret: bytes) -> str:
        self.calls["hash"] += 1
        return FAST.hash(secret)

    def verify(self, secret: bytes, hashed: str) -> bool:
        self.calls["verify"] += 1
        return FAST.verify(secret, hashed)

    def needs_update(self, hashed: str) -> bool:
        self.calls["needs_update"] += 1
        return FAST.needs_update(hashed)

    def dummy_verify(self) -> None:
        self.calls["dummy"] += 1
        FAST.dummy_verify()


# -- authenticate ---------------------------------------------------------------------------------


def test_sign_in_by_email_is_case_insensitive(
    store: IdentityStore, jane_id: str, clock: ManualClock
) -> None:
    clock.now += timedelta(hours=1)
    user = store.authenticate(DB, "JANE@Example.COM", PASSWORD, ip="203.0.113.7")
    assert user.user_id == jane_id
    assert user.logins_count == 1
    assert user.last_login == stamp(clock.now)
    assert user.last_ip == "203.0.113.7"
    clock.now += timedelta(minutes=1)
    again = store.authenticate(DB, EMAIL, PASSWORD, ip="198.51.100.1")
    assert again.logins_count == 2
    assert again.last_login == stamp(clock.now)
    assert again.last_ip == "198.51.100.1"
    assert store.get_user(jane_id).logins_count == 2


def test_sign_in_by_username(store: IdentityStore, members: str) -> None:
    created = store.create_user(members, email="chuck@example.com", username="Chuck", password="x")
    for login in ("chuck", "CHUCK", "chuck@example.com"):
        assert store.authenticate(members, login, "x").user_id == created.user_id
    assert store.get_user(created.user_id).logins_count == 3


def test_username_is_not_a_login_without_requires_username(
    store: IdentityStore, jane_id: str
) -> None:
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, "jane", PASSWORD)


def test_wrong_password_and_unknown_user_answer_the_same(
    store: IdentityStore, jane_id: str
) -> None:
    with pytest.raises(errors.WrongCredentialsError) as wrong_password:
        store.authenticate(DB, EMAIL, WRONG)
    with pytest.raises(errors.WrongCredentialsError) as unknown_user:
        store.authenticate(DB, "nobody@example.com", PASSWORD)
    for caught in (wrong_password.value, unknown_user.value):
        assert type(caught) is errors.WrongCredentialsError
        assert caught.to_dict() == WRONG_CREDENTIALS_BODY
        assert caught.to_oauth_dict() == WRONG_CREDENTIALS_OAUTH
    assert store.get_user(jane_id).logins_count is None


def test_unknown_user_spends_a_dummy_verify(tmp_path: Path) -> None:
    hasher = CountingHasher()
    with IdentityStore(tmp_path / "users.db", hasher=hasher) as s:
        s.create_user(DB, email=EMAIL, password=PASSWORD)
        with pytest.raises(errors.WrongCredentialsError):
            s.authenticate(DB, "nobody@example.com", PASSWORD)
        assert hasher.calls["dummy"] == 1
        assert hasher.calls["verify"] == 0
        with pytest.raises(errors.WrongCredentialsError):
            s.authenticate(DB, EMAIL, WRONG)
        assert hasher.calls["dummy"] == 1
        assert hasher.calls["verify"] == 1


def test_unknown_connection(store: IdentityStore) -> None:
    with pytest.raises(errors.UnknownConnectionError):
        store.authenticate("nope", EMAIL, PASSWORD)


@pytest.mark.parametrize("connection", ["email", "sms"])
def test_passwordless_connection_takes_no_password(store: IdentityStore, connection: str) -> None:
    with pytest.raises(errors.UnsupportedStrategyError) as caught:
        store.authenticate(connection, EMAIL, PASSWORD)
    assert caught.value.status_code == 400


def test_blocked_user_is_refused_only_with_the_right_password(
    store: IdentityStore, jane_id: str
) -> None:
    store.update_user(jane_id, blocked=True)
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, EMAIL, WRONG)
    with pytest.raises(errors.UserBlockedError) as caught:
        store.authenticate(DB, EMAIL, PASSWORD)
    assert caught.value.to_dict() == {
        "statusCode": 401,
        "error": "Unauthorized",
        "message": "user is blocked",
        "errorCode": "unauthorized",
    }
    assert caught.value.to_oauth_dict() == {
        "error": "unauthorized",
        "error_description": "user is blocked",
    }
    assert store.get_user(jane_id).logins_count is None
    store.update_user(jane_id, blocked=False)
    assert store.authenticate(DB, EMAIL, PASSWORD).logins_count == 1


ODD_PASSWORDS: list[Any] = [None, 123, b"Corr3ct-horse-battery", "", ["x"], 1.5, "Corr3ct-\ud800"]
ODD_LOGINS: list[Any] = [None, 42, "", b"jane@example.com", "jane\ud800@example.com"]


def test_odd_passwords_and_logins_are_wrong_credentials(store: IdentityStore, jane_id: str) -> None:
    # (loops, not parametrize: one store per case would dominate the file's runtime)
    for password in ODD_PASSWORDS:
        with pytest.raises(errors.WrongCredentialsError):
            store.authenticate(DB, EMAIL, password)
    for login in ODD_LOGINS:
        with pytest.raises(errors.WrongCredentialsError):
            store.authenticate(DB, login, PASSWORD)
    assert store.authenticate(DB, EMAIL, PASSWORD).logins_count == 1


def test_long_password_is_truncated_under_the_legacy_policy(store: IdentityStore) -> None:
    long_password = "Aa1-" + "é" * 40  # 84 UTF-8 bytes
    assert len(long_password.encode()) > 72
    user = store.create_user(DB, email=EMAIL, password=long_password)
    assert store.authenticate(DB, EMAIL, long_password).user_id == user.user_id
    # bcrypt only sees the first 72 bytes: any tail after them is accepted
    prefix = long_password.encode()[:72]
    assert store.authenticate(DB, EMAIL, prefix.decode() + "anything else").logins_count == 2
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, EMAIL, long_password[:30])


def test_long_password_is_refused_when_the_policy_errors(store: IdentityStore) -> None:
    store.create_connection(
        "Strict",
        strategy="auth0",
        options={"password_options": {"complexity": {"max_length_exceeded": "error"}}},
    )
    exactly_72 = "x" * 72
    with pytest.raises(errors.PasswordStrengthError):
        store.create_user("Strict", email=EMAIL, password=exactly_72 + "y")
    store.create_user("Strict", email=EMAIL, password=exactly_72)
    assert store.authenticate("Strict", EMAIL, exactly_72).logins_count == 1
    for too_long in (exactly_72 + "y", exactly_72 + "x" * 200, "é" * 100):
        with pytest.raises(errors.WrongCredentialsError):
            store.authenticate("Strict", EMAIL, too_long)


def test_outdated_bcrypt_cost_is_upgraded_on_sign_in(tmp_path: Path) -> None:
    path = tmp_path / "users.db"
    with IdentityStore(path, hasher=PasswordHasher.fast_for_tests()) as cheap:
        user_id = cheap.create_user(DB, email=EMAIL, password=PASSWORD).user_id
    assert stored_hash(path, user_id).startswith("$2b$04$")
    stronger = PasswordHasher.bcrypt(rounds=5)
    with IdentityStore(path, hasher=stronger) as s:
        s.authenticate(DB, EMAIL, PASSWORD)
        upgraded = stored_hash(path, user_id)
        assert upgraded.startswith("$2b$05$")
        assert stronger.verify(PASSWORD.encode(), upgraded)
        assert s.authenticate(DB, EMAIL, PASSWORD).logins_count == 2
        assert stored_hash(path, user_id) == upgraded  # up to date now: not re-hashed again
        with pytest.raises(errors.WrongCredentialsError):
            s.authenticate(DB, EMAIL, WRONG)
        assert PASSWORD not in events_text(s)


def test_bcrypt_hash_is_upgraded_to_argon2id(tmp_path: Path) -> None:
    pytest.importorskip("argon2")
    path = tmp_path / "users.db"
    with IdentityStore(path, hasher=FAST) as cheap:
        user_id = cheap.create_user(DB, email=EMAIL, password=PASSWORD).user_id
    argon = PasswordHasher.argon2id(time_cost=1, memory_cost=8192, parallelism=1)
    with IdentityStore(path, hasher=argon) as s:
        assert s.authenticate(DB, EMAIL, PASSWORD).logins_count == 1
        upgraded = stored_hash(path, user_id)
        assert upgraded.startswith("$argon2id$")
        assert argon.verify(PASSWORD.encode(), upgraded)
        assert s.authenticate(DB, EMAIL, PASSWORD).logins_count == 2
        assert stored_hash(path, user_id) == upgraded


def test_failed_sign_in_never_rehashes(tmp_path: Path) -> None:
    path = tmp_path / "users.db"
    with IdentityStore(path, hasher=FAST) as cheap:
        user_id = cheap.create_user(DB, email=EMAIL, password=PASSWORD).user_id
    before = stored_hash(path, user_id)
    with IdentityStore(path, hasher=PasswordHasher.bcrypt(rounds=5)) as s:
        with pytest.raises(errors.WrongCredentialsError):
            s.authenticate(DB, EMAIL, WRONG)
    assert stored_hash(path, user_id) == before


# -- brute-force protection -----------------------------------------------------------------------


def fail(store: IdentityStore, times: int, ip: str = "10.0.0.1") -> None:
    for _ in range(times):
        with pytest.raises(errors.WrongCredentialsError):
            store.authenticate(DB, EMAIL, WRONG, ip=ip)


def test_three_failures_block_the_user_from_that_ip(guarded: IdentityStore) -> None:
    fail(guarded, 3)
    with pytest.raises(errors.TooManyAttemptsError) as caught:
        guarded.authenticate(DB, EMAIL, PASSWORD, ip="10.0.0.1")
    assert caught.value.to_dict() == TOO_MANY_ATTEMPTS_BODY
    assert caught.value.to_oauth_dict() == {
        "error": "too_many_attempts",
        "error_description": TOO_MANY_ATTEMPTS_BODY["message"],
    }
    with pytest.raises(errors.TooManyAttemptsError):
        guarded.authenticate(DB, EMAIL, WRONG, ip="10.0.0.1")
    blocked = guarded.list_events(type="limit_wc")
    assert len(blocked) == 2
    assert blocked[0].ip == "10.0.0.1"
    assert blocked[0].user_id == guarded.get_users_by_email(EMAIL)[0].user_id


def test_block_is_per_ip(guarded: IdentityStore) -> None:
    fail(guarded, 3, ip="10.0.0.1")
    assert guarded.authenticate(DB, EMAIL, PASSWORD, ip="10.0.0.2").logins_count == 1
    # a success from another IP does not lift the block of the attacking one
    with pytest.raises(errors.TooManyAttemptsError):
        guarded.authenticate(DB, EMAIL, PASSWORD, ip="10.0.0.1")


def test_sign_in_without_ip_is_counted_as_one_address(guarded: IdentityStore) -> None:
    for _ in range(3):
        with pytest.raises(errors.WrongCredentialsError):
            guarded.authenticate(DB, EMAIL, WRONG)
    with pytest.raises(errors.TooManyAttemptsError):
        guarded.authenticate(DB, EMAIL, PASSWORD)
    assert guarded.authenticate(DB, EMAIL, PASSWORD, ip="10.0.0.9").logins_count == 1


def test_block_expires(guarded: IdentityStore, clock: ManualClock) -> None:
    fail(guarded, 3)
    clock.now += timedelta(minutes=4, seconds=59)
    with pytest.raises(errors.TooManyAttemptsError):
        guarded.authenticate(DB, EMAIL, PASSWORD, ip="10.0.0.1")
    clock.now += timedelta(seconds=2)
    # the block is over and the failures were reset with it: two more are allowed
    fail(guarded, 2)
    assert guarded.authenticate(DB, EMAIL, PASSWORD, ip="10.0.0.1").logins_count == 1
    fail(guarded, 3)
    with pytest.raises(errors.TooManyAttemptsError):
        guarded.authenticate(DB, EMAIL, PASSWORD, ip="10.0.0.1")


def test_success_resets_the_failures(guarded: IdentityStore) -> None:
    fail(guarded, 2)
    guarded.authenticate(DB, EMAIL, PASSWORD, ip="10.0.0.1")
    fail(guarded, 2)
    assert guarded.authenticate(DB, EMAIL, PASSWORD, ip="10.0.0.1").logins_count == 2


def test_zero_attempts_disables_protection(make_store: StoreFactory) -> None:
    s = make_store(max_login_attempts=0)
    s.create_user(DB, email=EMAIL, password=PASSWORD)
    fail(s, 12)
    assert s.authenticate(DB, EMAIL, PASSWORD, ip="10.0.0.1").logins_count == 1
    assert s.list_events(type="limit_wc") == []


def test_connection_option_disables_protection(make_store: StoreFactory) -> None:
    s = make_store(max_login_attempts=3)
    s.update_connection(DB, options={"passwordPolicy": "good", "brute_force_protection": False})
    s.create_user(DB, email=EMAIL, password=PASSWORD)
    fail(s, 5)
    assert s.authenticate(DB, EMAIL, PASSWORD, ip="10.0.0.1").logins_count == 1


def test_default_allows_ten_attempts(make_store: StoreFactory) -> None:
    s = make_store()
    s.create_user(DB, email=EMAIL, password=PASSWORD)
    fail(s, 9)
    assert s.authenticate(DB, EMAIL, PASSWORD, ip="10.0.0.1").logins_count == 1
    fail(s, 10)
    with pytest.raises(errors.TooManyAttemptsError):
        s.authenticate(DB, EMAIL, PASSWORD, ip="10.0.0.1")


def test_unusable_passwords_count_as_failures(make_store: StoreFactory) -> None:
    s = make_store(max_login_attempts=3)
    s.update_connection(
        DB, options={"password_options": {"complexity": {"max_length_exceeded": "error"}}}
    )
    user_id = s.create_user(DB, email=EMAIL, password=PASSWORD).user_id
    for password in ("", None, "x" * 73):
        with pytest.raises(errors.WrongCredentialsError):
            s.authenticate(DB, EMAIL, password, ip="10.0.0.1")  # type: ignore[arg-type]
    failures = s.list_events(type="fp")
    assert [(e.user_id, e.ip) for e in failures] == [(user_id, "10.0.0.1")] * 3
    for password in (PASSWORD, ""):
        with pytest.raises(errors.TooManyAttemptsError):
            s.authenticate(DB, EMAIL, password, ip="10.0.0.1")


def test_unknown_users_are_never_blocked_but_logged(guarded: IdentityStore) -> None:
    for _ in range(6):
        with pytest.raises(errors.WrongCredentialsError):
            guarded.authenticate(DB, "ghost@example.com", WRONG, ip="10.0.0.1")
    failures = guarded.list_events(type="fu")
    assert len(failures) == 6
    assert {(e.user_id, e.user_name, e.ip) for e in failures} == {
        (None, "ghost@example.com", "10.0.0.1")
    }
    assert guarded.list_events(type="limit_wc") == []
    assert guarded.authenticate(DB, EMAIL, PASSWORD, ip="10.0.0.1").logins_count == 1


# -- events ---------------------------------------------------------------------------------------


def test_sign_in_events(store: IdentityStore, jane_id: str) -> None:
    store.authenticate(DB, EMAIL, PASSWORD, ip="203.0.113.7")
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, EMAIL, WRONG, ip="203.0.113.8")
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, "ghost@example.com", WRONG, ip="203.0.113.9")
    (success,) = store.list_events(type="s")
    assert (success.user_id, success.ip, success.connection) == (jane_id, "203.0.113.7", DB)
    assert success.user_name == EMAIL
    (wrong_password,) = store.list_events(type="fp")
    assert (wrong_password.user_id, wrong_password.ip) == (jane_id, "203.0.113.8")
    assert wrong_password.description == "Wrong email or password."
    (unknown,) = store.list_events(type="fu")
    assert (unknown.user_id, unknown.ip, unknown.user_name) == (
        None,
        "203.0.113.9",
        "ghost@example.com",
    )
    assert store.list_events(user_id=jane_id, type="s") == [success]
    text = events_text(store)
    assert PASSWORD not in text
    assert WRONG not in text


def test_no_secret_ever_reaches_the_log(guarded: IdentityStore, clock: ManualClock) -> None:
    guarded.authenticate(DB, EMAIL, PASSWORD, ip="10.0.0.1")
    fail(guarded, 3)
    with pytest.raises(errors.TooManyAttemptsError):
        guarded.authenticate(DB, EMAIL, PASSWORD, ip="10.0.0.1")
    codes = []
    for _ in range(2):
        message = guarded.start_passwordless("email", email="pat@example.com")
        codes.append(str(message.token))
        with pytest.raises(errors.WrongCodeError):
            guarded.verify_passwordless("email", email="pat@example.com", code="000000x")
    guarded.verify_passwordless("email", email="pat@example.com", code=codes[-1])
    sms = guarded.start_passwordless("sms", phone_number=PHONE, send="link")
    guarded.verify_passwordless("sms", phone_number=PHONE, code=str(sms.token))
    ticket = guarded.create_email_verification_ticket(guarded.get_users_by_email(EMAIL)[0].user_id)
    guarded.verify_email(ticket.token)
    with pytest.raises(errors.InvalidTicketError):
        guarded.verify_email(ticket.token)
    logged = set(types(guarded))
    assert {"ss", "s", "fp", "limit_wc", "cs", "cls", "f", "sv", "fv"} <= logged
    text = events_text(guarded)
    for secret in (PASSWORD, WRONG, *codes, str(sms.token), ticket.token, "000000x"):
        assert secret not in text
