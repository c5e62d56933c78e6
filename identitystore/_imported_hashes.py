"""Password hashes made elsewhere: Auth0's ``password_hash`` and ``custom_password_hash``.

Checks their shape with Auth0's error codes and texts, verifies a password against them with
Node's byte rules (docs/import-export.md#algorithms), and defines how they are kept in the
``password_hash`` column and given back for export.

Stored form. A ``password_hash`` (bcrypt ``$2a$10$``/``$2b$10$``) is stored as given: it is an
ordinary bcrypt hash. A ``custom_password_hash`` object is stored as ``STORED_PREFIX`` followed by
the object as canonical JSON (sorted keys, no spaces, ASCII only), e.g.
``$custom_password_hash$v=1${"algorithm":"md5","hash":{...}}``. No libpass scheme identifies that
string, so it can never verify as, or be taken for, a native hash; ``json.loads`` of the part after
the prefix is the imported object again, for export.

Verification (`verify`): libpass for bcrypt, argon2 and the LDAP schemes it knows; ``hashlib`` and
``hmac`` for salted digests, HMAC, PBKDF2 and scrypt; pycryptodome for MD4 and the ``whirlpool``
package for Whirlpool where OpenSSL 3 has turned them off (extra ``legacy-hashes``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ._jsonschema import has_lone_surrogate, js_regex, json_type

__all__ = [
    "PASSWORD_HASH_PATTERN",
    "STORED_PREFIX",
    "HashProblem",
    "custom_password_hash_problems",
    "exported_hash",
    "is_imported",
    "password_hash_problems",
    "password_problems",
    "stored_hash",
    "verify",
]

#: What Auth0 enforces on a users file's top-level ``password_hash`` (a JS pattern).
PASSWORD_HASH_PATTERN = r"^\$2[ab]?\$10+\$[./A-Za-z0-9]{53}$"
#: How a stored ``custom_password_hash`` starts in the ``password_hash`` column.
STORED_PREFIX = "$custom_password_hash$v=1$"

_ROOT = "custom_password_hash"
_VALUE = f"{_ROOT}.hash.value"
_LEGACY_EXTRA = "pip install 'identitystore[legacy-hashes]'"
#: Digests OpenSSL 3 may lack -> the PyPI package that has them.
_PACKAGES = {"md4": "pycryptodome", "ripemd160": "pycryptodome", "whirlpool": "whirlpool"}
#: Codes of hashes this machine cannot verify (identitystore's own; see docs/decisions.md).
_UNSUPPORTED = "UNSUPPORTED_HASH"
_MISSING_PACKAGE = "MISSING_PACKAGE"
_ARGON2_EXTRA = "pip install 'identitystore[argon2]'"

# Limits on the work one sign-in may cost (Auth0 states none; see docs/decisions.md).
_MAX_PBKDF2_ITERATIONS = 10_000_000
_MAX_ARGON2_MEMORY_KIB = 1 << 20  # 1 GiB
_MAX_ARGON2_PASSES = 64
_MAX_ARGON2_LANES = 64
_MAX_SCRYPT_MEMORY = 1 << 30  # bytes: 128 * cost * blockSize
_MAX_SCRYPT_PARALLELIZATION = 16

#: Output sizes of the digests Auth0 names.
_DIGEST_SIZES = {
    "md4": 16,
    "md5": 16,
    "ripemd160": 20,
    "sha1": 20,
    "sha224": 28,
    "sha256": 32,
    "sha384": 48,
    "sha512": 64,
    "whirlpool": 64,
}
_ENCODINGS = ["base64", "hex", "utf8"]
_ENCODING = {"type": "string", "enum": _ENCODINGS}
#: Auth0's published JSON schema of ``custom_password_hash`` (types, enums, required keys).
_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["algorithm", "hash"],
    "properties": {
        "algorithm": {
            "type": "string",
            "enum": "argon2 bcrypt hmac ldap md4 md5 sha1 sha256 sha512 pbkdf2 scrypt".split(),
        },
        "hash": {
            "type": "object",
            "properties": {
                "value": {"type": "string"},
                "encoding": _ENCODING,
                "digest": {
                    "type": "string",
                    "enum": list(_DIGEST_SIZES),
                },
                "key": {
                    "type": "object",
                    "required": ["value"],
                    "properties": {"value": {"type": "string"}, "encoding": _ENCODING},
                },
            },
        },
        "salt": {
            "type": "object",
            "required": ["value"],
            "properties": {
                "value": {"type": "string"},
                "encoding": _ENCODING,
                "position": {"type": "string", "enum": ["prefix", "suffix"]},
            },
        },
        "password": {
            "type": "object",
            "properties": {
                "encoding": {
                    "type": "string",
                    "enum": ["ascii", "utf8", "utf16le", "ucs2", "latin1", "binary"],
                }
            },
        },
        "keylen": {"type": "integer"},
        "cost": {"type": "integer"},
        "blockSize": {"type": "integer"},
        "parallelization": {"type": "integer"},
    },
}

#: PBKDF2 digest names Auth0 lists (Node/OpenSSL names, lower-cased) -> digest.
_PBKDF2_DIGESTS = {
    **dict.fromkeys(["md4", "rsa-md4", "md4withrsaencryption"], "md4"),
    **dict.fromkeys(["md5", "rsa-md5", "md5withrsaencryption", "ssl3-md5"], "md5"),
    **dict.fromkeys(["mdc2", "rsa-mdc2", "mdc2withrsa"], "mdc2"),
    **dict.fromkeys(
        ["ripemd160", "ripemd", "rmd160", "rsa-ripemd160", "ripemd160withrsa"], "ripemd160"
    ),
    **dict.fromkeys(
        ["sha1", "rsa-sha1", "rsa-sha1-2", "sha1withrsaencryption", "ssl3-sha1"], "sha1"
    ),
    **{
        name: f"sha{bits}"
        for bits in (224, 256, 384, 512)
        for name in (f"sha{bits}", f"rsa-sha{bits}", f"sha{bits}withrsaencryption")
    },
    "whirlpool": "whirlpool",
}
#: RFC 2307 schemes Auth0 takes -> (digest, salted, the libpass handler that verifies it or "").
#: libpass's salted handlers take salts of 4 to 16 bytes only.
_LDAP_SCHEMES = {
    "MD5": ("md5", False, "ldap_md5"),
    "SMD5": ("md5", True, "ldap_salted_md5"),
    "SHA": ("sha1", False, "ldap_sha1"),
    "SSHA": ("sha1", True, "ldap_salted_sha1"),
    "SHA256": ("sha256", False, ""),
    "SSHA256": ("sha256", True, "ldap_salted_sha256"),
    "SHA384": ("sha384", False, ""),
    "SSHA384": ("sha384", True, ""),
    "SHA512": ("sha512", False, ""),
    "SSHA512": ("sha512", True, "ldap_salted_sha512"),
}

_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*\Z")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}\Z")
_PHC_B64 = re.compile(r"[A-Za-z0-9+/]+\Z")
_DECIMAL = r"(?:0|[1-9][0-9]{0,11})"  # at most 12 digits: far above every limit below
_BCRYPT = re.compile(r"\$(2[abxy]?)\$([0-9]{2})\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})\Z")
_ARGON2 = re.compile(
    rf"\$(argon2(?:id|i|d))(?:\$v=({_DECIMAL}))?\$m=({_DECIMAL}),t=({_DECIMAL}),p=({_DECIMAL})"
    r"\$([^$]*)\$([^$]*)\Z"
)
_PBKDF2 = re.compile(
    r"\$pbkdf2-([A-Za-z0-9-]+)(?:\$([a-z]=[0-9]{1,12}(?:,[a-z]=[0-9]{1,12})*))?\$([^$]*)\$([^$]*)\Z"
)
_LDAP = re.compile(r"\{([A-Za-z0-9]+)\}(.*)\Z", re.DOTALL)

Digest = Callable[[bytes], bytes]
Verifier = Callable[[bytes], bool]


class HashProblem(NamedTuple):
    """One problem of a users-file password field, as an Auth0 import error entry.

    Attributes:
        code: Auth0's error code, e.g. ``ENUM_MISMATCH``.
        message: ``Error in <path> property - <text>``; never shows a hash, salt or key.
        path: the field, e.g. ``custom_password_hash.hash.encoding`` (None for ``NOT_PASSED``).
    """

    code: str
    message: str
    path: str | None

    def as_dict(self) -> dict[str, str]:
        """The entry of ``GET /api/v2/jobs/{id}/errors``: ``code``, ``message`` and ``path``."""
        entry = {"code": self.code, "message": self.message}
        if self.path is not None:
            entry["path"] = self.path
        return entry


def _problem(code: str, text: str, path: str) -> HashProblem:
    return HashProblem(code, f"Error in {path} property - {text}", path)


def _required(name: str, path: str) -> HashProblem:
    return _problem("OBJECT_REQUIRED", f"Missing required property: {name}", path)


def _no_enum_match(value: object, path: str) -> HashProblem:
    return _problem("ENUM_MISMATCH", f"No enum match for: {value}", path)


def _bad_format(name: str, reason: str, path: str = _VALUE) -> HashProblem:
    return _problem(
        "INVALID_FORMAT", f"Object didn't pass validation for format {name}: {reason}", path
    )


# -- the users-file checks ---------------------------------------------------------------------


def password_problems(user: Mapping[str, Any]) -> list[HashProblem]:
    """The problems of a users-file user's ``password_hash`` and ``custom_password_hash``.

    Both at once is Auth0's ``NOT_PASSED`` ``Forbidden attribute in appUser: ``.
    """
    if "password_hash" in user and "custom_password_hash" in user:
        return [HashProblem("NOT_PASSED", "Forbidden attribute in appUser: ", None)]
    if "password_hash" in user:
        return password_hash_problems(user["password_hash"])
    if "custom_password_hash" in user:
        return custom_password_hash_problems(user["custom_password_hash"])
    return []


def password_hash_problems(value: object) -> list[HashProblem]:
    """The problems of a top-level ``password_hash``: Auth0's pattern, then a verifiable bcrypt."""
    path = "passwordHash"  # the name Auth0's messages use for this field
    if not isinstance(value, str):
        return [
            _problem(
                "INVALID_TYPE", f"Expected type string but found type {json_type(value)}", path
            )
        ]
    if not js_regex(PASSWORD_HASH_PATTERN).search(value):
        return [_problem("PATTERN", f"String does not match pattern {PASSWORD_HASH_PATTERN}", path)]
    problems: list[HashProblem] = []
    _bcrypt_value(value, problems, path, idents=("2a", "2b"), costs=(10,))
    return problems


