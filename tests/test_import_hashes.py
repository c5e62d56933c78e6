"""Password hashes through a real import: every vector of the Auth0 reference and every algorithm
with every value of each of its parameters, imported in a users file, signs in with its password
(the whole of it, past bcrypt's 72 bytes), refuses a wrong one, and is upgraded to the store's
hasher once."""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import argon2.low_level
import bcrypt
import pytest

from identitystore import IdentityStore, errors
from identitystore import _imported_hashes as imported
from tests.conftest import FAST
from tests.test_imported_hashes import (
    DIGESTS,
    PASSWORD_ENCODINGS,
    PBKDF2_NAMES,
    VECTORS,
    digest_of,
    hmac_of,
    node_bytes,
    pbkdf2_of,
    phc_b64,
)

DB = "Username-Password-Authentication"


def column(store: IdentityStore, connection: str, email: str) -> str | None:
    found = store.backend.find_user(store.get_connection(connection).id, "email", email)
    assert found is not None
    return found[1]


def import_and_sign_in(
    store: IdentityStore, cases: list[tuple[str, dict[str, Any]]], connection: str = DB
) -> None:
    """Import one user per (password, password field), then for each: a wrong password fails,
    the right one signs in and replaces the imported hash with the store's, once."""
    users = [{"email": f"user{n}@example.com", **field} for n, (_, field) in enumerate(cases)]
    result = store.import_users(connection, io.BytesIO(json.dumps(users).encode()))
    assert result.errors == []
    assert result.inserted == len(cases)
    for user, (password, field) in zip(users, cases, strict=True):
        email = user["email"]
        stored = column(store, connection, email)
        assert stored == imported.stored_hash(field), field
        with pytest.raises(errors.WrongCredentialsError):
            store.authenticate(connection, email, "#" + password)
        assert store.authenticate(connection, email, password).logins_count == 1, field
        upgraded = column(store, connection, email)
        if "custom_password_hash" in field:
            assert upgraded != stored
            assert upgraded is not None
            assert not imported.is_imported(upgraded)
            assert not store.hasher.needs_update(upgraded)
        store.authenticate(connection, email, password)
        assert column(store, connection, email) == upgraded  # upgraded once, not again


# -- the reference's vectors, on every backend --------------------------------------------------


def test_every_vector_of_the_reference_signs_in_after_an_import(store: IdentityStore) -> None:
    cases = [(v.password, {v.field: v.value}) for v in VECTORS]
    assert len(cases) == 51
    import_and_sign_in(store, cases)
    truncated = next(v for v in VECTORS if v.also_verifies)  # bcrypt reads 72 bytes of salt+pw
    assert truncated.also_verifies is not None
    index = VECTORS.index(truncated)
    assert store.authenticate(DB, f"user{index}@example.com", truncated.password)


def test_the_reference_negative_vectors_are_refused_at_import(store: IdentityStore) -> None:
    argon2id = next(v for v in VECTORS if v.id == "argon2id").value["hash"]["value"]
    users: list[dict[str, Any]] = [
        {
            "email": "d@example.com",
            "custom_password_hash": {
                "algorithm": "argon2",
                "hash": {"value": argon2id.replace("$argon2id$", "$argon2d$")},
            },
        },
        {
            "email": "v@example.com",
            "custom_password_hash": {
                "algorithm": "argon2",
                "hash": {"value": argon2id.replace("v=19", "v=16")},
            },
        },
        {"email": "y@example.com", "password_hash": "$2y$10$" + "a" * 53},
        {"email": "c@example.com", "password_hash": "$2b$12$" + "a" * 53},
    ]
    result = store.import_users(DB, users)
    assert [[e["code"] for e in entry["errors"]] for entry in result.errors] == [
        ["INVALID_FORMAT"],
        ["INVALID_FORMAT"],
        ["PATTERN"],
        ["PATTERN"],
    ]
    assert store.list_users(DB).length == 0


# -- every algorithm with every value of each parameter ----------------------------------------

PASSWORDS = ["Pässwörd-€1", "plain ascii", "\U0001f600 emoji", "x" * 80 + "-past-72-bytes"]


def encodings_of(data: bytes) -> list[tuple[str, str]]:
    """``data`` in every form Auth0 reads: hex either case, base64 standard and URL-safe,
    padded or not."""
    standard = base64.b64encode(data).decode()
    return [
        (data.hex(), "hex"),
        (data.hex().upper(), "hex"),
        (standard, "base64"),
        (base64.urlsafe_b64encode(data).decode().rstrip("="), "base64"),
    ]


