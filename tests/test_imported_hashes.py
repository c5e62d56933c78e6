"""Imported password hashes (``identitystore._imported_hashes``): every test vector
(docs/import-export.md#test-vectors) signs in and wrong passwords do not; every algorithm and
parameter against hashes made here with hashlib and the algorithms' own packages; every shape
error; storage, upgrade, export."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
from dataclasses import dataclass
from typing import Any

import argon2.low_level
import bcrypt
import pytest
import whirlpool
from Crypto.Hash import MD4
from Crypto.Protocol.KDF import PBKDF2
from hypothesis import given
from hypothesis import strategies as st
from passlib.registry import get_crypt_handler, list_crypt_handlers

from identitystore import IdentityStore, PasswordHasher, errors
from identitystore import _imported_hashes as imported
from identitystore.hashing import mask_hash

# -- the test vectors (docs/import-export.md#test-vectors) ---------------------------------------

#: One user per line: ``pw`` is the password; ``password_hash`` or ``cph`` (custom_password_hash).
VECTOR_LINES = r"""
{"id":"password_hash-2b","pw":"correct horse battery staple","password_hash":"$2b$10$abcdefghijklmnopqrstuuGGgFFcYeueaAql8Z7U7CnCTRw4DR77W"}
{"id":"password_hash-2a","pw":"Tr0ub4dor&3","password_hash":"$2a$10$ABCDEFGHIJKLMNOPQRSTUubLPYTHsdMoxRuiV12vQnjnr63u9ihm6"}
{"id":"bcrypt-2y","pw":"bcrypt-2y-pass","cph":{"algorithm":"bcrypt","hash":{"value":"$2y$10$0123456789abcdefghijku.Oe/SFqAfWN36UxRBM3PsQT4Bk6zlhy","encoding":"utf8"}}}
{"id":"bcrypt-2b-cost12","pw":"cost-twelve","cph":{"algorithm":"bcrypt","hash":{"value":"$2b$12$zyxwvutsrqponmlkjihgfewu1l4QFOFBemFwKVgN1byyT7574hRTW"}}}
{"id":"bcrypt-salt-prefix","pw":"bcrypt+salt","cph":{"algorithm":"bcrypt","hash":{"value":"$2b$10$SaltSaltSaltSaltSaltSetGp6HEWFWg7Aw/mC57SvHIlWU4m3WeW","encoding":"utf8"},"salt":{"value":"pepper42","encoding":"utf8","position":"prefix"}}}
{"id":"bcrypt-salt-72-byte-truncation","pw":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-tail-beyond-72","also_verifies":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAXYZ","cph":{"algorithm":"bcrypt","hash":{"value":"$2b$10$TruncTruncTruncTruncTuTemDnw2pu3DqIrc63fVfYBv04tV0M1u"},"salt":{"value":"0123456789","position":"prefix"}}}
{"id":"bcrypt-docs-hello","pw":"hello","cph":{"algorithm":"bcrypt","hash":{"value":"$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K"}}}
{"id":"argon2id","pw":"argon2-Passw0rd","cph":{"algorithm":"argon2","hash":{"value":"$argon2id$v=19$m=65536,t=2,p=1$AAECAwQFBgcICQoLDA0ODw$5nm/g+Futz586HM5fwIUrrwveAGK/cV5SPuyCJoXhk8"}}}
{"id":"argon2i","pw":"argon2i-secret","cph":{"algorithm":"argon2","hash":{"value":"$argon2i$v=19$m=4096,t=3,p=1$ZGVmZ2hpamtsbW5vcHFycw$W9JayeQ7YkEn7JE1slkR3cNwPEZcAUQo79uKXXfQJdc","encoding":"utf8"}}}
{"id":"argon2-from-django","pw":"django-Pass1","cph":{"algorithm":"argon2","hash":{"value":"$argon2id$v=19$m=65536,t=2,p=1$ZGphbmdvYXJnb25zYWx0IQ$/I+YYDiAB0NgrN+QPfQelSgdd6hdkXH5cZCzGJxn/Co"}}}
{"id":"hmac-sha256-hexkey-b64","pw":"hmac-b64","cph":{"algorithm":"hmac","hash":{"value":"fpL0+/MybVeHjToJBZjylYRokhwtCa93lvO5+gd/woE=","encoding":"base64","digest":"sha256","key":{"value":"0badc0ffee","encoding":"hex"}}}}
{"id":"hmac-sha512-b64key","pw":"hmac-b64key","cph":{"algorithm":"hmac","hash":{"value":"Vcw6Pc7RQNQq2Eavwex7yTeL1IXuTREO0me9wkSU4i/hBsuGPX+vtOBghRuqH3rl13GVn3HrSB//eR+ITaru/w==","encoding":"base64","digest":"sha512","key":{"value":"c2VjcmV0LWtleQ==","encoding":"base64"}}}}
{"id":"hmac-docs-peter","pw":"test","cph":{"algorithm":"hmac","hash":{"value":"cg7f42jH39/2EaAU4wNd4s2lKIk=","encoding":"base64","digest":"sha1","key":{"value":"736868","encoding":"hex"}}}}
{"id":"md4-b64","pw":"md4-legacy","cph":{"algorithm":"md4","hash":{"value":"/mgXEA1kvaYl4E2bOpfo7w==","encoding":"base64"}}}
{"id":"md4-utf16le-hex","pw":"NTLMpass1","cph":{"algorithm":"md4","hash":{"value":"D110EF23A18FAB1F1F2D88FF6B10F917","encoding":"hex"},"password":{"encoding":"utf16le"}}}
{"id":"md5-salt-prefix-hex","pw":"password","cph":{"algorithm":"md5","hash":{"value":"67A1E09BB1F83F5007DC119C14D663AA","encoding":"hex"},"salt":{"value":"salt","encoding":"utf8","position":"prefix"}}}
{"id":"md5-unsalted-b64","pw":"md5-only","cph":{"algorithm":"md5","hash":{"value":"V3UsclmZT9/EG8/SClDWmA==","encoding":"base64"}}}
{"id":"sha1-utf16le-b64","pw":"Sha1-Ünïcode","cph":{"algorithm":"sha1","hash":{"value":"zZoCQ96Lhkbev8Vk+DksWo8sTRY=","encoding":"base64"},"password":{"encoding":"utf16le"}}}
{"id":"sha1-salt-suffix-hex","pw":"sha1-salted","cph":{"algorithm":"sha1","hash":{"value":"efb73b988d4ecdbe4d45127aff1699803bb5e8ec","encoding":"hex"},"salt":{"value":"a1b2c3d4e5f60718","encoding":"hex","position":"suffix"}}}
{"id":"sha256-salt-prefix-hex","pw":"sha256-Pass!","cph":{"algorithm":"sha256","hash":{"value":"cd23a9bfd5d88ace34cd7d593957c04f6d0deaf8695d3d9e40e6005954f8e358","encoding":"hex"},"salt":{"value":"abc123","position":"prefix"}}}
{"id":"sha256-salt-b64-suffix-b64","pw":"sha256-suffix","cph":{"algorithm":"sha256","hash":{"value":"6lZpqU1jo1JW3pid6mMl8yQv+CQ8QmsHQDxbhkA5P4U=","encoding":"base64"},"salt":{"value":"q83vEjRWeJA=","encoding":"base64","position":"suffix"}}}
{"id":"sha256-urlsafe-b64","pw":"urlsafe-b64?","cph":{"algorithm":"sha256","hash":{"value":"ZP_wK5Ljkt1UJEGySP57kMQDF0RiejaAEvxG7-d-Mzc","encoding":"base64"}}}
{"id":"sha512-salt-prefix-b64","pw":"sha512-Secret","cph":{"algorithm":"sha512","hash":{"value":"Hzhg/quyFy/l6XtzYxYtJBz5VCXW3I8mLmtM0oM8PpEfsMon8vSyVgw72sh5psNpmqpM8efQb+QK6L6o2FZHwg==","encoding":"base64"},"salt":{"value":"NaCl","encoding":"utf8","position":"prefix"}}}
{"id":"sha512-latin1-hex","pw":"Pässwörd","cph":{"algorithm":"sha512","hash":{"value":"391b2969fb37c18dc5d20ade55d4ed5875cdfd849c47ba5264d5b9697e6420b3ac9aaa6d633527b76f705d1d44f52ab7469438618fd8e823799710f774938481","encoding":"hex"},"password":{"encoding":"latin1"}}}
{"id":"pbkdf2-sha256","pw":"pbkdf2-Pass","cph":{"algorithm":"pbkdf2","hash":{"value":"$pbkdf2-sha256$i=10000,l=32$MDEyMzQ1Njc4OWFiY2RlZg$4TYK7xuX7mSLML3I65Y1UrP9WMrazGAcF4IgktcKO3w","encoding":"utf8"}}}
{"id":"pbkdf2-sha512-defaults","pw":"pbkdf2-defaults","cph":{"algorithm":"pbkdf2","hash":{"value":"$pbkdf2-sha512$c2l4dGVlbi1ieXRlLXNsdA$VXA5oCwWmqqxGna0Mku3omOeVHt5noqTYt6fAtmDF7I8Eec89dEZRiMyb7EgPsak9+Dx+SFA2OjFHT+tH6MyiQ","encoding":"utf8"}}}
{"id":"pbkdf2-sha1","pw":"Test@123","cph":{"algorithm":"pbkdf2","hash":{"value":"$pbkdf2-sha1$i=10000,l=20$wJuJqLoUFsdXa8k3sFhRlA$XMGVWTbeKf4Xd+CGiuEZde8x7QA","encoding":"utf8"}}}
{"id":"pbkdf2-md5","pw":"pbkdf2-md5!","cph":{"algorithm":"pbkdf2","hash":{"value":"$pbkdf2-md5$i=1000,l=16$AQIDBAUGBwg$Ym7rwj25BCA6eFn/Jm6PVA","encoding":"utf8"}}}
{"id":"pbkdf2-from-django","pw":"django-Pass1","cph":{"algorithm":"pbkdf2","hash":{"value":"$pbkdf2-sha256$i=260000,l=32$RGphbmdvU2FsdDEyMzQ1Ng$XU0kGQTN4L9/ZyBFDBidV46drj/ZvJvGuSKoaWGf4rg","encoding":"utf8"}}}
{"id":"scrypt-defaults","pw":"scrypt-Pass","cph":{"algorithm":"scrypt","hash":{"value":"5e16ea572fd543e16db10764b252b36246feb21e50882477a086454c2b22d8f0","encoding":"hex"},"salt":{"value":"saltysalt","encoding":"utf8"},"keylen":32}}
{"id":"scrypt-custom","pw":"scrypt-b64","cph":{"algorithm":"scrypt","hash":{"value":"lWlMfYBLnHZ3OkeDNTgCa+Q0wfYQu4ZnyghxO+pne/wx/QNYTiR1PDb69ERb/cDfn6NF5CMhyoNnHL0uc+HKrw==","encoding":"base64"},"salt":{"value":"deadbeefcafebabe","encoding":"hex"},"keylen":64,"cost":1024,"blockSize":4,"parallelization":2}}
{"id":"scrypt-docs-carmella","pw":"password","cph":{"algorithm":"scrypt","hash":{"value":"097f6197e1b41538f723e32aa7a68e8d76227d8e432ce5faa4882a913032db29","encoding":"hex"},"salt":{"value":"abc123","encoding":"utf8"},"keylen":32,"cost":4096}}
"""  # noqa: E501
#: hmac: password ``hmac-Pa55word``, key ``server-pepper`` (utf8), hash.encoding hex, per digest.
HMAC_VALUES = {
    "md4": "93fc649b58c74dbb879bef4a22723735",
    "md5": "17c3c91063468ca6bb885c2334c6f1ba",
    "ripemd160": "37943155bc8c2794f25862677b4572dc68716850",
    "sha1": "9725f1537d87474ddd7f1ebae5ea3fd7cffe5bcf",
    "sha224": "7ef79ba6e36d60ccf26cef1122a641e6c912079248777aa437786dd7",
    "sha256": "8b2df47e1569d1d8ba12ee8fbc8c2128817c0a9c5af3c38533ae0aa1845d7cf1",
    "sha384": "70f984738f454178940cff926c4d5ad4aa2fd103bb9297f17172c09fc57f51003b8d30de602646acf831a4eb0023cddb",  # noqa: E501
    "sha512": "bb969b601a0ac09fafde5918b1d1e8c2525551b541221ce89f8d26d3f513bb028038a07f01c4f90574e3cd2e05733b034076cb32a38df59acbfb86e68feab5f1",  # noqa: E501
    "whirlpool": "cc2b7d5dfef1cb8ce046d8a461298258245de379da833ad14a9d3fe3f9bb0e6d8d1c97f7c40f85e87fd974f78f2f67619f11acab1c02f077414f57239bf75497",  # noqa: E501
}
#: ldap: password ``ldap-Secret1``; salted schemes carry the salt 0011223344556677 (hex).
LDAP_VALUES = [
    "{MD5}FzPdKnLs19/ixkCNIrUOcw==",
    "{SMD5}ps9mB1+5jv4SHerRXZPyCQARIjNEVWZ3",
    "{SHA}qykyzzm4X/9BM+4Q1saIJvVVmV8=",
    "{SSHA}lR5H0ESqcF/gGsqQ5CQ7E8yS60cAESIzRFVmdw==",
    "{SHA256}1cfEjXeOQcTeYqEz/KEDEbGI9pXLOj17/3mJo61rwO0=",
    "{SSHA256}xK+wwYbDjHxLpMabV40l1Oksp5bVuAz10O88GI/6Zf4AESIzRFVmdw==",
    "{SHA384}Ut1kdjbJ7Z0rzCiOiR5Awqo9lzQD3JW05TIu8A1CoU4BpEhkoaJavKqgbf2Ru++n",
    "{SSHA384}cIdHdDiJk/D1/JlJjnK9Ofof+kG6txttT1hpEVEWYKchZpyj+fln9h0kb3Z9I+rXABEiM0RVZnc=",
    "{SHA512}jX/CVnyohPfEJr9yIDvQ4BY4GhFcRiIXOwOAqz2dAdw9MZOCJmtMNgWTNgmHD7PXlVIzyOMqWh7NlnmHqWvyIQ==",
    "{SSHA512}8MTHMK34FRk9I6jlDJmnu9EoInXXFszNt/pyq514Kv8XES8arV7aoFl1+ERtLO0Isi9VUM+DthZvuRb+0RFfoAARIjNEVWZ3",
]


@dataclass(frozen=True)
class Vector:
    id: str
    password: str
    field: str  # "password_hash" or "custom_password_hash"
    value: Any
    also_verifies: str | None = None

    @property
    def user(self) -> dict[str, Any]:
        return {self.field: self.value}


def _vectors() -> list[Vector]:
    found = []
    for line in VECTOR_LINES.strip().splitlines():
        item = json.loads(line)
        field = "password_hash" if "password_hash" in item else "custom_password_hash"
        value = item["password_hash"] if field == "password_hash" else item["cph"]
        found.append(Vector(item["id"], item["pw"], field, value, item.get("also_verifies")))
    for digest, value in HMAC_VALUES.items():
        cph = {
            "algorithm": "hmac",
            "hash": {
                "value": value,
                "encoding": "hex",
                "digest": digest,
                "key": {"value": "server-pepper", "encoding": "utf8"},
            },
        }
        found.append(Vector(f"hmac-{digest}", "hmac-Pa55word", "custom_password_hash", cph))
    for value in LDAP_VALUES:
        cph = {"algorithm": "ldap", "hash": {"value": value, "encoding": "utf8"}}
        scheme = value[1 : value.index("}")]
        found.append(Vector(f"ldap-{scheme}", "ldap-Secret1", "custom_password_hash", cph))
    return found


VECTORS = _vectors()
BY_ID = {vector.id: vector for vector in VECTORS}
HASHER = PasswordHasher.bcrypt()  # the production profile: vectors go through its verify


def test_the_reference_has_51_distinct_vectors() -> None:
    assert len(VECTORS) == 51
    assert len(BY_ID) == 51
    algorithms = {v.value["algorithm"] for v in VECTORS if v.field == "custom_password_hash"}
    assert algorithms == set(imported._ALGORITHMS)  # every algorithm Auth0 lists has a vector


@pytest.mark.parametrize("vector", VECTORS, ids=[v.id for v in VECTORS])
def test_vector_signs_in_and_wrong_passwords_do_not(vector: Vector) -> None:
    assert imported.password_problems(vector.user) == []
    stored = imported.stored_hash(vector.user)
    assert stored is not None
    assert HASHER.verify(vector.password.encode(), stored)
    assert not HASHER.verify(("#" + vector.password).encode(), stored)
    if vector.also_verifies is None:
        assert not HASHER.verify(vector.password.encode()[:-1], stored)
    else:  # bcrypt reads 72 bytes: the salt, then the password's first 62
        assert HASHER.verify(vector.also_verifies.encode(), stored)
        assert not HASHER.verify(vector.password.encode()[:61], stored)
    # A custom hash is upgraded at the next sign-in; a cost-10 password_hash is native already.
    assert imported.is_imported(stored) is (vector.field == "custom_password_hash")
    assert HASHER.needs_update(stored) is (vector.field == "custom_password_hash")
    assert imported.exported_hash(stored) == (vector.field, vector.value)


def test_negative_vectors_of_the_reference_are_refused() -> None:
    """argon2d and v=16 strings fail under libsodium, which Auth0 verifies with."""
    argon2id = BY_ID["argon2id"].value["hash"]["value"]
    for bad in (argon2id.replace("$argon2id$", "$argon2d$"), argon2id.replace("v=19", "v=16")):
        cph = {"algorithm": "argon2", "hash": {"value": bad}}
        assert [p.code for p in imported.custom_password_hash_problems(cph)] == ["INVALID_FORMAT"]
        # Even if such a hash reached the column around the check, it signs nobody in.
        assert not HASHER.verify(b"argon2-Passw0rd", imported.STORED_PREFIX + json.dumps(cph))


#: The format samples of Auth0's docs (B2): not all passwords are known, but all import.
DOCS_SAMPLES = [
    {"algorithm": "md4", "hash": {"value": "AbuUujgF0pPPkJPSFRTpmA==", "encoding": "base64"}},
    {
        "algorithm": "sha256",
        "hash": {
            "value": "d24e794fce503c3ddb1cd1ba1dd5d9b250cf9917336a0316fefd87fecf79200f",
            "encoding": "hex",
        },
        "salt": {"value": "abc123", "position": "prefix"},
    },
    {
        "algorithm": "bcrypt",
        "hash": {"value": "$2b$10$C9hB01.YxRSTcn/ZOOo4j.TW7xCKKFKBSF.C7E0xiUwumqIDqWUXG"},
    },
    {
        "algorithm": "argon2",
        "hash": {
            "value": "$argon2id$v=19$m=65536,t=2,p=1$J6Q/82PCyaNpYKRELJyTZg$"
            "m04qUAB8rexWDR4+/0f+SFB+4XMFxt7YAvAq2UycYos"
        },
    },
    {
        "algorithm": "pbkdf2",
        "hash": {
            "value": "$pbkdf2-md4$i=100000,l=64$+N375B8q0Fw$fp2R9KAM4hK/votGHC5Fu+jhqbxUD8+Nic/E"
            "MSGvNC3UP/k7wSHI0uXluHRSkZfl/BOheYqNOemayG90ZaSSQw",
            "encoding": "utf8",
        },
    },
    {
        "algorithm": "pbkdf2",
        "hash": {
            "value": "$pbkdf2-sha512$i=100000,l=64$KNyFsA2rWoE$I2CQGI9H0JxdDf3kERRI97kPCGxh0KWBIV3"
            "MxyaS191gDGfzVBGyS4BibhgqWQ0/ails8mHuU9ckASxHOOq58w"
        },
    },
    {
        "algorithm": "ldap",
        "hash": {
            "value": "{SSHA384}/cgEjdoZh85DhurDeOQEMO1rMlAur93SVPbYe5XSD4lF7nNuvrBju5hUeg9A6agRemgS"
            "XGl5YuE=",
            "encoding": "utf8",
        },
    },
    BY_ID["hmac-docs-peter"].value,
    BY_ID["scrypt-docs-carmella"].value,
]


@pytest.mark.parametrize("sample", DOCS_SAMPLES, ids=lambda s: s["algorithm"])
def test_auth0_docs_samples_import(sample: dict[str, Any]) -> None:
    assert imported.custom_password_hash_problems(sample) == []
    assert imported.stored_hash({"custom_password_hash": sample}) is not None


def test_docs_md5_example_verifies() -> None:
    """The docs' own sentence: MD5('salt' + 'password') = '67A1E09BB1F83F5007DC119C14D663AA'."""
    stored = imported.stored_hash({"custom_password_hash": BY_ID["md5-salt-prefix-hex"].value})
    assert stored is not None
    assert imported.verify(b"password", stored)
    assert not imported.verify(b"saltpassword", stored)