def custom_password_hash_problems(value: object) -> list[HashProblem]:
    """The problems of a ``custom_password_hash``: Auth0's schema, then its algorithm's rules."""
    return _analyse(value)[0]


# -- storage and export ------------------------------------------------------------------------


def stored_hash(user: Mapping[str, Any]) -> str | None:
    """The ``password_hash`` column value for a users-file user; None when it gives no hash.

    Raises:
        ValueError: the user's password fields have problems (the message shows no secret).
    """
    problems = password_problems(user)
    if problems:
        raise ValueError(problems[0].message)
    if "password_hash" in user:
        return str(user["password_hash"])
    if "custom_password_hash" in user:
        return STORED_PREFIX + _canonical_json(user["custom_password_hash"])
    return None


def is_imported(stored: str) -> bool:
    """Whether a ``password_hash`` column value is a stored ``custom_password_hash``."""
    return stored.startswith(STORED_PREFIX)


def exported_hash(stored: str | None) -> tuple[str, Any] | None:
    """The users-file field that imports ``stored`` back, as ``(name, value)``; None if none does.

    A stored ``custom_password_hash`` gives its object back. A native hash gives
    ``password_hash`` where Auth0's pattern takes it (bcrypt ``$2a$``/``$2b$`` at cost 10), else a
    ``custom_password_hash`` (bcrypt of another cost, argon2i/argon2id), else None.
    """
    if stored is None:
        return None
    if is_imported(stored):
        return "custom_password_hash", json.loads(stored[len(STORED_PREFIX) :])
    if not password_hash_problems(stored):
        return "password_hash", stored
    for algorithm in ("bcrypt", "argon2"):
        custom = {"algorithm": algorithm, "hash": {"value": stored, "encoding": "utf8"}}
        if not custom_password_hash_problems(custom):
            return "custom_password_hash", custom
    return None