#: Salt objects and their bytes: none, text with the default position, and each encoding and
#: position.
SALTS: list[tuple[dict[str, str] | None, bytes]] = [
    (None, b""),
    ({"value": "s@lt-é"}, "s@lt-é".encode()),
    ({"value": "pepper", "encoding": "utf8", "position": "prefix"}, b"pepper"),
    ({"value": "00ff10a0", "encoding": "hex", "position": "suffix"}, bytes.fromhex("00ff10a0")),
    (
        {"value": "q83vEjRWeJA=", "encoding": "base64", "position": "prefix"},
        base64.b64decode("q83vEjRWeJA="),
    ),
]


def salted(salt: dict[str, str] | None, raw: bytes, password: bytes) -> bytes:
    return (
        password + raw if salt is not None and salt.get("position") == "suffix" else raw + password
    )


def with_password_encoding(cph: dict[str, Any], encoding: str) -> dict[str, Any]:
    return cph if encoding == "utf8" else {**cph, "password": {"encoding": encoding}}


def digest_cases() -> Iterator[tuple[str, dict[str, Any]]]:
    """md4, md5, sha1, sha256, sha512: every hash form, salt and password encoding."""
    count = itertools.count()
    for algorithm in ("md4", "md5", "sha1", "sha256", "sha512"):
        for (salt, raw), encoding in itertools.product(SALTS, PASSWORD_ENCODINGS):
            password = PASSWORDS[next(count) % len(PASSWORDS)]
            expected = digest_of(algorithm, salted(salt, raw, node_bytes(password, encoding)))
            for value, hash_encoding in encodings_of(expected):
                cph: dict[str, Any] = {
                    "algorithm": algorithm,
                    "hash": {"value": value, "encoding": hash_encoding},
                }
                if salt is not None:
                    cph["salt"] = salt
                yield password, {"custom_password_hash": with_password_encoding(cph, encoding)}


def hmac_cases() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every digest, key encoding (and the default), hash encoding, and some salts and password
    encodings."""
    keys = [
        (None, b"server-pepper"),
        ("utf8", b"server-pepper"),
        ("hex", b"\x0b\xad\xc0\xff\xee"),
        ("base64", b"secret-key"),
    ]
    count = itertools.count()
    for digest, (key_encoding, key) in itertools.product(DIGESTS, keys):
        n = next(count)
        password = PASSWORDS[n % len(PASSWORDS)]
        encoding = PASSWORD_ENCODINGS[n % len(PASSWORD_ENCODINGS)]
        salt, raw = SALTS[n % len(SALTS)]
        message = salted(salt, raw, node_bytes(password, encoding))
        if key_encoding in (None, "utf8"):
            key_value = key.decode()
        else:
            key_value = key.hex() if key_encoding == "hex" else base64.b64encode(key).decode()
        for value, hash_encoding in encodings_of(hmac_of(digest, key, message))[::2]:
            key_object = (
                {"value": key_value}
                if key_encoding is None
                else {"value": key_value, "encoding": key_encoding}
            )
            cph: dict[str, Any] = {
                "algorithm": "hmac",
                "hash": {
                    "value": value,
                    "encoding": hash_encoding,
                    "digest": digest,
                    "key": key_object,
                },
            }
            if salt is not None:
                cph["salt"] = salt
            yield password, {"custom_password_hash": with_password_encoding(cph, encoding)}


def pbkdf2_cases() -> Iterator[tuple[str, dict[str, Any]]]:
    """Each of the 30 digest names Auth0 lists (mdc2 aside), with i and l given, one of them, or
    Auth0's defaults (i=100000, l=64)."""
    forms = ["i={i},l={l}", "l={l},i={i}", "i={i}", "l={l}"]
    for n, name in enumerate(sorted(PBKDF2_NAMES)):
        password = PASSWORDS[n % len(PASSWORDS)]
        encoding = PASSWORD_ENCODINGS[n % len(PASSWORD_ENCODINGS)]
        salt = bytes(range(n % 17))
        rounds, keylen = 1 + n, 8 + n
        form = forms[n % len(forms)]
        if "i=" not in form:
            rounds = 100_000
        if "l=" not in form:
            keylen = 64
        derived = pbkdf2_of(
            PBKDF2_NAMES[name], node_bytes(password, encoding), salt, rounds, keylen
        )
        parameters = form.format(i=rounds, l=keylen)
        value = f"$pbkdf2-{name}${parameters}${phc_b64(salt)}${phc_b64(derived)}"
        cph = {"algorithm": "pbkdf2", "hash": {"value": value, "encoding": "utf8"}}
        yield password, {"custom_password_hash": with_password_encoding(cph, encoding)}
    derived = hashlib.pbkdf2_hmac("sha256", b"defaults", b"salt-salt", 100_000, 64)
    value = f"$pbkdf2-sha256${phc_b64(b'salt-salt')}${phc_b64(derived)}"  # no i, no l
    yield "defaults", {"custom_password_hash": {"algorithm": "pbkdf2", "hash": {"value": value}}}


