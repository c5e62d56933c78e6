"""Sign-in, brute-force protection, passwordless codes and email verification tickets."""

from __future__ import annotations

import json
import re
import sqlite3
import urllib.parse
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from identitystore import IdentityStore, PasswordHasher, errors
from identitystore.notify import Message
from identitystore.testing.helpers import ManualClock

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


def stamp(moment: datetime) -> str:
    """``moment`` as the store writes timestamps (milliseconds, ``Z``)."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def events_text(store: IdentityStore) -> str:
    """Every logged event, serialised, to search for secrets."""
    events = store.list_events(limit=10_000)
    return json.dumps([e.to_dict() for e in events]) + repr(events)


def types(store: IdentityStore) -> list[str]:
    return [e.type for e in store.list_events(limit=10_000)]


def raw_bytes(directory: Path) -> bytes:
    """The bytes of the database file and its WAL/journal siblings."""
    return b"".join(p.read_bytes() for p in sorted(directory.glob("users.db*")))


def stored_hash(path: Path, user_id: str) -> str:
    with sqlite3.connect(path) as conn:
        (hashed,) = conn.execute(
            "SELECT password_hash FROM users WHERE user_id = ?", (user_id,)
        ).fetchone()
    conn.close()
    return str(hashed)


@pytest.fixture
def jane(store: IdentityStore) -> str:
    return store.create_user(DB, email=EMAIL, password=PASSWORD).user_id


@pytest.fixture
def members(store: IdentityStore) -> str:
    store.create_connection("Members", strategy="auth0", options={"requires_username": True})
    return "Members"


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
    store: IdentityStore, jane: str, clock: ManualClock
) -> None:
    clock.now += timedelta(hours=1)
    user = store.authenticate(DB, "JANE@Example.COM", PASSWORD, ip="203.0.113.7")
    assert user.user_id == jane
    assert user.logins_count == 1
    assert user.last_login == stamp(clock.now)
    assert user.last_ip == "203.0.113.7"
    clock.now += timedelta(minutes=1)
    again = store.authenticate(DB, EMAIL, PASSWORD, ip="198.51.100.1")
    assert again.logins_count == 2
    assert again.last_login == stamp(clock.now)
    assert again.last_ip == "198.51.100.1"
    assert store.get_user(jane).logins_count == 2


def test_sign_in_by_username(store: IdentityStore, members: str) -> None:
    created = store.create_user(members, email="chuck@example.com", username="Chuck", password="x")
    for login in ("chuck", "CHUCK", "chuck@example.com"):
        assert store.authenticate(members, login, "x").user_id == created.user_id
    assert store.get_user(created.user_id).logins_count == 3


def test_username_is_not_a_login_without_requires_username(store: IdentityStore, jane: str) -> None:
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, "jane", PASSWORD)


def test_wrong_password_and_unknown_user_answer_the_same(store: IdentityStore, jane: str) -> None:
    with pytest.raises(errors.WrongCredentialsError) as wrong_password:
        store.authenticate(DB, EMAIL, WRONG)
    with pytest.raises(errors.WrongCredentialsError) as unknown_user:
        store.authenticate(DB, "nobody@example.com", PASSWORD)
    for caught in (wrong_password.value, unknown_user.value):
        assert type(caught) is errors.WrongCredentialsError
        assert caught.to_dict() == WRONG_CREDENTIALS_BODY
        assert caught.to_oauth_dict() == WRONG_CREDENTIALS_OAUTH
    assert store.get_user(jane).logins_count is None


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
    store: IdentityStore, jane: str
) -> None:
    store.update_user(jane, blocked=True)
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
    assert store.get_user(jane).logins_count is None
    store.update_user(jane, blocked=False)
    assert store.authenticate(DB, EMAIL, PASSWORD).logins_count == 1


ODD_PASSWORDS: list[Any] = [None, 123, b"Corr3ct-horse-battery", "", ["x"], 1.5, "Corr3ct-\ud800"]
ODD_LOGINS: list[Any] = [None, 42, "", b"jane@example.com", "jane\ud800@example.com"]


def test_odd_passwords_and_logins_are_wrong_credentials(store: IdentityStore, jane: str) -> None:
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


def test_sign_in_events(store: IdentityStore, jane: str) -> None:
    store.authenticate(DB, EMAIL, PASSWORD, ip="203.0.113.7")
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, EMAIL, WRONG, ip="203.0.113.8")
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, "ghost@example.com", WRONG, ip="203.0.113.9")
    (success,) = store.list_events(type="s")
    assert (success.user_id, success.ip, success.connection) == (jane, "203.0.113.7", DB)
    assert success.user_name == EMAIL
    (wrong_password,) = store.list_events(type="fp")
    assert (wrong_password.user_id, wrong_password.ip) == (jane, "203.0.113.8")
    assert wrong_password.description == "Wrong email or password."
    (unknown,) = store.list_events(type="fu")
    assert (unknown.user_id, unknown.ip, unknown.user_name) == (
        None,
        "203.0.113.9",
        "ghost@example.com",
    )
    assert store.list_events(user_id=jane, type="s") == [success]
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
    assert {"ss", "s", "fp", "limit_wc", "cls", "f", "sv", "fv"} <= logged
    text = events_text(guarded)
    for secret in (PASSWORD, WRONG, *codes, str(sms.token), ticket.token, "000000x"):
        assert secret not in text


# -- passwordless ---------------------------------------------------------------------------------


def test_first_code_creates_the_user(store: IdentityStore, clock: ManualClock) -> None:
    message = store.start_passwordless("email", email="Pat@Example.com", ip="10.1.1.1")
    assert isinstance(message, Message)
    assert store.outbox == [message]
    assert message.kind == "passwordless_code"
    assert message.recipient == "pat@example.com"
    assert message.connection == "email"
    assert message.link is None
    assert re.fullmatch(r"\d{6}", str(message.token))
    assert message.created_at == stamp(clock.now)
    assert message.expires_at == stamp(clock.now + timedelta(seconds=180))
    assert str(message.token) not in repr(message)
    (user,) = store.get_users_by_email("pat@example.com")
    assert user.user_id == message.user_id
    assert user.user_id.startswith("email|")
    assert user.email_verified is False
    assert user.logins_count is None
    (signup,) = store.list_events(type="ss")
    assert signup.user_id == user.user_id
    (sent,) = store.list_events(type="cls")
    assert (sent.user_id, sent.ip) == (user.user_id, "10.1.1.1")
    # a second code does not create another user
    second = store.start_passwordless("email", email="pat@example.com")
    assert second.user_id == user.user_id
    assert len(store.list_events(type="ss")) == 1
    assert len(store.list_events(type="cls")) == 2


def test_right_code_signs_in_and_verifies_the_email(
    store: IdentityStore, clock: ManualClock
) -> None:
    message = store.start_passwordless("email", email="pat@example.com")
    clock.now += timedelta(seconds=179)
    user = store.verify_passwordless(
        "email", email="PAT@example.com", code=str(message.token), ip="10.1.1.2"
    )
    assert user.user_id == message.user_id
    assert user.email_verified is True
    assert user.logins_count == 1
    assert user.last_login == stamp(clock.now)
    assert user.last_ip == "10.1.1.2"
    assert user.updated_at == stamp(clock.now)
    assert store.get_user(user.user_id).email_verified is True
    (success,) = store.list_events(type="s")
    assert (success.user_id, success.ip) == (user.user_id, "10.1.1.2")


def test_sms_code_verifies_the_phone(store: IdentityStore) -> None:
    message = store.start_passwordless("sms", phone_number=PHONE)
    assert message.recipient == PHONE
    created = store.get_user(message.user_id)
    assert created.user_id.startswith("sms|")
    assert created.phone_verified is False
    user = store.verify_passwordless("sms", phone_number=PHONE, code=str(message.token))
    assert user.phone_verified is True
    assert user.logins_count == 1


@pytest.mark.parametrize(
    ("connection", "target", "text"),
    [
        ("email", {"email": "pat@example.com"}, "Wrong email or verification code."),
        ("sms", {"phone_number": PHONE}, "Wrong phone number or verification code."),
    ],
)
def test_code_works_once(
    store: IdentityStore, connection: str, target: dict[str, Any], text: str
) -> None:
    message = store.start_passwordless(connection, **target)
    store.verify_passwordless(connection, code=str(message.token), **target)
    with pytest.raises(errors.WrongCodeError) as caught:
        store.verify_passwordless(connection, code=str(message.token), **target)
    assert caught.value.to_dict() == {
        "statusCode": 403,
        "error": "Forbidden",
        "message": text,
        "errorCode": "invalid_grant",
    }
    assert caught.value.to_oauth_dict() == {"error": "invalid_grant", "error_description": text}
    assert store.get_user(message.user_id).logins_count == 1


def test_two_wrong_guesses_leave_the_code_usable(store: IdentityStore) -> None:
    message = store.start_passwordless("email", email="pat@example.com")
    code = str(message.token)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(2):
        with pytest.raises(errors.WrongCodeError):
            store.verify_passwordless("email", email="pat@example.com", code=wrong)
    assert store.verify_passwordless("email", email="pat@example.com", code=code).logins_count == 1


def test_three_wrong_guesses_void_the_code(store: IdentityStore) -> None:
    message = store.start_passwordless("email", email="pat@example.com")
    code = str(message.token)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(2):
        with pytest.raises(errors.WrongCodeError):
            store.verify_passwordless("email", email="pat@example.com", code=wrong)
    with pytest.raises(errors.CodeAttemptsExceededError) as caught:
        store.verify_passwordless("email", email="pat@example.com", code=wrong)
    assert caught.value.to_dict() == {
        "statusCode": 403,
        "error": "Forbidden",
        "message": "You've reached the maximum number of attempts. Please try to login again.",
        "errorCode": "invalid_grant",
    }
    with pytest.raises(errors.WrongCodeError):
        store.verify_passwordless("email", email="pat@example.com", code=code)
    assert store.get_user(message.user_id).email_verified is False
    # a new code works again
    fresh = store.start_passwordless("email", email="pat@example.com")
    user = store.verify_passwordless("email", email="pat@example.com", code=str(fresh.token))
    assert user.logins_count == 1


def test_odd_codes_are_wrong(store: IdentityStore) -> None:
    for code in (None, 123456, "", " ", "abc", "1" * 1000, "12345\ud800"):
        store.start_passwordless("email", email="pat@example.com")
        with pytest.raises(errors.WrongCodeError):
            store.verify_passwordless("email", email="pat@example.com", code=code)  # type: ignore[arg-type]


def test_expired_code(store: IdentityStore, clock: ManualClock) -> None:
    message = store.start_passwordless("email", email="pat@example.com")
    clock.now += timedelta(seconds=181)
    with pytest.raises(errors.WrongCodeError):
        store.verify_passwordless("email", email="pat@example.com", code=str(message.token))
    assert store.get_user(message.user_id).logins_count is None


def test_newer_code_replaces_the_older(store: IdentityStore) -> None:
    old = store.start_passwordless("email", email="pat@example.com")
    new = store.start_passwordless("email", email="pat@example.com")
    if old.token != new.token:
        with pytest.raises(errors.WrongCodeError):
            store.verify_passwordless("email", email="pat@example.com", code=str(old.token))
    user = store.verify_passwordless("email", email="pat@example.com", code=str(new.token))
    assert user.logins_count == 1


def test_code_of_one_identifier_does_not_work_for_another(store: IdentityStore) -> None:
    message = store.start_passwordless("email", email="pat@example.com")
    store.start_passwordless("email", email="sam@example.com")
    with pytest.raises(errors.WrongCodeError):
        store.verify_passwordless("email", email="sam@example.com", code=str(message.token))


def test_unknown_identifier_gets_wrong_code(store: IdentityStore) -> None:
    with pytest.raises(errors.WrongCodeError):
        store.verify_passwordless("email", email="ghost@example.com", code="123456")
    assert store.get_users_by_email("ghost@example.com") == []


def test_totp_options_set_length_and_lifetime(store: IdentityStore, clock: ManualClock) -> None:
    store.create_connection(
        "otp", strategy="email", options={"totp": {"length": 8, "time_step": 60}}
    )
    message = store.start_passwordless("otp", email="pat@example.com")
    assert re.fullmatch(r"\d{8}", str(message.token))
    assert message.expires_at == stamp(clock.now + timedelta(seconds=60))
    clock.now += timedelta(seconds=61)
    with pytest.raises(errors.WrongCodeError):
        store.verify_passwordless("otp", email="pat@example.com", code=str(message.token))


def test_unusable_totp_options_fall_back_to_defaults(
    store: IdentityStore, clock: ManualClock
) -> None:
    unusable: list[Any] = [
        {"length": 0},  # would make "" the code
        {"length": "x"},
        {"length": True},
        {"length": -3},
        {"length": 41},
        {"time_step": 0},  # would expire at once
        {"time_step": 59},
        {"time_step": "60"},
        {"time_step": 10**20},
        7,
    ]
    for number, totp in enumerate(unusable):
        name = f"otp{number}"
        store.create_connection(name, strategy="email", options={"totp": totp})
        message = store.start_passwordless(name, email="pat@example.com")
        assert re.fullmatch(r"\d{6}", str(message.token)), totp
        assert message.expires_at == stamp(clock.now + timedelta(seconds=180)), totp
        with pytest.raises(errors.WrongCodeError):
            store.verify_passwordless(name, email="pat@example.com", code="")


def test_magic_link(store: IdentityStore) -> None:
    message = store.start_passwordless("email", email="pat@example.com", send="link")
    assert message.kind == "passwordless_link"
    assert message.link is not None
    assert str(message.token) in message.link
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(message.link).query)
    assert query["verification_code"] == [message.token]
    assert query["email"] == ["pat@example.com"]
    assert store.outbox == [message]
    user = store.verify_passwordless("email", email="pat@example.com", code=str(message.token))
    assert user.email_verified is True


def test_bad_send_value(store: IdentityStore) -> None:
    with pytest.raises(errors.BadRequestError):
        store.start_passwordless("email", email="pat@example.com", send="carrier-pigeon")  # type: ignore[arg-type]


def test_disable_signup(store: IdentityStore) -> None:
    store.create_connection("closed", strategy="email", options={"disable_signup": True})
    with pytest.raises(errors.SignupDisabledError) as caught:
        store.start_passwordless("closed", email="pat@example.com")
    assert caught.value.status_code == 400
    assert caught.value.error_code == "signup_disabled"
    assert store.get_users_by_email("pat@example.com") == []
    assert store.outbox == []
    existing = store.create_user("closed", email="pat@example.com")
    message = store.start_passwordless("closed", email="pat@example.com")
    assert message.user_id == existing.user_id
    user = store.verify_passwordless("closed", email="pat@example.com", code=str(message.token))
    assert user.user_id == existing.user_id


_INVALID = errors.PayloadValidationError
_REFUSED = errors.FieldNotAllowedError
BAD_IDENTIFIERS: list[tuple[str, dict[str, Any], type[errors.BadRequestError]]] = [
    ("email", {"email": "not-an-email"}, _INVALID),
    ("email", {"email": ""}, _INVALID),
    ("email", {"email": 42}, _INVALID),
    ("email", {}, _INVALID),
    ("email", {"phone_number": PHONE}, _REFUSED),
    ("email", {"email": "pat@example.com", "phone_number": PHONE}, _REFUSED),
    ("sms", {"phone_number": "call me"}, _INVALID),
    ("sms", {"phone_number": "14155550100"}, _INVALID),
    ("sms", {"email": "pat@example.com"}, _REFUSED),
    ("sms", {}, _INVALID),
]


def test_bad_identifiers(store: IdentityStore) -> None:
    for connection, target, error in BAD_IDENTIFIERS:
        with pytest.raises(error):
            store.start_passwordless(connection, **target)
        with pytest.raises(error):
            store.verify_passwordless(connection, code="123456", **target)
    assert store.outbox == []
    assert store.get_users_by_email("pat@example.com") == []


def test_passwordless_needs_a_passwordless_connection(store: IdentityStore) -> None:
    with pytest.raises(errors.UnsupportedStrategyError):
        store.start_passwordless(DB, email="pat@example.com")
    with pytest.raises(errors.UnknownConnectionError):
        store.start_passwordless("nope", email="pat@example.com")


def test_codes_are_stored_hashed(tmp_path: Path) -> None:
    path = tmp_path / "users.db"
    with IdentityStore(path, hasher=FAST) as s:
        s.create_connection("otp", strategy="email", options={"totp": {"length": 8}})
        message = s.start_passwordless("otp", email="pat@example.com")
        code = str(message.token)
        assert len(code) == 8
        with sqlite3.connect(path) as conn:
            rows = conn.execute("SELECT * FROM one_time_codes").fetchall()
        conn.close()
        assert len(rows) == 1
        assert all(code not in str(value) for value in rows[0])
        s.verify_passwordless("otp", email="pat@example.com", code=code)


def test_blocked_user_cannot_use_a_code(store: IdentityStore) -> None:
    message = store.start_passwordless("email", email="pat@example.com")
    store.update_user(message.user_id, blocked=True)
    with pytest.raises(errors.UserBlockedError):
        store.verify_passwordless("email", email="pat@example.com", code=str(message.token))
    assert store.get_user(message.user_id).logins_count is None


def test_failed_code_is_logged(store: IdentityStore) -> None:
    message = store.start_passwordless("sms", phone_number=PHONE)
    with pytest.raises(errors.WrongCodeError):
        store.verify_passwordless("sms", phone_number=PHONE, code="x", ip="10.2.2.2")
    (failure,) = store.list_events(type="f")
    assert (failure.user_id, failure.ip, failure.user_name) == (message.user_id, "10.2.2.2", PHONE)
    assert failure.description == "Wrong phone number or verification code."


# -- email verification tickets -------------------------------------------------------------------


def test_ticket_verifies_the_email(store: IdentityStore, jane: str, clock: ManualClock) -> None:
    created_at = store.get_user(jane).updated_at
    ticket = store.create_email_verification_ticket(jane)
    assert ticket.user_id == jane
    assert ticket.token in ticket.url
    assert ticket.url.startswith("https://identitystore.local/")
    assert ticket.to_dict() == {"ticket": ticket.url}
    assert ticket.token not in repr(ticket)
    assert ticket.expires_at == stamp(clock.now + timedelta(days=5))
    clock.now += timedelta(hours=2)
    user = store.verify_email(ticket.token)
    assert user.user_id == jane
    assert user.email_verified is True
    assert user.updated_at == stamp(clock.now) != created_at
    assert store.get_user(jane).email_verified is True
    (verified,) = store.list_events(type="sv")
    assert verified.user_id == jane


def test_ticket_works_once(store: IdentityStore, jane: str) -> None:
    ticket = store.create_email_verification_ticket(jane)
    store.verify_email(ticket.token)
    with pytest.raises(errors.InvalidTicketError) as caught:
        store.verify_email(ticket.token)
    assert caught.value.to_dict() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "This ticket was already used.",
        "errorCode": "invalid_ticket",
    }
    assert len(store.list_events(type="fv")) == 1


def test_ticket_expires(store: IdentityStore, jane: str, clock: ManualClock) -> None:
    ticket = store.create_email_verification_ticket(jane, ttl_sec=60)
    assert ticket.expires_at == stamp(clock.now + timedelta(seconds=60))
    clock.now += timedelta(seconds=61)
    with pytest.raises(errors.InvalidTicketError, match=r"^This ticket was expired\.$"):
        store.verify_email(ticket.token)
    assert store.get_user(jane).email_verified is False


def test_unknown_ticket(store: IdentityStore, jane: str) -> None:
    odd: list[Any] = ["no-such-ticket", "", "tické", "\ud800", None, 42]
    for token in odd:
        with pytest.raises(errors.InvalidTicketError):
            store.verify_email(token)
    assert len(store.list_events(type="fv")) == len(odd)
    assert store.get_user(jane).email_verified is False


def test_ticket_ttl_bounds(store: IdentityStore, jane: str, clock: ManualClock) -> None:
    longest = store.create_email_verification_ticket(jane, ttl_sec=30 * 24 * 3600)
    assert longest.expires_at == stamp(clock.now + timedelta(days=30))
    assert store.create_email_verification_ticket(jane, ttl_sec=1).expires_at == stamp(
        clock.now + timedelta(seconds=1)
    )
    # Auth0: "If unspecified or set to 0, this value defaults to 432000 seconds (5 days)."
    default = store.create_email_verification_ticket(jane, ttl_sec=0)
    assert default.expires_at == stamp(clock.now + timedelta(seconds=432000))
    for bad in (-1, 30 * 24 * 3600 + 1, 1.5, "60", True, None):
        with pytest.raises(errors.BadRequestError):
            store.create_email_verification_ticket(jane, ttl_sec=bad)  # type: ignore[arg-type]


def test_ticket_needs_an_email(store: IdentityStore) -> None:
    user = store.create_user("sms", phone_number=PHONE)
    with pytest.raises(errors.BadRequestError) as caught:
        store.create_email_verification_ticket(user.user_id)
    assert caught.value.status_code == 400


def test_ticket_of_unknown_user(store: IdentityStore) -> None:
    with pytest.raises(errors.UserNotFoundError):
        store.create_email_verification_ticket("auth0|nobody")


def test_sent_ticket(store: IdentityStore, jane: str) -> None:
    ticket = store.create_email_verification_ticket(jane, send=True)
    (welcome, sent) = store.outbox
    assert welcome.kind == sent.kind == "verification_email"
    assert sent.link == ticket.url
    assert sent.token == ticket.token
    assert sent.recipient == EMAIL
    assert store.verify_email(str(sent.token)).email_verified is True


def test_ticket_sent_at_creation(store: IdentityStore, jane: str) -> None:
    (message,) = store.outbox
    assert message.kind == "verification_email"
    assert message.user_id == jane
    assert message.token is not None
    assert message.token in str(message.link)
    assert store.verify_email(message.token).email_verified is True
    with pytest.raises(errors.InvalidTicketError):
        store.verify_email(message.token)


def test_tickets_of_a_deleted_user_are_void(store: IdentityStore, jane: str) -> None:
    ticket = store.create_email_verification_ticket(jane)
    store.delete_user(jane)
    with pytest.raises(errors.InvalidTicketError):
        store.verify_email(ticket.token)


def test_tokens_are_stored_hashed(tmp_path: Path) -> None:
    with IdentityStore(tmp_path / "users.db", hasher=FAST) as s:
        user = s.create_user(DB, email=EMAIL, password=PASSWORD)
        ticket = s.create_email_verification_ticket(user.user_id)
        (welcome,) = s.outbox
        tokens = [ticket.token, str(welcome.token)]
        data = raw_bytes(tmp_path)
        for token in tokens:
            assert token.encode() not in data
        assert PASSWORD.encode() not in data