def verify(secret: bytes, stored: str) -> bool:
    """Whether ``secret`` (the UTF-8 password) matches a stored ``custom_password_hash``.

    Anything that is not a well-formed stored hash is a mismatch, never an error.

    Raises:
        ImportError: the hash needs an optional package that is not installed (the message names
            the ``pip install`` line).
    """
    if not is_imported(stored):
        return False
    try:
        value = json.loads(stored[len(STORED_PREFIX) :])
    except ValueError:
        return False
    problems, verifier = _analyse(value)
    if verifier is None:
        missing = [p.message for p in problems if p.code == _MISSING_PACKAGE]
        if missing:
            raise ImportError(missing[0])
        return False
    return verifier(secret)


def _canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


# -- the schema walk (z-schema's order: extra keys, required keys, then keys last to first) ----


def _walk(value: object, schema: Mapping[str, Any], path: str, found: list[HashProblem]) -> None:
    actual = json_type(value)
    if actual != schema["type"]:
        found.append(
            _problem(
                "INVALID_TYPE", f"Expected type {schema['type']} but found type {actual}", path
            )
        )
        return
    if "enum" in schema and value not in schema["enum"]:
        found.append(_no_enum_match(value, path))
    if isinstance(value, str) and has_lone_surrogate(value):
        found.append(
            _problem(
                "INVALID_FORMAT",
                "String contains a lone surrogate, which is not valid Unicode",
                path,
            )
        )
    if not isinstance(value, Mapping):
        return
    properties: Mapping[str, Mapping[str, Any]] = schema.get("properties", {})
    if schema.get("additionalProperties", True) is False:
        extra = [str(key) for key in value if key not in properties]
        if extra:
            found.append(
                _problem(
                    "OBJECT_ADDITIONAL_PROPERTIES",
                    f"Additional properties not allowed: {','.join(extra)}",
                    path,
                )
            )
    for name in reversed(schema.get("required", ())):
        if name not in value:
            found.append(_required(name, path))
    for key in reversed(list(value)):
        if key in properties:
            _walk(value[key], properties[key], f"{path}.{key}", found)