def scrypt_cases() -> Iterator[tuple[str, dict[str, Any]]]:
    """Auth0's defaults and other costs, block sizes, parallelizations and key lengths."""
    settings = [(None, None, None, 32), (1024, 4, 2, 64), (2, 1, 1, 1), (256, 2, 3, 80)]
    for n, (cost, block, lanes, keylen) in enumerate(settings):
        password = PASSWORDS[n]
        encoding = PASSWORD_ENCODINGS[n]
        salt, raw = SALTS[n]
        derived = hashlib.scrypt(
            node_bytes(password, encoding),
            salt=raw,
            n=cost or 16384,
            r=block or 8,
            p=lanes or 1,
            dklen=keylen,
            maxmem=64 << 20,
        )
        value, hash_encoding = encodings_of(derived)[n]
        cph: dict[str, Any] = {
            "algorithm": "scrypt",
            "hash": {"value": value, "encoding": hash_encoding},
            "keylen": keylen,
        }
        for key, setting in (("cost", cost), ("blockSize", block), ("parallelization", lanes)):
            if setting is not None:
                cph[key] = setting
        if salt is not None:
            cph["salt"] = salt
        yield password, {"custom_password_hash": with_password_encoding(cph, encoding)}


def ldap_cases() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every scheme in either case; salted ones with salts libpass takes and salts it does not."""
    digests = {
        "MD5": "md5",
        "SHA": "sha1",
        "SHA256": "sha256",
        "SHA384": "sha384",
        "SHA512": "sha512",
    }
    for n, (scheme, digest) in enumerate(digests.items()):
        password = PASSWORDS[n % len(PASSWORDS)]
        raw = password.encode()
        body = hashlib.new(digest, raw).digest()
        for shown in (scheme, scheme.lower()):
            value = f"{{{shown}}}{base64.b64encode(body).decode()}"
            yield (
                password,
                {"custom_password_hash": {"algorithm": "ldap", "hash": {"value": value}}},
            )
        for size in (4, 8, 20):
            salt = bytes(range(1, size + 1))
            salted_body = hashlib.new(digest, raw + salt).digest() + salt
            value = f"{{S{scheme}}}{base64.b64encode(salted_body).decode()}"
            yield (
                password,
                {
                    "custom_password_hash": {
                        "algorithm": "ldap",
                        "hash": {"value": value, "encoding": "utf8"},
                    }
                },
            )


#: bcrypt stops at a NUL byte: salts without one (docs/import-export.md, "Not supported").
BCRYPT_SALTS = [
    *SALTS[:3],
    ({"value": "a1b2c3d4", "encoding": "hex", "position": "suffix"}, bytes.fromhex("a1b2c3d4")),
]


def bcrypt_cases() -> Iterator[tuple[str, dict[str, Any]]]:
    """$2a$, $2b$ and $2y$ at two costs, each salt, and the password encodings bcrypt takes."""
    count = itertools.count()
    for ident, cost in itertools.product(("2a", "2b", "2y"), (4, 5)):
        for (salt, raw), encoding in itertools.product(BCRYPT_SALTS, ("utf8", "ascii", "latin1")):
            password = PASSWORDS[next(count) % len(PASSWORDS)]
            if b"\x00" in node_bytes(password, encoding):
                password = PASSWORDS[0]  # U+D83D's low byte is NUL: bcrypt cannot take it
            joined = salted(salt, raw, node_bytes(password, encoding))[:72]
            made = bcrypt.hashpw(joined, bcrypt.gensalt(cost, prefix=b"2b")).decode()
            cph: dict[str, Any] = {
                "algorithm": "bcrypt",
                "hash": {"value": made.replace("$2b$", f"${ident}$")},
            }
            if salt is not None:
                cph["salt"] = salt
            yield password, {"custom_password_hash": with_password_encoding(cph, encoding)}
    made = bcrypt.hashpw(b"native cost ten", bcrypt.gensalt(10)).decode()
    yield "native cost ten", {"password_hash": made}  # Auth0's password_hash: kept as it is


def argon2_cases() -> Iterator[tuple[str, dict[str, Any]]]:
    """argon2i and argon2id, one and two lanes, two password encodings."""
    kinds = (argon2.low_level.Type.I, argon2.low_level.Type.ID)
    for n, (kind, lanes, encoding) in enumerate(
        itertools.product(kinds, (1, 2), ("utf8", "utf16le"))
    ):
        password = PASSWORDS[n % len(PASSWORDS)]
        value = argon2.low_level.hash_secret(
            node_bytes(password, encoding),
            bytes(range(8 + n)),
            time_cost=1 + n % 2,
            memory_cost=8 * lanes * 2,
            parallelism=lanes,
            hash_len=16 + n,
            type=kind,
        ).decode()
        cph = {"algorithm": "argon2", "hash": {"value": value}}
        yield password, {"custom_password_hash": with_password_encoding(cph, encoding)}


ALGORITHMS = {
    "digests": digest_cases,
    "hmac": hmac_cases,
    "pbkdf2": pbkdf2_cases,
    "scrypt": scrypt_cases,
    "ldap": ldap_cases,
    "bcrypt": bcrypt_cases,
    "argon2": argon2_cases,
}


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_every_parameter_of_every_algorithm_signs_in_after_an_import(
    tmp_path: Path, algorithm: str
) -> None:
    cases = list(ALGORITHMS[algorithm]())
    with IdentityStore(tmp_path / "users.db", hasher=FAST) as store:
        import_and_sign_in(store, cases)


def test_the_grid_covers_every_algorithm_auth0_lists() -> None:
    algorithms = {
        field["custom_password_hash"]["algorithm"]
        for make in ALGORITHMS.values()
        for _, field in make()
        if "custom_password_hash" in field
    }
    assert algorithms == set(imported._ALGORITHMS)


# -- the whole password, not bcrypt's first 72 bytes --------------------------------------------

LONG = "long-" * 30  # 150 bytes


def sha256_of(password: str) -> dict[str, Any]:
    return {
        "custom_password_hash": {
            "algorithm": "sha256",
            "hash": {"value": hashlib.sha256(password.encode()).hexdigest(), "encoding": "hex"},
        }
    }


def test_an_imported_hash_sees_the_whole_password_then_follows_the_policy(
    store: IdentityStore,
) -> None:
    """A truncating policy (the default): the upgrade keeps bcrypt's 72 bytes, as for any
    password of the store."""
    store.import_users(DB, [{"email": "long@example.com", **sha256_of(LONG)}])
    with pytest.raises(errors.WrongCredentialsError):  # the first 72 bytes are not the password
        store.authenticate(DB, "long@example.com", LONG[:72])
    assert store.authenticate(DB, "long@example.com", LONG)
    upgraded = column(store, DB, "long@example.com")
    assert upgraded is not None
    assert not imported.is_imported(upgraded)
    assert store.authenticate(DB, "long@example.com", LONG)


def test_a_policy_refusing_long_passwords_keeps_the_imported_hash(store: IdentityStore) -> None:
    """With ``max_length_exceeded: error`` no hash of the store can hold such a password: the
    imported hash stays, and the user still signs in with it."""
    options = {
        "password_options": {"complexity": {"min_length": 8, "max_length_exceeded": "error"}}
    }
    store.create_connection("strict", strategy="auth0", options=options)
    store.import_users("strict", [{"email": "long@example.com", **sha256_of(LONG)}])
    stored = column(store, "strict", "long@example.com")
    assert store.authenticate("strict", "long@example.com", LONG).logins_count == 1
    assert column(store, "strict", "long@example.com") == stored
    assert store.authenticate("strict", "long@example.com", LONG).logins_count == 2
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate("strict", "long@example.com", LONG[:72])
