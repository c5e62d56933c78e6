"""One-time codes are stored so that a copy of the database does not give a live code: keyed
(HMAC) with a secret that is not in the database when the store has one, else a slow hash."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from identitystore import IdentityStore, errors
from identitystore.testing.helpers import Snapshot

from .conftest import FAST

PHONE = "+14155550100"
KEY = b"k" * 32
StoreFactory = Callable[..., IdentityStore]


def _stored(path: Path) -> tuple[str, str]:
    with sqlite3.connect(path) as db:
        connection_id, code_hash = db.execute(
            "SELECT connection_id, code_hash FROM one_time_codes"
        ).fetchone()
    return str(connection_id), str(code_hash)


def _fast_guesses(connection_id: str, code: str) -> set[str]:
    """Digests an attacker with the file could compute in microseconds per guess."""
    texts = [f"{connection_id}\x00{PHONE}\x00{code}", f"{PHONE}{code}", code, f"{code}{PHONE}"]
    return {
        getattr(hashlib, name)(t.encode()).hexdigest()
        for t in texts
        for name in ("sha256", "sha1", "md5")
    }


@pytest.mark.parametrize("secret_key", [None, KEY], ids=["no-key", "key"])
def test_the_stored_code_is_no_fast_hash_of_it(
    identity_store_factory: StoreFactory, tmp_path: Path, secret_key: bytes | None
) -> None:
    path = tmp_path / "u.db"
    store = identity_store_factory(path, secret_key=secret_key)
    code = store.start_passwordless("sms", phone_number=PHONE).token
    assert code is not None
    connection_id, stored = _stored(path)
    assert code not in stored
    assert stored not in _fast_guesses(connection_id, code)
    assert store.verify_passwordless("sms", phone_number=PHONE, code=code).phone_verified


def test_without_a_key_each_guess_costs_a_slow_hash(
    identity_store_factory: StoreFactory, tmp_path: Path
) -> None:
    """The digest is scrypt's: an offline search pays scrypt (milliseconds) per guess."""
    path = tmp_path / "u.db"
    store = identity_store_factory(path)
    code = store.start_passwordless("sms", phone_number=PHONE).token
    assert code is not None
    connection_id, stored = _stored(path)
    salt = f"{connection_id}\x00{PHONE}\x00".encode()
    assert stored == hashlib.scrypt(code.encode(), salt=salt, n=2**11, r=8, p=1, dklen=32).hex()


def test_a_copy_without_the_key_gives_no_live_code(
    identity_store_factory: StoreFactory, tmp_path: Path
) -> None:
    original = tmp_path / "u.db"
    store = identity_store_factory(original, secret_key=KEY)
    code = store.start_passwordless("sms", phone_number=PHONE).token
    assert code is not None
    copy = tmp_path / "copy.db"
    store.close()
    shutil.copy(original, copy)
    thief = identity_store_factory(copy, secret_key=b"another key, not the store's")
    with pytest.raises(errors.WrongCodeError):
        thief.verify_passwordless("sms", phone_number=PHONE, code=code)
    owner = identity_store_factory(original, secret_key=KEY)  # e.g. another process of the app
    assert owner.verify_passwordless("sms", phone_number=PHONE, code=code).phone_number == PHONE


def test_processes_without_a_key_share_codes(
    identity_store_factory: StoreFactory, tmp_path: Path
) -> None:
    path = tmp_path / "u.db"
    first, second = identity_store_factory(path), identity_store_factory(path)
    code = first.start_passwordless("email", email="sam@example.com").token
    assert code is not None
    assert second.verify_passwordless("email", email="sam@example.com", code=code).email_verified


def test_a_short_secret_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        IdentityStore(":memory:", secret_key=b"short")


@pytest.mark.parametrize("key", [None, KEY])
def test_a_restored_snapshot_verifies_pending_codes_only_under_the_same_key(
    key: bytes | None,
) -> None:
    with IdentityStore(hasher=FAST, secret_key=key) as seeded:
        sent = seeded.start_passwordless("sms", phone_number=PHONE)
        snapshot = Snapshot(seeded)
    assert sent.token is not None
    with snapshot.restore(hasher=FAST, secret_key=key) as restored:
        if key is None:  # each in-memory store has a random key of its own
            with pytest.raises(errors.WrongCodeError):
                restored.verify_passwordless("sms", phone_number=PHONE, code=sent.token)
        else:
            user = restored.verify_passwordless("sms", phone_number=PHONE, code=sent.token)
            assert user.phone_verified is True
    snapshot.close()