# -- the algorithms ----------------------------------------------------------------------------


class _Check:
    """One ``custom_password_hash`` being checked: its parts, and the problems found so far."""

    def __init__(self, value: Mapping[str, Any], found: list[HashProblem]) -> None:
        self.value = value
        self.hash: Mapping[str, Any] = value["hash"]
        self.found = found

    def fail(self, problem: HashProblem) -> None:
        self.found.append(problem)

    def hash_value(self) -> str:
        if "value" not in self.hash:
            self.fail(_required("value", f"{_ROOT}.hash"))
            return ""
        return str(self.hash["value"])

    def text_hash(self) -> str:
        """``hash.value`` of a hash given as text (``hash.encoding`` absent or ``utf8``)."""
        encoding = self.hash.get("encoding", "utf8")
        if encoding != "utf8":
            self.fail(_no_enum_match(encoding, f"{_ROOT}.hash.encoding"))
        return self.hash_value()

    def binary_hash(self, size: int | None, label: str) -> bytes:
        """``hash.value`` decoded from ``hex`` or ``base64``; ``size`` bytes long if given."""
        encoding = self.hash.get("encoding")
        if encoding is None:
            self.fail(_required("encoding", f"{_ROOT}.hash"))
        elif encoding not in ("hex", "base64"):
            self.fail(_no_enum_match(encoding, f"{_ROOT}.hash.encoding"))
        value = self.hash_value()
        if encoding not in ("hex", "base64") or "value" not in self.hash:
            return b""
        decoded = _decode(value, encoding)
        if decoded is None:
            self.fail(_bad_format(encoding, "the value does not decode"))
            return b""
        if size is not None and len(decoded) != size:
            self.fail(_bad_format(label, f"{size} bytes expected, found {len(decoded)}"))
        return decoded

    def salt(self) -> Callable[[bytes], bytes]:
        """How the salt joins the password bytes (``prefix``: salt first)."""
        salt = self.value.get("salt")
        if salt is None:
            return _unsalted
        encoding = salt.get("encoding", "utf8")
        decoded = _decode(salt["value"], encoding)
        if decoded is None:
            self.fail(_bad_format(encoding, "the value does not decode", f"{_ROOT}.salt.value"))
            return _unsalted
        if salt.get("position", "prefix") == "suffix":
            return lambda password: password + decoded
        return lambda password: decoded + password

    def no_salt(self) -> None:
        if "salt" in self.value:
            self.fail(
                _problem(
                    "OBJECT_ADDITIONAL_PROPERTIES", "Additional properties not allowed: salt", _ROOT
                )
            )

    def digest(self, name: str, path: str) -> str | Callable[..., Any] | None:
        """``name`` as ``hmac``/``hashlib`` take it; None (and a problem) if it cannot be had."""
        try:
            return _digest_maker(name)
        except _Unavailable as exc:
            self.fail(_problem(exc.code, str(exc), path))
            return None

    def integer(
        self, name: str, default: int | None, minimum: int, maximum: int | None = None
    ) -> int | None:
        """A number of the object: checked against its bounds, ``default`` when absent."""
        if name not in self.value:
            if default is None:
                self.fail(_required(name, _ROOT))
            return default
        number = int(self.value[name])
        path = f"{_ROOT}.{name}"
        if number < minimum:
            self.fail(_problem("MINIMUM", f"Value {number} is less than minimum {minimum}", path))
        elif maximum is not None and number > maximum:
            self.fail(
                _problem("MAXIMUM", f"Value {number} is greater than maximum {maximum}", path)
            )
        return number