# -- sign-in through the store: verified once, then upgraded to the store's hasher -------------

STORE_VECTORS = [
    "md4-utf16le-hex",
    "md5-salt-prefix-hex",
    "sha512-latin1-hex",
    "hmac-whirlpool",
    "ldap-SSHA384",
    "pbkdf2-md5",
    "scrypt-custom",
    "argon2i",
    "bcrypt-salt-prefix",
]
CONNECTION = "Username-Password-Authentication"


def _put_hash(store: IdentityStore, user_id: str, stored: str) -> None:
    """Write a hash into the user's row, as an import will (the import API comes later)."""
    store.backend.update_user(user_id, lambda user: {}, password_hash=stored, history_size=0)


def _column(store: IdentityStore, email: str) -> str | None:
    found = store.backend.find_user(store.get_connection(CONNECTION).id, "email", email)
    assert found is not None
    return found[1]


@pytest.mark.parametrize("vector_id", STORE_VECTORS)
def test_store_signs_in_with_an_imported_hash_and_upgrades_it_once(
    store: IdentityStore, vector_id: str
) -> None:
    vector = BY_ID[vector_id]
    email = "imported@example.com"
    user = store.create_user(CONNECTION, email=email, password="Placeholder-Passw0rd!")
    stored = imported.stored_hash(vector.user)
    assert stored is not None
    _put_hash(store, user.user_id, stored)

    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(CONNECTION, email, "#" + vector.password)
    with pytest.raises(errors.WrongCredentialsError):  # the replaced password is gone
        store.authenticate(CONNECTION, email, "Placeholder-Passw0rd!")
    assert _column(store, email) == stored  # failures change nothing

    signed_in = store.authenticate(CONNECTION, email, vector.password)
    assert signed_in.logins_count == 1
    upgraded = _column(store, email)
    assert upgraded is not None
    assert upgraded != stored
    assert not imported.is_imported(upgraded)
    assert upgraded.startswith("$2b$04$")  # the store's hasher (fast_for_tests in the suite)
    assert not store.hasher.needs_update(upgraded)

    again = store.authenticate(CONNECTION, email, vector.password)  # no second upgrade
    assert again.logins_count == 2
    assert _column(store, email) == upgraded
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(CONNECTION, email, "#" + vector.password)


