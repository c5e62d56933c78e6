"""Password hashers: real hashes, upgrades between profiles, the 72-byte rule, no crashes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from identitystore import IdentityStore, PasswordHasher, errors
from identitystore.hashing import Hasher, mask_hash

SECRET = b"Correct-Horse-9"


@pytest.fixture(scope="module")
def production() -> PasswordHasher:
    return PasswordHasher.bcrypt()


@pytest.fixture(scope="module")
def production_hash(production: PasswordHasher) -> str:
    return production.hash(SECRET)  # cost 10: computed once for the module


@pytest.fixture(scope="module")
def fast_hash() -> str:
    return PasswordHasher.fast_for_tests().hash(SECRET)


def test_default_profile_is_bcrypt_cost_10(
    production: PasswordHasher, production_hash: str
) -> None:
    assert production_hash.startswith("$2b$10$")
    assert production.verify(SECRET, production_hash)
    assert not production.verify(b"wrong", production_hash)
    assert not production.needs_update(production_hash)


def test_fast_profile_makes_real_hashes_that_production_upgrades(
    production: PasswordHasher, fast_hash: str
) -> None:
    assert fast_hash.startswith("$2b$04$")
    assert production.verify(SECRET, fast_hash)
    assert production.needs_update(fast_hash)
    assert not PasswordHasher.fast_for_tests().needs_update(fast_hash)


def test_argon2id_profile_reads_bcrypt_and_upgrades_it(fast_hash: str) -> None:
    argon = PasswordHasher.argon2id(time_cost=1, memory_cost=8192, parallelism=1)
    hashed = argon.hash(SECRET)
    assert hashed.startswith("$argon2id$")
    assert argon.verify(SECRET, hashed)
    assert argon.verify(SECRET, fast_hash)
    assert argon.needs_update(fast_hash)
    assert not argon.needs_update(hashed)


@pytest.mark.parametrize("bad", ["", "plain", "$2b$10$short", "$argon2id$nonsense"])
def test_malformed_hash_is_a_mismatch_not_a_crash(bad: str) -> None:
    hasher = PasswordHasher.fast_for_tests()
    assert hasher.verify(SECRET, bad) is False
    assert hasher.needs_update(bad) is True


def test_rounds_are_checked() -> None:
    with pytest.raises(ValueError, match="between 4 and 31"):
        PasswordHasher.bcrypt(rounds=3)


def test_hashers_implement_the_protocol_and_hide_secrets(fast_hash: str) -> None:
    hasher = PasswordHasher.fast_for_tests()
    assert isinstance(hasher, Hasher)
    hasher.dummy_verify()
    assert repr(hasher) == "PasswordHasher(profile='fast-for-tests')"
    assert mask_hash(fast_hash) == fast_hash[:7] + "*" * (len(fast_hash) - 7)


def test_long_password_under_legacy_policy_hashes_its_first_72_bytes(tmp_path: Path) -> None:
    hasher = PasswordHasher.fast_for_tests()
    password = "Aa1!" + "é" * 40  # 84 bytes in UTF-8; byte 72 falls inside an "é"
    with IdentityStore(tmp_path / "u.db", hasher=hasher) as store:
        user = store.create_user(
            "Username-Password-Authentication", email="a@x.io", password=password
        )
    with sqlite3.connect(tmp_path / "u.db") as conn:
        (hashed,) = conn.execute(
            "SELECT password_hash FROM users WHERE user_id = ?", (user.user_id,)
        ).fetchone()
    assert hasher.verify(password.encode()[:72], hashed)
    assert not hasher.verify(password.encode()[:71], hashed)


def test_long_password_truncation_and_error_modes() -> None:
    hasher = PasswordHasher.fast_for_tests()
    password = "Aa1!" + "é" * 40  # 84 UTF-8 bytes: over bcrypt's 72
    with IdentityStore(":memory:", hasher=hasher) as store:
        store.create_connection(
            "Strict",
            strategy="auth0",
            options={"password_options": {"complexity": {"max_length_exceeded": "error"}}},
        )
        store.create_user("Username-Password-Authentication", email="a@x.io", password=password)
        with pytest.raises(errors.PasswordStrengthError):
            store.create_user("Strict", email="a@x.io", password=password)
        assert store.backend.count_users() == 1