def _unsalted(password: bytes) -> bytes:
    return password


def _analyse(value: object) -> tuple[list[HashProblem], Verifier | None]:
    """The problems of ``value`` and, when there are none, a check of a UTF-8 password."""
    found: list[HashProblem] = []
    _walk(value, _SCHEMA, _ROOT, found)
    if found or not isinstance(value, Mapping):
        return found, None
    verifier = _ALGORITHMS[value["algorithm"]](_Check(value, found))
    if found or verifier is None:
        return found, None
    encoding = _password_encoding(value)

    def verify_utf8(secret: bytes) -> bool:
        password = _password_bytes(secret, encoding)
        return password is not None and verifier(password)

    return found, verify_utf8


def _password_encoding(value: Mapping[str, Any]) -> str:
    return str(value.get("password", {}).get("encoding", "utf8"))


def _digest_algorithm(check: _Check) -> Verifier | None:
    name = check.value["algorithm"]
    expected = check.binary_hash(_DIGEST_SIZES[name], name)
    salted = check.salt()
    maker = check.digest(name, f"{_ROOT}.algorithm")
    if maker is None:
        return None
    digest = _digest_function(maker)
    return lambda password: hmac.compare_digest(digest(salted(password)), expected)


def _hmac_algorithm(check: _Check) -> Verifier | None:
    name = check.hash.get("digest")
    if name is None:
        check.fail(_required("digest", f"{_ROOT}.hash"))
    key_object = check.hash.get("key")
    if key_object is None:
        check.fail(_required("key", f"{_ROOT}.hash"))
        key = None
    else:
        encoding = key_object.get("encoding", "utf8")
        key = _decode(key_object["value"], encoding)
        if key is None:
            check.fail(
                _bad_format(encoding, "the value does not decode", f"{_ROOT}.hash.key.value")
            )
    expected = check.binary_hash(_DIGEST_SIZES.get(name or ""), f"hmac-{name}")
    salted = check.salt()
    maker = check.digest(name, f"{_ROOT}.hash.digest") if name is not None else None
    if maker is None or key is None:
        return None
    return lambda password: hmac.compare_digest(
        hmac.new(key, salted(password), maker).digest(), expected
    )


def _scrypt_algorithm(check: _Check) -> Verifier | None:
    keylen = check.integer("keylen", None, 1)
    cost = check.integer("cost", 16384, 2, 1 << 20) or 16384
    if cost >= 2 and cost & (cost - 1):
        check.fail(
            _problem("INVALID_FORMAT", f"Value {cost} is not a power of two", f"{_ROOT}.cost")
        )
    block_size = check.integer("blockSize", 8, 1) or 8
    parallelization = check.integer("parallelization", 1, 1, _MAX_SCRYPT_PARALLELIZATION) or 1
    if 128 * cost * block_size > _MAX_SCRYPT_MEMORY:
        check.fail(
            _problem(
                "MAXIMUM",
                f"128 * cost * blockSize is {128 * cost * block_size} bytes, "
                f"greater than maximum {_MAX_SCRYPT_MEMORY}",
                _ROOT,
            )
        )
    expected = check.binary_hash(keylen, "scrypt")
    salt = check.salt()(b"")  # Node's scrypt takes the salt apart: its position plays no part
    if check.found or keylen is None:
        return None
    memory = 128 * block_size * (cost + parallelization + 2)  # what OpenSSL allocates

    def verify_scrypt(password: bytes) -> bool:
        derived = hashlib.scrypt(
            password,
            salt=salt,
            n=cost,
            r=block_size,
            p=parallelization,
            maxmem=memory,
            dklen=keylen,
        )
        return hmac.compare_digest(derived, expected)

    return verify_scrypt