def test_a_failed_sign_in_with_an_imported_hash_is_an_ordinary_wrong_password(
    file_store: IdentityStore,
) -> None:
    user = file_store.create_user(CONNECTION, email="a@example.com", password="Placeholder-P4ss!")
    stored = imported.stored_hash(BY_ID["sha256-salt-prefix-hex"].user)
    assert stored is not None
    _put_hash(file_store, user.user_id, stored)
    with pytest.raises(errors.WrongCredentialsError) as raised:
        file_store.authenticate(CONNECTION, "a@example.com", "sha256-Pass?")
    assert "custom" not in str(raised.value)
    kinds = [event.type for event in file_store.list_events()]
    assert kinds[-1] == "fp"


# -- every algorithm and parameter: hashes made here, verified by the module -------------------
# The expected bytes follow Node's Buffer rules as its documentation states them, written apart
# from the module: utf8; utf16le/ucs2 as UTF-16LE code units; latin1/binary/ascii as the low byte
# of each code unit.

PASSWORD_ENCODINGS = ["ascii", "utf8", "utf16le", "ucs2", "latin1", "binary"]
DIGESTS = ["md4", "md5", "ripemd160", "sha1", "sha224", "sha256", "sha384", "sha512", "whirlpool"]
passwords = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    min_size=1,
    max_size=24,
)
byte_strings = st.binary(min_size=1, max_size=24)