def _bcrypt_algorithm(check: _Check) -> Verifier | None:
    value = check.text_hash()
    salted = check.salt()
    encoding = _password_encoding(check.value)
    if encoding in ("utf16le", "ucs2"):
        check.fail(
            _bad_format(
                "bcrypt",
                f"bcrypt cannot take {encoding} passwords (NUL bytes)",
                f"{_ROOT}.password.encoding",
            )
        )
    if b"\x00" in salted(b""):
        check.fail(
            _bad_format("bcrypt", "bcrypt cannot take a salt with NUL bytes", f"{_ROOT}.salt.value")
        )
    if "value" in check.hash:
        _bcrypt_value(value, check.found, _VALUE, idents=("2a", "2b", "2y"), costs=range(4, 32))
    if check.found:
        return None

    def verify_bcrypt(password: bytes) -> bool:
        from passlib.hash import bcrypt

        try:
            return bool(bcrypt.verify(salted(password)[:72], value))
        except ValueError:  # NUL bytes, from a latin1 password holding U+0100 say
            return False

    return verify_bcrypt


def _bcrypt_value(
    value: str,
    found: list[HashProblem],
    path: str,
    *,
    idents: tuple[str, ...],
    costs: range | tuple[int, ...],
) -> None:
    """Check a bcrypt string: one of ``idents``, a cost in ``costs``, canonical salt and hash."""
    match = _BCRYPT.match(value)
    if match is None:
        found.append(
            _bad_format("bcrypt", "$2<a|b|y>$<cost>$ then 53 characters of ./A-Za-z0-9", path)
        )
        return
    ident, cost, salt, checksum = match.groups()
    if ident not in idents:
        shown = ", ".join(f"${i}$" for i in idents)
        found.append(_bad_format("bcrypt", f"${ident}$ is not supported ({shown} only)", path))
    if int(cost) not in costs:
        found.append(
            _bad_format("bcrypt", f"cost {int(cost)} is not supported ({_span(costs)})", path)
        )
    # Unused low bits must be zero, as every bcrypt writes them (libpass would warn otherwise).
    if _BCRYPT_ALPHABET.index(salt[-1]) % 16 or _BCRYPT_ALPHABET.index(checksum[-1]) % 4:
        found.append(
            _bad_format("bcrypt", "its last salt or hash character sets unused bits", path)
        )


_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _span(values: range | tuple[int, ...]) -> str:
    return f"{values[0]} to {values[-1]}" if len(values) > 1 else f"{values[0]} only"


def _argon2_algorithm(check: _Check) -> Verifier | None:
    value = check.text_hash()
    check.no_salt()
    if "value" not in check.hash:
        return None
    match = _ARGON2.match(value)
    if match is None:
        check.fail(
            _bad_format(
                "argon2", "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash> expected"
            )
        )
        return None
    variant, version, memory, passes, lanes, salt, digest = match.groups()
    reasons = []
    if variant == "argon2d":
        reasons.append("$argon2d$ is not supported ($argon2i$ or $argon2id$ only)")
    if version != "19":
        reasons.append("the version must be v=19")
    m, t, p = int(memory), int(passes), int(lanes)
    if not 1 <= p <= _MAX_ARGON2_LANES:
        reasons.append(f"p must be 1 to {_MAX_ARGON2_LANES}")
    if not 8 * p <= m <= _MAX_ARGON2_MEMORY_KIB:
        reasons.append(f"m must be 8 * p to {_MAX_ARGON2_MEMORY_KIB}")
    if not 1 <= t <= _MAX_ARGON2_PASSES:
        reasons.append(f"t must be 1 to {_MAX_ARGON2_PASSES}")
    salt_bytes, digest_bytes = _phc_b64(salt), _phc_b64(digest)
    if salt_bytes is None or digest_bytes is None:
        reasons.append("salt and hash must be unpadded base64")
    elif len(salt_bytes) < 8 or len(digest_bytes) < 16:
        reasons.append("the salt must have at least 8 bytes and the hash 16")
    for reason in reasons:
        check.fail(_bad_format("argon2", reason))
    if reasons:
        return None
    try:
        import argon2  # noqa: F401  # libpass verifies argon2 hashes through argon2-cffi
    except ImportError:
        check.fail(
            _problem(
                _MISSING_PACKAGE, f"argon2 needs the argon2-cffi package: {_ARGON2_EXTRA}", _VALUE
            )
        )
        return None

    def verify_argon2(password: bytes) -> bool:
        from passlib.hash import argon2

        return bool(argon2.verify(password, value))

    return verify_argon2