def node_bytes(password: str, encoding: str) -> bytes:
    if encoding == "utf8":
        return password.encode("utf-8")
    raw = password.encode("utf-16-le")
    units = [int.from_bytes(raw[i : i + 2], "little") for i in range(0, len(raw), 2)]
    if encoding in ("utf16le", "ucs2"):
        return b"".join(unit.to_bytes(2, "little") for unit in units)
    return bytes(unit & 0xFF for unit in units)


def digest_of(name: str, data: bytes) -> bytes:
    if name == "md4":
        return MD4.new(data).digest()
    if name == "whirlpool":
        return bytes(whirlpool.new(data).digest())
    return hashlib.new(name, data).digest()


def hmac_of(name: str, key: bytes, message: bytes) -> bytes:
    module: Any = {"md4": MD4, "whirlpool": whirlpool}.get(name, name)
    return hmac.new(key, message, module).digest()


@st.composite
def encoded(draw: st.DrawFn, data: bytes, encodings: list[str]) -> tuple[str, str]:
    """``data`` written in one of ``encodings`` the ways Auth0 reads it: (value, encoding)."""
    encoding = draw(st.sampled_from(encodings))
    if encoding == "hex":
        text = data.hex()
        return draw(st.sampled_from([text, text.upper()])), encoding
    standard = base64.b64encode(data).decode()
    urlsafe = base64.urlsafe_b64encode(data).decode()
    forms = [standard, standard.rstrip("="), urlsafe, urlsafe.rstrip("=")]
    return draw(st.sampled_from(forms)), encoding


@st.composite
def salts(draw: st.DrawFn) -> tuple[dict[str, str] | None, bytes]:
    """An optional salt object and its bytes."""
    kind = draw(st.sampled_from(["none", "utf8", "hex", "base64"]))
    if kind == "none":
        return None, b""
    if kind == "utf8":
        text = draw(passwords)
        salt: dict[str, str] = {"value": text}
        if draw(st.booleans()):
            salt["encoding"] = "utf8"
        raw = text.encode("utf-8")
    else:
        raw = draw(byte_strings)
        value, encoding = draw(encoded(raw, [kind]))
        salt = {"value": value, "encoding": encoding}
    position = draw(st.sampled_from([None, "prefix", "suffix"]))
    if position is not None:
        salt["position"] = position
    return salt, raw


def join(salt: dict[str, str] | None, salt_bytes: bytes, password: bytes) -> bytes:
    if salt is not None and salt.get("position") == "suffix":
        return password + salt_bytes
    return salt_bytes + password


def password_field(encoding: str, data: st.DataObject) -> dict[str, Any]:
    """``password.encoding``; for utf8 (the default) it may be left out."""
    if encoding == "utf8" and data.draw(st.booleans()):
        return {}
    return {"password": {"encoding": encoding}}


def assert_signs_in(cph: dict[str, Any], password: str) -> None:
    assert imported.custom_password_hash_problems(cph) == []
    stored = imported.stored_hash({"custom_password_hash": cph})
    assert stored is not None
    assert imported.verify(password.encode(), stored)
    assert not imported.verify((password + "x").encode(), stored)
    assert imported.exported_hash(stored) == ("custom_password_hash", cph)


@given(st.data())
def test_salted_digests(data: st.DataObject) -> None:
    algorithm = data.draw(st.sampled_from(["md4", "md5", "sha1", "sha256", "sha512"]))
    password = data.draw(passwords)
    encoding = data.draw(st.sampled_from(PASSWORD_ENCODINGS))
    salt, salt_bytes = data.draw(salts())
    expected = digest_of(algorithm, join(salt, salt_bytes, node_bytes(password, encoding)))
    value, hash_encoding = data.draw(encoded(expected, ["hex", "base64"]))
    cph: dict[str, Any] = {
        "algorithm": algorithm,
        "hash": {"value": value, "encoding": hash_encoding},
        **password_field(encoding, data),
    }
    if salt is not None:
        cph["salt"] = salt
    assert_signs_in(cph, password)


@given(st.data())
def test_hmac(data: st.DataObject) -> None:
    digest = data.draw(st.sampled_from(DIGESTS))
    password = data.draw(passwords)
    encoding = data.draw(st.sampled_from(PASSWORD_ENCODINGS))
    key_bytes = data.draw(st.binary(min_size=0, max_size=200))  # longer than a block too
    key_value, key_encoding = data.draw(encoded(key_bytes, ["hex", "base64"]))
    salt, salt_bytes = data.draw(salts())  # salts the message, as for the digests
    message = join(salt, salt_bytes, node_bytes(password, encoding))
    value, hash_encoding = data.draw(
        encoded(hmac_of(digest, key_bytes, message), ["hex", "base64"])
    )
    cph: dict[str, Any] = {
        "algorithm": "hmac",
        "hash": {
            "value": value,
            "encoding": hash_encoding,
            "digest": digest,
            "key": {"value": key_value, "encoding": key_encoding},
        },
        **password_field(encoding, data),
    }
    if salt is not None:
        cph["salt"] = salt
    assert_signs_in(cph, password)


@given(passwords, st.text(min_size=1, max_size=20), st.sampled_from(DIGESTS))
def test_hmac_with_a_text_key(password: str, key: str, digest: str) -> None:
    key = key.encode("utf-8", "replace").decode("utf-8")  # no lone surrogates
    expected = hmac_of(digest, key.encode("utf-8"), password.encode("utf-8")).hex()
    cph = {
        "algorithm": "hmac",
        "hash": {"value": expected, "encoding": "hex", "digest": digest, "key": {"value": key}},
    }
    assert_signs_in(cph, password)


#: Each digest name Auth0 lists for PBKDF2 (mdc2 aside: no Python has it) -> the digest.
PBKDF2_NAMES = {
    **dict.fromkeys(["md4", "RSA-MD4", "md4WithRSAEncryption"], "md4"),
    **dict.fromkeys(["md5", "RSA-MD5", "md5WithRSAEncryption", "ssl3-md5"], "md5"),
    **dict.fromkeys(
        ["ripemd", "ripemd160", "ripemd160WithRSA", "rmd160", "RSA-RIPEMD160"], "ripemd160"
    ),
    **dict.fromkeys(
        ["sha1", "RSA-SHA1", "RSA-SHA1-2", "sha1WithRSAEncryption", "ssl3-sha1"], "sha1"
    ),
    **{n: "sha224" for n in ["sha224", "RSA-SHA224", "sha224WithRSAEncryption"]},
    **{n: "sha256" for n in ["sha256", "RSA-SHA256", "sha256WithRSAEncryption"]},
    **{n: "sha384" for n in ["sha384", "RSA-SHA384", "sha384WithRSAEncryption"]},
    **{n: "sha512" for n in ["sha512", "RSA-SHA512", "sha512WithRSAEncryption"]},
    "whirlpool": "whirlpool",
}


def test_pbkdf2_takes_the_33_names_of_auth0s_list() -> None:
    mdc2 = ["mdc2", "RSA-MDC2", "mdc2WithRSA"]
    assert len(PBKDF2_NAMES) + len(mdc2) == 33
    for name in mdc2:
        cph = {
            "algorithm": "pbkdf2",
            "hash": {"value": f"$pbkdf2-{name}$i=1,l=16$AAAA$" + "A" * 22},
        }
        problems = imported.custom_password_hash_problems(cph)
        assert [p.code for p in problems] == ["UNSUPPORTED_HASH"]


def pbkdf2_of(digest: str, password: bytes, salt: bytes, rounds: int, keylen: int) -> bytes:
    if digest == "md4":
        return PBKDF2(password, salt, keylen, rounds, hmac_hash_module=MD4)
    if digest == "whirlpool":
        return PBKDF2(password, salt, keylen, rounds, prf=lambda p, s: hmac_of("whirlpool", p, s))
    return hashlib.pbkdf2_hmac(digest, password, salt, rounds, keylen)


def phc_b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


@given(st.data())
def test_pbkdf2(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(PBKDF2_NAMES)))
    password = data.draw(passwords)
    encoding = data.draw(st.sampled_from(PASSWORD_ENCODINGS))
    salt = data.draw(st.binary(min_size=0, max_size=24))
    rounds = data.draw(st.integers(1, 40))
    keylen = data.draw(st.one_of(st.none(), st.integers(1, 80)))  # None: l left out (64)
    derived = pbkdf2_of(
        PBKDF2_NAMES[name], node_bytes(password, encoding), salt, rounds, keylen or 64
    )
    parameters = [f"i={rounds}"] + ([f"l={keylen}"] if keylen is not None else [])
    if data.draw(st.booleans()):
        parameters.reverse()
    value = f"$pbkdf2-{name}${','.join(parameters)}${phc_b64(salt)}${phc_b64(derived)}"
    cph = {"algorithm": "pbkdf2", "hash": {"value": value}, **password_field(encoding, data)}
    if data.draw(st.booleans()):
        cph["hash"]["encoding"] = "utf8"
    assert_signs_in(cph, password)


@given(st.data())
def test_scrypt(data: st.DataObject) -> None:
    password = data.draw(passwords)
    encoding = data.draw(st.sampled_from(PASSWORD_ENCODINGS))
    cost = 2 ** data.draw(st.integers(1, 10))
    block_size = data.draw(st.integers(1, 8))
    parallelization = data.draw(st.integers(1, 3))
    keylen = data.draw(st.integers(1, 80))
    salt, salt_bytes = data.draw(salts())  # the position plays no part in scrypt
    derived = hashlib.scrypt(
        node_bytes(password, encoding),
        salt=salt_bytes,
        n=cost,
        r=block_size,
        p=parallelization,
        dklen=keylen,
    )
    value, hash_encoding = data.draw(encoded(derived, ["hex", "base64"]))
    cph: dict[str, Any] = {
        "algorithm": "scrypt",
        "hash": {"value": value, "encoding": hash_encoding},
        "keylen": keylen,
        "cost": cost,
        "blockSize": block_size,
        "parallelization": parallelization,
        **password_field(encoding, data),
    }
    if salt is not None:
        cph["salt"] = salt
    assert_signs_in(cph, password)


@given(st.data())
def test_ldap(data: st.DataObject) -> None:
    """Every scheme, salts of 1 to 32 bytes (libpass takes 4 to 16, hashlib the rest), any case."""
    scheme, digest = data.draw(
        st.sampled_from(
            [
                ("MD5", "md5"),
                ("SHA", "sha1"),
                ("SHA256", "sha256"),
                ("SHA384", "sha384"),
                ("SHA512", "sha512"),
            ]
        )
    )
    password = data.draw(passwords)
    salt = data.draw(st.one_of(st.none(), st.binary(min_size=1, max_size=32)))
    raw = node_bytes(password, "utf8")
    if salt is None:
        body = hashlib.new(digest, raw).digest()
    else:
        scheme = "S" + scheme
        body = hashlib.new(digest, raw + salt).digest() + salt
    shown = data.draw(st.sampled_from([scheme, scheme.lower()]))
    cph = {"algorithm": "ldap", "hash": {"value": f"{{{shown}}}{base64.b64encode(body).decode()}"}}
    assert_signs_in(cph, password)


@given(st.data())
def test_bcrypt(data: st.DataObject) -> None:
    """bcrypt reads the first 72 bytes of salt and password joined."""
    password = data.draw(
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=80)
    )
    encoding = data.draw(st.sampled_from(["ascii", "utf8", "latin1", "binary"]))
    salt, salt_bytes = data.draw(salts().filter(lambda s: b"\x00" not in s[1]))
    ident = data.draw(st.sampled_from([b"2a", b"2b"]))
    joined = join(salt, salt_bytes, node_bytes(password, encoding))[:72]
    value = bcrypt.hashpw(joined, bcrypt.gensalt(4, prefix=ident)).decode()
    if data.draw(st.booleans()):
        value = value.replace("$2b$", "$2y$")  # PHP's name for the same algorithm
    cph: dict[str, Any] = {
        "algorithm": "bcrypt",
        "hash": {"value": value},
        **password_field(encoding, data),
    }
    if salt is not None:
        cph["salt"] = salt
    assert imported.custom_password_hash_problems(cph) == []
    stored = imported.stored_hash({"custom_password_hash": cph})
    assert stored is not None
    assert imported.verify(password.encode(), stored)
    if len(salt_bytes) + len(password) < 72:  # past 72 bytes, a longer password still matches
        assert not imported.verify((password + "x").encode(), stored)


@given(st.data())
def test_argon2(data: st.DataObject) -> None:
    password = data.draw(passwords)
    encoding = data.draw(st.sampled_from(PASSWORD_ENCODINGS))
    kind = data.draw(st.sampled_from([argon2.low_level.Type.I, argon2.low_level.Type.ID]))
    lanes = data.draw(st.integers(1, 2))
    value = argon2.low_level.hash_secret(
        node_bytes(password, encoding),
        data.draw(st.binary(min_size=8, max_size=16)),
        time_cost=data.draw(st.integers(1, 2)),
        memory_cost=8 * lanes * data.draw(st.integers(1, 4)),
        parallelism=lanes,
        hash_len=data.draw(st.integers(16, 32)),
        type=kind,
    ).decode()
    cph = {"algorithm": "argon2", "hash": {"value": value}, **password_field(encoding, data)}
    assert_signs_in(cph, password)


# -- shape errors ------------------------------------------------------------------------------

MD5 = {"algorithm": "md5", "hash": {"value": "5f4dcc3b5aa765d61d8327deb882cf99", "encoding": "hex"}}
ARGON2 = BY_ID["argon2i"].value["hash"]["value"]
PBKDF2_SHA256 = BY_ID["pbkdf2-sha256"].value["hash"]["value"]
BCRYPT = BY_ID["bcrypt-docs-hello"].value["hash"]["value"]
R = "custom_password_hash"