def _ldap_algorithm(check: _Check) -> Verifier | None:
    value = check.text_hash()
    check.no_salt()
    if "value" not in check.hash:
        return None
    match = _LDAP.match(value)
    scheme = match.group(1).upper() if match else ""
    if scheme == "CRYPT":
        check.fail(_bad_format("ldap", "the {CRYPT} scheme is not supported"))
        return None
    if match is None or scheme not in _LDAP_SCHEMES:
        check.fail(
            _bad_format(
                "ldap", "{<scheme>}<base64> expected, scheme one of " + ", ".join(_LDAP_SCHEMES)
            )
        )
        return None
    name, salted, handler = _LDAP_SCHEMES[scheme]
    size = _DIGEST_SIZES[name]
    decoded = _decode(match.group(2), "base64")
    if decoded is None:
        check.fail(_bad_format("ldap", "the value after the scheme is not base64"))
        return None
    if (len(decoded) <= size) if salted else (len(decoded) != size):
        expected = f"more than {size}" if salted else str(size)
        check.fail(
            _bad_format("ldap", f"{{{scheme}}} needs {expected} bytes, found {len(decoded)}")
        )
        return None
    expected_digest, salt = decoded[:size], decoded[size:]
    if handler and (not salted or 4 <= len(salt) <= 16):
        canonical = f"{{{scheme}}}{base64.b64encode(decoded).decode()}"

        def libpass_ldap(password: bytes) -> bool:
            from passlib import hash as handlers

            return bool(getattr(handlers, handler).verify(password, canonical))

        return libpass_ldap
    digest = _digest_function(name)
    return lambda password: hmac.compare_digest(digest(password + salt), expected_digest)


def _pbkdf2_algorithm(check: _Check) -> Verifier | None:
    value = check.text_hash()
    check.no_salt()
    if "value" not in check.hash:
        return None
    match = _PBKDF2.match(value)
    if match is None:
        check.fail(
            _bad_format(
                "pbkdf2", "$pbkdf2-<digest>$i=<iterations>,l=<keylen>$<salt>$<hash> expected"
            )
        )
        return None
    digest_name, parameters, salt_text, hash_text = match.groups()
    name = _PBKDF2_DIGESTS.get(digest_name.lower())
    if name is None:
        check.fail(_bad_format("pbkdf2", f"unknown digest {digest_name}"))
        return None
    settings = {"i": 100_000, "l": 64}  # Auth0's defaults
    seen = set()
    for item in parameters.split(",") if parameters else ():
        key, number = item.split("=")
        if key not in settings or key in seen or (len(number) > 1 and number[0] == "0"):
            check.fail(
                _bad_format("pbkdf2", "parameters must be i=<iterations>,l=<keylen>, each once")
            )
            return None
        seen.add(key)
        settings[key] = int(number)
    iterations, keylen = settings["i"], settings["l"]
    if not 1 <= iterations <= _MAX_PBKDF2_ITERATIONS:
        check.fail(_bad_format("pbkdf2", f"i must be 1 to {_MAX_PBKDF2_ITERATIONS}"))
    if keylen < 1:
        check.fail(_bad_format("pbkdf2", "l must be at least 1"))
    salt, expected = _decode(salt_text, "base64"), _decode(hash_text, "base64")
    if salt is None or expected is None:
        check.fail(_bad_format("pbkdf2", "salt and hash must be base64"))
    elif len(expected) != keylen:
        check.fail(_bad_format("pbkdf2", f"l={keylen} but the hash has {len(expected)} bytes"))
    maker = check.digest(name, _VALUE)
    if check.found or maker is None or salt is None or expected is None:
        return None
    return lambda password: hmac.compare_digest(
        _pbkdf2(maker, password, salt, iterations, keylen), expected
    )