def cph(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``base`` with top-level keys changed; a value of None removes the key."""
    changed: dict[str, Any] = json.loads(json.dumps(base))
    for key, value in changes.items():
        if value is None:
            changed.pop(key, None)
        else:
            changed[key] = value
    return changed


def hashed(algorithm: str, value: object, **hash_fields: Any) -> dict[str, Any]:
    return {"algorithm": algorithm, "hash": {"value": value, **hash_fields}}


V = f"{R}.hash.value"
SCRYPT = hashed("scrypt", "00" * 32, encoding="hex")
OVER_1_GIB = "greater than maximum 1073741824"
LDAP_SCHEMES = "MD5, SMD5, SHA, SSHA, SHA256, SSHA256, SHA384, SSHA384, SHA512, SSHA512"


def bad(name: str, reason: str) -> str:
    return f"Object didn't pass validation for format {name}: {reason}"


def formats(algorithm: str, cases: list[tuple[str, list[str]]], **fields: Any) -> list[Any]:
    """Shape errors of hash.value strings: (value, the reasons reported for it)."""
    return [
        (
            hashed(algorithm, value, **fields),
            [("INVALID_FORMAT", V, bad(algorithm, r)) for r in why],
        )
        for value, why in cases
    ]


def one(code: str, path: str, text: str) -> list[tuple[str, str, str]]:
    return [(code, path, text)]


#: (custom_password_hash, [(code, path, text after "Error in <path> property - ")]).
SHAPE_ERRORS: list[tuple[Any, list[tuple[str, str, str]]]] = [
    # Auth0's schema, in z-schema's words and order
    ("md5", one("INVALID_TYPE", R, "Expected type object but found type string")),
    (
        {},
        [
            ("OBJECT_REQUIRED", R, "Missing required property: hash"),
            ("OBJECT_REQUIRED", R, "Missing required property: algorithm"),
        ],
    ),
    (
        cph(MD5, rounds=2, salt_prefix="x"),
        one(
            "OBJECT_ADDITIONAL_PROPERTIES",
            R,
            "Additional properties not allowed: rounds,salt_prefix",
        ),
    ),
    (cph(MD5, algorithm="sha3"), one("ENUM_MISMATCH", f"{R}.algorithm", "No enum match for: sha3")),
    (
        cph(MD5, algorithm=5),
        one("INVALID_TYPE", f"{R}.algorithm", "Expected type string but found type integer"),
    ),
    (
        cph(MD5, hash="abc"),
        one("INVALID_TYPE", f"{R}.hash", "Expected type object but found type string"),
    ),
    (
        hashed("md5", "00", encoding="utf16"),
        one("ENUM_MISMATCH", f"{R}.hash.encoding", "No enum match for: utf16"),
    ),
    (hashed("md5", 12), one("INVALID_TYPE", V, "Expected type string but found type integer")),
    (
        hashed("hmac", "00", encoding="hex", digest="sha3", key={"value": "k"}),
        one("ENUM_MISMATCH", f"{R}.hash.digest", "No enum match for: sha3"),
    ),
    (
        hashed("hmac", "00", encoding="hex", digest="md5", key={"encoding": "hex"}),
        one("OBJECT_REQUIRED", f"{R}.hash.key", "Missing required property: value"),
    ),
    (
        hashed("hmac", "00", encoding="hex", digest="md5", key={"value": "k", "encoding": "b32"}),
        one("ENUM_MISMATCH", f"{R}.hash.key.encoding", "No enum match for: b32"),
    ),
    (
        cph(MD5, salt={"position": "prefix"}),
        one("OBJECT_REQUIRED", f"{R}.salt", "Missing required property: value"),
    ),
    (
        cph(MD5, salt={"value": "s", "position": "mid"}),
        one("ENUM_MISMATCH", f"{R}.salt.position", "No enum match for: mid"),
    ),
    (
        cph(MD5, salt={"value": "s", "encoding": "binary"}),
        one("ENUM_MISMATCH", f"{R}.salt.encoding", "No enum match for: binary"),
    ),
    (
        cph(MD5, password={"encoding": "utf32"}),
        one("ENUM_MISMATCH", f"{R}.password.encoding", "No enum match for: utf32"),
    ),
    (
        cph(MD5, password="utf8"),
        one("INVALID_TYPE", f"{R}.password", "Expected type object but found type string"),
    ),
    (
        cph(MD5, keylen="32"),
        one("INVALID_TYPE", f"{R}.keylen", "Expected type integer but found type string"),
    ),
    (
        cph(MD5, cost=1.5),
        one("INVALID_TYPE", f"{R}.cost", "Expected type integer but found type number"),
    ),
    (
        cph(MD5, blockSize=True),
        one("INVALID_TYPE", f"{R}.blockSize", "Expected type integer but found type boolean"),
    ),
    (
        cph(MD5, salt={"value": "\ud800"}),
        one(
            "INVALID_FORMAT",
            f"{R}.salt.value",
            "String contains a lone surrogate, which is not valid Unicode",
        ),
    ),
    (  # every problem, the object's keys last to first
        {"algorithm": "sha3", "hash": {"encoding": "b32"}, "extra": 1},
        [
            ("OBJECT_ADDITIONAL_PROPERTIES", R, "Additional properties not allowed: extra"),
            ("ENUM_MISMATCH", f"{R}.hash.encoding", "No enum match for: b32"),
            ("ENUM_MISMATCH", f"{R}.algorithm", "No enum match for: sha3"),
        ],
    ),
    # every algorithm needs hash.value
    (
        {"algorithm": "bcrypt", "hash": {}},
        one("OBJECT_REQUIRED", f"{R}.hash", "Missing required property: value"),
    ),
    # md4, md5, sha*: hex or base64 of the digest's size
    (
        hashed("md5", "00" * 16),
        one("OBJECT_REQUIRED", f"{R}.hash", "Missing required property: encoding"),
    ),
    (
        hashed("sha1", "00" * 20, encoding="utf8"),
        one("ENUM_MISMATCH", f"{R}.hash.encoding", "No enum match for: utf8"),
    ),
    (
        hashed("md5", "0" * 31, encoding="hex"),
        one("INVALID_FORMAT", V, bad("hex", "the value does not decode")),
    ),
    (
        hashed("md5", "00 " * 16, encoding="hex"),
        one("INVALID_FORMAT", V, bad("hex", "the value does not decode")),
    ),
    (
        hashed("md5", "X19fX19fX19fX19fX19fXw=", encoding="base64"),
        one("INVALID_FORMAT", V, bad("base64", "the value does not decode")),
    ),
    (
        hashed("md5", "X19f*19fX19fX19fX19fXw", encoding="base64"),
        one("INVALID_FORMAT", V, bad("base64", "the value does not decode")),
    ),
    (
        hashed("sha256", "00" * 16, encoding="hex"),
        one("INVALID_FORMAT", V, bad("sha256", "32 bytes expected, found 16")),
    ),
    (
        cph(MD5, salt={"value": "abc", "encoding": "hex"}),
        one("INVALID_FORMAT", f"{R}.salt.value", bad("hex", "the value does not decode")),
    ),
    # hmac: digest and key required
    (
        hashed("hmac", "00" * 16, encoding="hex"),
        [
            ("OBJECT_REQUIRED", f"{R}.hash", "Missing required property: digest"),
            ("OBJECT_REQUIRED", f"{R}.hash", "Missing required property: key"),
        ],
    ),
    (
        hashed(
            "hmac",
            "00" * 16,
            encoding="hex",
            digest="sha1",
            key={"value": "a2V5", "encoding": "base64"},
        ),
        one("INVALID_FORMAT", V, bad("hmac-sha1", "20 bytes expected, found 16")),
    ),
    (
        hashed(
            "hmac",
            "00" * 16,
            encoding="hex",
            digest="md5",
            key={"value": "k!", "encoding": "base64"},
        ),
        one("INVALID_FORMAT", f"{R}.hash.key.value", bad("base64", "the value does not decode")),
    ),
    # scrypt: keylen required; cost, blockSize, parallelization in range
    (SCRYPT, one("OBJECT_REQUIRED", R, "Missing required property: keylen")),
    (
        cph(SCRYPT, keylen=0, cost=1000, blockSize=0, parallelization=17),
        [
            ("MINIMUM", f"{R}.keylen", "Value 0 is less than minimum 1"),
            ("INVALID_FORMAT", f"{R}.cost", "Value 1000 is not a power of two"),
            ("MINIMUM", f"{R}.blockSize", "Value 0 is less than minimum 1"),
            ("MAXIMUM", f"{R}.parallelization", "Value 17 is greater than maximum 16"),
            ("INVALID_FORMAT", V, bad("scrypt", "0 bytes expected, found 32")),
        ],
    ),
    (cph(SCRYPT, keylen=32, cost=1), one("MINIMUM", f"{R}.cost", "Value 1 is less than minimum 2")),
    (
        cph(SCRYPT, keylen=32, cost=2**21),
        [
            ("MAXIMUM", f"{R}.cost", "Value 2097152 is greater than maximum 1048576"),
            ("MAXIMUM", R, "128 * cost * blockSize is 2147483648 bytes, " + OVER_1_GIB),
        ],
    ),
    (
        cph(SCRYPT, keylen=32, cost=2**20, blockSize=16),
        one(
            "MAXIMUM",
            R,
            "128 * cost * blockSize is 2147483648 bytes, " + OVER_1_GIB,
        ),
    ),
    (
        cph(SCRYPT, keylen=16),
        one("INVALID_FORMAT", V, bad("scrypt", "16 bytes expected, found 32")),
    ),
    # bcrypt
    (
        hashed("bcrypt", BCRYPT, encoding="hex"),
        one("ENUM_MISMATCH", f"{R}.hash.encoding", "No enum match for: hex"),
    ),
    *formats(
        "bcrypt",
        [
            (BCRYPT.replace("$2b$", "$2x$"), ["$2x$ is not supported ($2a$, $2b$, $2y$ only)"]),
            (BCRYPT.replace("$2b$", "$2$"), ["$2$ is not supported ($2a$, $2b$, $2y$ only)"]),
            (
                "$sha1$40000$jtNX3nZ2$hBNaIXkt4wBI2o5rsi8KejSjNqIq",
                ["$2<a|b|y>$<cost>$ then 53 characters of ./A-Za-z0-9"],
            ),
            (BCRYPT.replace("$10$", "$03$"), ["cost 3 is not supported (4 to 31)"]),
            (BCRYPT.replace("$10$", "$32$"), ["cost 32 is not supported (4 to 31)"]),
            (BCRYPT[:28] + "f" + BCRYPT[29:], ["its last salt or hash character sets unused bits"]),
            (BCRYPT[:-1] + "L", ["its last salt or hash character sets unused bits"]),
        ],
    ),
    (
        cph(
            hashed("bcrypt", BCRYPT),
            password={"encoding": "utf16le"},
            salt={"value": "00ff", "encoding": "hex"},
        ),
        [
            (
                "INVALID_FORMAT",
                f"{R}.password.encoding",
                bad("bcrypt", "bcrypt cannot take utf16le passwords (NUL bytes)"),
            ),
            (
                "INVALID_FORMAT",
                f"{R}.salt.value",
                bad("bcrypt", "bcrypt cannot take a salt with NUL bytes"),
            ),
        ],
    ),
    # argon2: libsodium's rules
    (
        cph(hashed("argon2", ARGON2), salt={"value": "s"}),
        one("OBJECT_ADDITIONAL_PROPERTIES", R, "Additional properties not allowed: salt"),
    ),
    (
        hashed("argon2", ARGON2, encoding="base64"),
        one("ENUM_MISMATCH", f"{R}.hash.encoding", "No enum match for: base64"),
    ),
    *formats(
        "argon2",
        [
            (
                ARGON2.replace("$argon2i$", "$argon2d$"),
                ["$argon2d$ is not supported ($argon2i$ or $argon2id$ only)"],
            ),
            (ARGON2.replace("$v=19", ""), ["the version must be v=19"]),
            (
                ARGON2.replace("m=4096", "m=04096"),
                ["$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash> expected"],
            ),
            (
                ARGON2.replace("m=4096,t=3,p=1", "m=2097152,t=0,p=65"),
                ["p must be 1 to 64", "m must be 8 * p to 1048576", "t must be 1 to 64"],
            ),
            (ARGON2.replace("m=4096,t=3,p=1", "m=15,t=1,p=2"), ["m must be 8 * p to 1048576"]),
            (
                ARGON2.replace("ZGVmZ2hpamtsbW5vcHFycw", "c2FsdHk"),
                ["the salt must have at least 8 bytes and the hash 16"],
            ),
            (ARGON2 + "==", ["salt and hash must be unpadded base64"]),
            (ARGON2[:-1] + "d", ["salt and hash must be unpadded base64"]),  # stray low bits
        ],
    ),
    # ldap
    *formats(
        "ldap",
        [
            ("{CRYPT}$1$abc$def", ["the {CRYPT} scheme is not supported"]),
            (
                "{SHA1}qykyzzm4X/9BM+4Q1saIJvVVmV8=",
                ["{<scheme>}<base64> expected, scheme one of " + LDAP_SCHEMES],
            ),
            (
                "qykyzzm4X/9BM+4Q1saIJvVVmV8=",
                ["{<scheme>}<base64> expected, scheme one of " + LDAP_SCHEMES],
            ),
            ("{SHA}qykyzzm4X/9BM+4Q1saIJvVVmV8=AA", ["the value after the scheme is not base64"]),
            ("{SHA}qykyzzm4X/9BM+4Q1saIJvVVmV8AAA==", ["{SHA} needs 20 bytes, found 22"]),
            ("{SSHA}qykyzzm4X/9BM+4Q1saIJvVVmV8=", ["{SSHA} needs more than 20 bytes, found 20"]),
        ],
    ),
    (
        cph(hashed("ldap", LDAP_VALUES[0]), salt={"value": "s"}),
        one("OBJECT_ADDITIONAL_PROPERTIES", R, "Additional properties not allowed: salt"),
    ),
    # pbkdf2
    *formats(
        "pbkdf2",
        [
            (
                "pbkdf2_sha256$260000$salt$hash",
                ["$pbkdf2-<digest>$i=<iterations>,l=<keylen>$<salt>$<hash> expected"],
            ),
            (PBKDF2_SHA256.replace("sha256", "sha3-256"), ["unknown digest sha3-256"]),
            (
                PBKDF2_SHA256.replace("i=10000,l=32", "i=10000,l=32,i=5"),
                ["parameters must be i=<iterations>,l=<keylen>, each once"],
            ),
            (
                PBKDF2_SHA256.replace("i=10000,l=32", "r=8"),
                ["parameters must be i=<iterations>,l=<keylen>, each once"],
            ),
            (
                PBKDF2_SHA256.replace("i=10000,l=32", "i=010000,l=32"),
                ["parameters must be i=<iterations>,l=<keylen>, each once"],
            ),
            (
                PBKDF2_SHA256.replace("i=10000,l=32", "i=0,l=0"),
                [
                    "i must be 1 to 10000000",
                    "l must be at least 1",
                    "l=0 but the hash has 32 bytes",
                ],
            ),
            (PBKDF2_SHA256.replace("i=10000,l=32", "i=10000001,l=32"), ["i must be 1 to 10000000"]),
            (
                PBKDF2_SHA256.replace("i=10000,l=32", "i=10000"),
                ["l=64 but the hash has 32 bytes"],
            ),  # l: 64 by default
            (PBKDF2_SHA256.replace("$4TYK", "$*TYK"), ["salt and hash must be base64"]),
        ],
    ),
    (
        hashed("pbkdf2", PBKDF2_SHA256.replace("$pbkdf2-sha256$", "$pbkdf2-mdc2$")),
        one("UNSUPPORTED_HASH", V, "mdc2 is not supported: neither OpenSSL nor a package has it"),
    ),
    (
        cph(hashed("pbkdf2", PBKDF2_SHA256), salt={"value": "s"}),
        one("OBJECT_ADDITIONAL_PROPERTIES", R, "Additional properties not allowed: salt"),
    ),
]


@pytest.mark.parametrize(("value", "expected"), SHAPE_ERRORS)
def test_shape_errors(value: Any, expected: list[tuple[str, str, str]]) -> None:
    problems = imported.custom_password_hash_problems(value)
    assert [(p.code, p.path, p.message) for p in problems] == [
        (code, path, f"Error in {path} property - {text}") for code, path, text in expected
    ]
    assert [p.as_dict() for p in problems] == [
        {"code": code, "message": f"Error in {path} property - {text}", "path": path}
        for code, path, text in expected
    ]
    with pytest.raises(ValueError, match=r"^Error in "):
        imported.stored_hash({"custom_password_hash": value})


PATTERN = r"^\$2[ab]?\$10+\$[./A-Za-z0-9]{53}$"
TOP = BY_ID["password_hash-2b"].value


@pytest.mark.parametrize(
    ("value", "code", "text"),
    [
        (12, "INVALID_TYPE", "Expected type string but found type integer"),
        (None, "INVALID_TYPE", "Expected type string but found type null"),
        (TOP.replace("$2b$", "$2y$"), "PATTERN", f"String does not match pattern {PATTERN}"),
        (TOP.replace("$10$", "$12$"), "PATTERN", f"String does not match pattern {PATTERN}"),
        (TOP[:-1], "PATTERN", f"String does not match pattern {PATTERN}"),
        (TOP + "\n", "PATTERN", f"String does not match pattern {PATTERN}"),
        (  # the pattern lets $2$ through; no bcrypt verifies it
            TOP.replace("$2b$", "$2$"),
            "INVALID_FORMAT",
            bad("bcrypt", "$2$ is not supported ($2a$, $2b$ only)"),
        ),
        (  # and cost 100
            TOP.replace("$10$", "$100$"),
            "INVALID_FORMAT",
            "Object didn't pass validation for format bcrypt: "
            "$2<a|b|y>$<cost>$ then 53 characters of ./A-Za-z0-9",
        ),
        (
            TOP[:-1] + "X",
            "INVALID_FORMAT",
            "Object didn't pass validation for format bcrypt: "
            "its last salt or hash character sets unused bits",
        ),
    ],
)
def test_password_hash_errors(value: object, code: str, text: str) -> None:
    problems = imported.password_problems({"password_hash": value})
    assert problems == [
        imported.HashProblem(code, f"Error in passwordHash property - {text}", "passwordHash")
    ]


def test_the_password_hash_pattern_is_auth0s() -> None:
    assert imported.PASSWORD_HASH_PATTERN == PATTERN
    message = imported.password_hash_problems("$2y$10$x")[0].message
    assert message == (
        "Error in passwordHash property - String does not match pattern "
        "^\\$2[ab]?\\$10+\\$[./A-Za-z0-9]{53}$"
    )


def test_both_password_fields_are_forbidden_together() -> None:
    user = {"password_hash": TOP, "custom_password_hash": MD5}
    problems = imported.password_problems(user)
    assert [p.as_dict() for p in problems] == [
        {"code": "NOT_PASSED", "message": "Forbidden attribute in appUser: "}
    ]
    with pytest.raises(ValueError, match="Forbidden attribute"):
        imported.stored_hash(user)


def test_a_user_without_a_hash_stores_none() -> None:
    assert imported.password_problems({"email": "a@example.com"}) == []
    assert imported.stored_hash({"email": "a@example.com"}) is None
    assert imported.exported_hash(None) is None


# -- secrets stay out of messages, reprs and logs ------------------------------------------------

SECRET = "S3cret:Hash!Value-0f-a-User"


@pytest.mark.parametrize(
    "value",
    [
        hashed("md5", SECRET, encoding="hex"),
        hashed("md5", SECRET, encoding="base64"),
        hashed("sha256", SECRET + "==", encoding="base64"),
        hashed("bcrypt", SECRET),
        hashed("argon2", SECRET),
        hashed("ldap", "{SSHA}" + SECRET),
        hashed("pbkdf2", "$pbkdf2-sha256$" + SECRET),
        hashed(
            "hmac", "00", encoding="hex", digest="md5", key={"value": SECRET, "encoding": "hex"}
        ),
        cph(MD5, salt={"value": SECRET, "encoding": "hex"}),
    ],
)
def test_problems_never_show_a_hash_salt_or_key(value: dict[str, Any]) -> None:
    problems = imported.custom_password_hash_problems(value)
    assert problems
    assert not any(SECRET in p.message or SECRET in repr(p) for p in problems)
    with pytest.raises(ValueError, match=r"^Error in ") as raised:
        imported.stored_hash({"custom_password_hash": value})
    assert SECRET not in str(raised.value)


def test_a_stored_hash_masks_like_any_other() -> None:
    stored = imported.stored_hash(
        {"custom_password_hash": hashed("md5", SECRET.encode().hex()[:32], encoding="hex")}
    )
    assert stored is not None
    assert mask_hash(stored) == "$custom" + "*" * (len(stored) - 7)


# -- the stored form -----------------------------------------------------------------------------


def test_stored_form_is_the_prefix_and_canonical_json() -> None:
    value = BY_ID["sha256-salt-b64-suffix-b64"].value
    stored = imported.stored_hash({"custom_password_hash": value})
    assert stored is not None
    assert stored.startswith(imported.STORED_PREFIX)
    assert stored.isascii()
    assert json.loads(stored[len(imported.STORED_PREFIX) :]) == value
    reordered = {key: value[key] for key in reversed(list(value))}
    assert imported.stored_hash({"custom_password_hash": reordered}) == stored
    unicode = cph(MD5, salt={"value": "sél€"})
    stored_unicode = imported.stored_hash({"custom_password_hash": unicode})
    assert stored_unicode is not None
    assert stored_unicode.isascii()  # \u escapes: any backend keeps it
    assert imported.exported_hash(stored_unicode) == ("custom_password_hash", unicode)


def test_no_libpass_scheme_takes_a_stored_hash_for_its_own() -> None:
    stored = imported.stored_hash(BY_ID["md5-unsalted-b64"].user)
    assert stored is not None
    for name in list_crypt_handlers():
        handler = get_crypt_handler(name)
        if handler.identify("plain text, not a hash"):
            continue  # plaintext schemes take any string: no context of identitystore has them
        assert not handler.identify(stored), name
    assert HASHER.context.identify(stored) is None


@pytest.mark.parametrize(
    "stored",
    [
        imported.STORED_PREFIX,
        imported.STORED_PREFIX + "{not json",
        imported.STORED_PREFIX + "[]",
        imported.STORED_PREFIX + json.dumps(hashed("md5", "00", encoding="hex")),
        imported.STORED_PREFIX + json.dumps({"algorithm": "md5"}),
    ],
)
def test_a_damaged_stored_hash_is_a_mismatch_not_a_crash(stored: str) -> None:
    assert HASHER.verify(b"password", stored) is False
    assert HASHER.needs_update(stored) is True


def test_needs_update_is_true_for_every_stored_custom_hash() -> None:
    for vector in VECTORS:
        if vector.field == "custom_password_hash":
            stored = imported.stored_hash(vector.user)
            assert stored is not None
            assert PasswordHasher.fast_for_tests().needs_update(stored)


# -- export --------------------------------------------------------------------------------------


def test_native_hashes_export_in_a_form_the_import_takes_back() -> None:
    cost_10 = HASHER.hash(b"Native-Pass-1")
    assert imported.exported_hash(cost_10) == ("password_hash", cost_10)
    cost_4 = PasswordHasher.fast_for_tests().hash(b"Native-Pass-1")
    argon = PasswordHasher.argon2id(time_cost=1, memory_cost=8192, parallelism=4).hash(
        b"Native-Pass-1"
    )
    for native, algorithm in ((cost_4, "bcrypt"), (argon, "argon2")):
        exported = imported.exported_hash(native)
        assert exported == (
            "custom_password_hash",
            {"algorithm": algorithm, "hash": {"value": native, "encoding": "utf8"}},
        )
        again = imported.stored_hash({"custom_password_hash": exported[1]})
        assert again is not None
        assert HASHER.verify(b"Native-Pass-1", again)
        assert not HASHER.verify(b"Native-Pass-2", again)
    assert imported.exported_hash("plain") is None
    assert imported.exported_hash("$pbkdf2-sha256$29000$abc$def") is None


# -- optional packages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "vector_id", "extra"),
    [
        ("whirlpool", "hmac-whirlpool", "legacy-hashes"),
        ("Crypto.Hash", "md4-b64", "legacy-hashes"),
        ("argon2", "argon2id", "argon2"),
    ],
)
def test_a_missing_package_is_named(
    monkeypatch: pytest.MonkeyPatch, module: str, vector_id: str, extra: str
) -> None:
    vector = BY_ID[vector_id]
    stored = imported.stored_hash(vector.user)
    assert stored is not None
    if module == "Crypto.Hash" and "md4" in hashlib.algorithms_available:
        pytest.skip("this OpenSSL has md4: no package is needed")
    monkeypatch.setitem(sys.modules, module, None)  # what an uninstalled package looks like
    problems = imported.custom_password_hash_problems(vector.value)
    assert [p.code for p in problems] == ["MISSING_PACKAGE"]
    assert f"pip install 'identitystore[{extra}]'" in problems[0].message
    with pytest.raises(ImportError, match=rf"identitystore\[{extra}\]"):
        HASHER.verify(vector.password.encode(), stored)