_ALGORITHMS: dict[str, Callable[[_Check], Verifier | None]] = {
    "argon2": _argon2_algorithm,
    "bcrypt": _bcrypt_algorithm,
    "hmac": _hmac_algorithm,
    "ldap": _ldap_algorithm,
    "md4": _digest_algorithm,
    "md5": _digest_algorithm,
    "sha1": _digest_algorithm,
    "sha256": _digest_algorithm,
    "sha512": _digest_algorithm,
    "pbkdf2": _pbkdf2_algorithm,
    "scrypt": _scrypt_algorithm,
}


# -- bytes (Node's Buffer rules) ---------------------------------------------------------------


def _decode(value: str, encoding: str) -> bytes | None:
    """``value`` as bytes the way Node reads it, or None when it is not valid in ``encoding``.

    ``hex``: either case; ``base64``: standard or URL-safe alphabet, padding optional.
    """
    if encoding == "utf8":
        return None if has_lone_surrogate(value) else value.encode("utf-8")
    if encoding == "hex":
        return bytes.fromhex(value) if _HEX.match(value) else None
    if not _BASE64.match(value):
        return None
    body = value.rstrip("=").replace("-", "+").replace("_", "/")
    if len(body) % 4 == 1 or (value.endswith("=") and (len(body) + value.count("=")) % 4):
        return None
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except binascii.Error:  # pragma: no cover - the pattern and length rule leave none
        return None


def _phc_b64(value: str) -> bytes | None:
    """PHC's B64 (standard alphabet, no padding) strictly, as libsodium reads it."""
    if not _PHC_B64.match(value):
        return None
    decoded = _decode(value, "base64")
    if decoded is None or base64.b64encode(decoded).decode().rstrip("=") != value:
        return None  # stray low bits: libsodium refuses them
    return decoded


def _password_bytes(secret: bytes, encoding: str) -> bytes | None:
    """The UTF-8 password as Node's ``Buffer.from(password, encoding)`` gives it."""
    if encoding == "utf8":
        return secret
    try:
        units = secret.decode("utf-8").encode("utf-16-le")
    except UnicodeError:  # cut inside a character by the 72-byte rule: it cannot match
        return None
    if encoding in ("utf16le", "ucs2"):
        return units
    return units[0::2]  # latin1, binary, ascii: the low byte of each UTF-16 code unit


# -- digests -----------------------------------------------------------------------------------


class _Unavailable(Exception):
    """A digest this Python cannot compute; ``code`` says whether a package would bring it."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def _digest_maker(name: str) -> str | Callable[..., Any]:
    """``name`` if OpenSSL has it, else a hashlib-like constructor from a package.

    Raises:
        _Unavailable: neither has it.
    """
    try:
        hashlib.new(name)
    except ValueError:
        pass
    else:
        return name
    package = _PACKAGES.get(name)
    if package is None:
        raise _Unavailable(
            f"{name} is not supported: neither OpenSSL nor a package has it", _UNSUPPORTED
        )
    try:
        if name == "whirlpool":
            import whirlpool

            return whirlpool.new  # type: ignore[no-any-return]
        from Crypto.Hash import MD4, RIPEMD160
    except ImportError:
        raise _Unavailable(
            f"{name} needs the {package} package (OpenSSL 3 turned {name} off): {_LEGACY_EXTRA}",
            _MISSING_PACKAGE,
        ) from None
    return MD4.new if name == "md4" else RIPEMD160.new


def _digest_function(maker: str | Callable[..., Any]) -> Digest:
    if isinstance(maker, str):
        return lambda data: hashlib.new(maker, data).digest()
    return lambda data: bytes(maker(data).digest())


def _pbkdf2(
    maker: str | Callable[..., Any], password: bytes, salt: bytes, rounds: int, keylen: int
) -> bytes:
    """PBKDF2-HMAC: OpenSSL's when it has the digest, else pycryptodome's over ``hmac``."""
    if isinstance(maker, str):
        return hashlib.pbkdf2_hmac(maker, password, salt, rounds, keylen)
    from Crypto.Protocol.KDF import PBKDF2

    keyed = hmac.new(password, None, maker)

    def prf(_: bytes, message: bytes) -> bytes:
        state = keyed.copy()  # the key's inner and outer pads, hashed once
        state.update(message)
        return state.digest()

    return bytes(PBKDF2(password, salt, keylen, rounds, prf=prf))
