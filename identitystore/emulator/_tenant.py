"""The emulator's own domain: clients, client grants, signing keys and jobs, kept in the database.

Auth0's user store is the library's; what Auth0 keeps beside it for the Management API (the
machine-to-machine clients, their grants, the token signing keys, the jobs) is this module's.
Everything is kept as the backend's records (``Backend.put_record`` ...), so a restart on the same
database keeps it. Secrets are kept as SHA-256 hashes only: a client's secret
is shown once, when it is made (docs/decisions.md, "Emulator").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import string
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from identitystore.errors import PayloadValidationError
from identitystore.storage import Backend

from ._errors import ApiError
from ._tokens import TOKEN_LIFETIME, SigningKey, public_key_from_jwk

__all__ = [
    "Client",
    "ClientGrant",
    "JwtConfiguration",
    "RefreshTokenConfiguration",
    "Tenant",
    "iso",
    "secret_digest",
]

_ALNUM = string.ascii_letters + string.digits
#: Auth0's application types.
APP_TYPES = ("non_interactive", "spa", "native", "regular_web")
#: The grants of a client made without ``grant_types``, by its ``app_type`` (Auth0's defaults:
#: the password and passwordless grants must be asked for).
DEFAULT_GRANT_TYPES: dict[str, tuple[str, ...]] = {
    "non_interactive": ("client_credentials",),
    "spa": ("implicit", "authorization_code", "refresh_token"),
    "native": ("implicit", "authorization_code", "refresh_token"),
    "regular_web": ("implicit", "authorization_code", "refresh_token", "client_credentials"),
}
#: App types whose clients are public: no secret at ``/oauth/token`` (``token_endpoint_auth_method``
#: ``none`` by default); the others send theirs (``client_secret_post``).
PUBLIC_APP_TYPES = ("spa", "native")
#: Auth0's ``token_endpoint_auth_method`` values.
AUTH_METHODS = ("none", "client_secret_post", "client_secret_basic")
#: The URL lists of a client (arrays of strings), in Auth0's names.
URL_LISTS = ("callbacks", "allowed_logout_urls", "web_origins", "allowed_origins")
#: Bounds of ``jwt_configuration.lifetime_in_seconds`` (an ID token lives at most 30 days).
ID_TOKEN_LIFETIME_RANGE = (1, 2592000)
#: Bounds of the refresh-token periods (seconds): the document's ``token_lifetime`` maximum.
REFRESH_PERIOD_MAX = 157788000


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and ``Z`` (Auth0's timestamps)."""
    text = moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def random_id(prefix: str, length: int) -> str:
    """``prefix`` and ``length`` random letters and digits (``con_``, ``cgr_``, ``job_`` ids)."""
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


def secret_digest(secret: str) -> str:
    """What is stored of a secret the emulator hands out or checks (a client secret, a refresh
    token, a session cookie, a code): its SHA-256, in hex."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


# -- clients and grants -------------------------------------------------------------------------


@dataclass(frozen=True)
class JwtConfiguration:
    """A client's ``jwt_configuration``: how long its ID tokens live (``exp - iat``)."""

    lifetime_in_seconds: int = 36000
    alg: str = "RS256"

    def to_dict(self) -> dict[str, Any]:
        """Auth0's ``jwt_configuration`` object."""
        return {
            "alg": self.alg,
            "lifetime_in_seconds": self.lifetime_in_seconds,
            "secret_encoded": False,
        }


@dataclass(frozen=True)
class RefreshTokenConfiguration:
    """A client's ``refresh_token`` settings (Auth0's defaults: non-rotating, non-expiring).

    ``rotating``: each exchange answers a new refresh token; the one used keeps working for
    ``leeway`` seconds, and used after that it revokes its whole family (reuse detection).
    ``expiring``: a family lives ``token_lifetime`` seconds from its sign-in and a token
    ``idle_token_lifetime`` seconds from its last exchange, unless the ``infinite_*`` flag says
    otherwise.
    """

    rotation_type: str = "non-rotating"
    expiration_type: str = "non-expiring"
    leeway: int = 0
    token_lifetime: int = 31557600
    infinite_token_lifetime: bool = True
    idle_token_lifetime: int = 2592000
    infinite_idle_token_lifetime: bool = True

    @property
    def rotating(self) -> bool:
        """Whether each exchange answers a new refresh token."""
        return self.rotation_type == "rotating"

    @property
    def absolute_lifetime(self) -> int | None:
        """Seconds a token family lives from its sign-in, None for no limit."""
        if self.expiration_type != "expiring" or self.infinite_token_lifetime:
            return None
        return self.token_lifetime

    @property
    def idle_lifetime(self) -> int | None:
        """Seconds a token lives from its last exchange, None for no limit."""
        if self.expiration_type != "expiring" or self.infinite_idle_token_lifetime:
            return None
        return self.idle_token_lifetime

    def to_dict(self) -> dict[str, Any]:
        """Auth0's ``refresh_token`` object."""
        return asdict(self)


@dataclass(frozen=True)
class Client:
    """An application of the tenant, with Auth0's settings of it (names as Auth0's).

    ``token_endpoint_auth_method`` ``none`` makes it a public client: it needs no secret at
    ``/oauth/token``. ``jwt_configuration`` and ``refresh_token`` set its tokens' lifetimes.
    """

    client_id: str
    name: str
    secret_hash: str = field(repr=False)
    app_type: str = "non_interactive"
    description: str | None = None
    grant_types: tuple[str, ...] = ("client_credentials",)
    created_at: str = ""
    callbacks: tuple[str, ...] = ()
    allowed_logout_urls: tuple[str, ...] = ()
    web_origins: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    is_first_party: bool = True
    token_endpoint_auth_method: str = "client_secret_post"
    jwt_configuration: JwtConfiguration = JwtConfiguration()
    refresh_token: RefreshTokenConfiguration = RefreshTokenConfiguration()

    @property
    def public(self) -> bool:
        """Whether it authenticates with no secret (``token_endpoint_auth_method: none``)."""
        return self.token_endpoint_auth_method == "none"

    def to_dict(self, secret: str | None = None) -> dict[str, Any]:
        """Auth0's client body; ``client_secret`` only when given (at creation)."""
        body: dict[str, Any] = {
            "client_id": self.client_id,
            "name": self.name,
            "description": self.description,
            "app_type": self.app_type,
            "grant_types": list(self.grant_types),
            **{name: list(getattr(self, name)) for name in URL_LISTS},
            "is_first_party": self.is_first_party,
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "jwt_configuration": self.jwt_configuration.to_dict(),
            "refresh_token": self.refresh_token.to_dict(),
            "client_secret": secret,
        }
        return {k: v for k, v in body.items() if v is not None}

    def to_record(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_record(cls, text: str) -> Client:
        """The client of ``to_record``'s text (a record of an older version gets the defaults
        of the fields it lacks)."""
        data = json.loads(text)
        for name in ("grant_types", *URL_LISTS):
            if name in data:
                data[name] = tuple(data[name])
        if "jwt_configuration" in data:
            data["jwt_configuration"] = JwtConfiguration(**data["jwt_configuration"])
        if "refresh_token" in data:
            data["refresh_token"] = RefreshTokenConfiguration(**data["refresh_token"])
        return cls(**data)


@dataclass(frozen=True)
class ClientGrant:
    """A client's right to tokens for an API (``audience``), with these scopes."""

    id: str
    client_id: str
    audience: str
    scope: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Auth0's client-grant body."""
        return {
            "id": self.id,
            "client_id": self.client_id,
            "audience": self.audience,
            "scope": list(self.scope),
        }

    @classmethod
    def from_record(cls, text: str) -> ClientGrant:
        data = json.loads(text)
        return cls(data["id"], data["client_id"], data["audience"], tuple(data["scope"]))


def _client_not_found() -> ApiError:
    return ApiError(404, "The client does not exist", error_code="inexistent_client")


def _grant_not_found() -> ApiError:
    return ApiError(404, "The client grant does not exist", error_code="inexistent_client_grant")


def _problem(text: str, prop: str | None = None, description: str | None = None) -> Exception:
    return PayloadValidationError([PayloadValidationError.format(text, prop, description)])


def _check_body(
    body: object, *, required: Iterable[str], types: Mapping[str, tuple[type, str]]
) -> Mapping[str, Any]:
    """``body`` as a mapping, or the first schema problem (missing, then wrongly typed)."""
    if not isinstance(body, Mapping):
        raise _problem(f"Expected type object but found type {json_type(body)}")
    for name in required:
        if name not in body:
            raise _problem(f"Missing required property: {name}")
    for name, (kind, label) in types.items():
        value = body.get(name)
        if name in body and (not isinstance(value, kind) or isinstance(value, bool)):
            raise _problem(f"Expected type {label} but found type {json_type(value)}", name, name)
    return body


def _integer(value: object, prop: str, low: int, high: int) -> int:
    """``value`` as an integer from ``low`` to ``high``, or the schema problem."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise _problem(f"Expected type integer but found type {json_type(value)}", prop, prop)
    if value < low:
        raise _problem(f"Value {value} is less than minimum {low}", prop, prop)
    if value > high:
        raise _problem(f"Value {value} is greater than maximum {high}", prop, prop)
    return value


def _boolean(value: object, prop: str) -> bool:
    if not isinstance(value, bool):
        raise _problem(f"Expected type boolean but found type {json_type(value)}", prop, prop)
    return value


def _choice(value: object, prop: str, choices: Iterable[str]) -> str:
    if not isinstance(value, str):
        raise _problem(f"Expected type string but found type {json_type(value)}", prop, prop)
    if value not in choices:
        raise _problem(f"No enum match for: {json.dumps(value)}", prop, prop)
    return value


def _storable(value: str, prop: str) -> str:
    """``value``, or the problem of a NUL or a lone surrogate in it (no backend keeps those:
    docs/decisions.md, "NUL characters and lone surrogates")."""
    if "\x00" in value:
        raise _problem("String contains a NUL character (U+0000), not stored", prop, prop)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        text = "String contains a lone surrogate, which is not valid Unicode"
        raise _problem(text, prop, prop) from None
    return value


def _strings(value: object, prop: str) -> tuple[str, ...]:
    """``value`` as an array of strings, or the schema problem (naming the item)."""
    if not isinstance(value, list):
        raise _problem(f"Expected type array but found type {json_type(value)}", prop, prop)
    for index, item in enumerate(value):
        where = f"{prop}[{index}]"
        if not isinstance(item, str):
            raise _problem(f"Expected type string but found type {json_type(item)}", where, where)
        _storable(item, where)
    return tuple(value)


def _object(value: object, prop: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _problem(f"Expected type object but found type {json_type(value)}", prop, prop)
    return value


def _jwt_configuration(value: object, current: JwtConfiguration) -> JwtConfiguration:
    """``current`` with the body's ``jwt_configuration`` properties (the others are kept;
    ``secret_encoded`` and ``scopes`` are accepted and not used)."""
    body = _object(value, "jwt_configuration")
    changes: dict[str, Any] = {}
    if "lifetime_in_seconds" in body:
        prop = "jwt_configuration.lifetime_in_seconds"
        changes["lifetime_in_seconds"] = _integer(
            body["lifetime_in_seconds"], prop, *ID_TOKEN_LIFETIME_RANGE
        )
    if "alg" in body:
        prop = "jwt_configuration.alg"
        alg = _choice(body["alg"], prop, ("HS256", "RS256", "RS512", "PS256"))
        if alg != "RS256":
            raise _problem("The emulator signs with RS256 only", prop, prop)
    if "secret_encoded" in body:
        _boolean(body["secret_encoded"], "jwt_configuration.secret_encoded")
    return replace(current, **changes)


def _refresh_token(value: object) -> RefreshTokenConfiguration:
    """The body's ``refresh_token`` object, whole (``null``: Auth0's defaults); what it leaves
    out is the default, and the ``infinite_*`` flags default to ``expiration_type`` being
    ``non-expiring``. ``policies`` is accepted and not used."""
    if value is None:
        return RefreshTokenConfiguration()
    body = _object(value, "refresh_token")
    known = {f for f in RefreshTokenConfiguration.__dataclass_fields__} | {"policies"}
    extra = [k for k in body if k not in known]
    if extra:
        text = f"Additional properties not allowed: {','.join(extra)}"
        raise _problem(text, "refresh_token", "refresh_token")
    for name in ("rotation_type", "expiration_type"):
        if name not in body:
            raise _problem(f"Missing required property: {name}", "refresh_token", "refresh_token")
    rotation = _choice(
        body["rotation_type"], "refresh_token.rotation_type", ("rotating", "non-rotating")
    )
    expiration = _choice(
        body["expiration_type"], "refresh_token.expiration_type", ("expiring", "non-expiring")
    )
    fields: dict[str, Any] = {"rotation_type": rotation, "expiration_type": expiration}
    lows = {"leeway": 0, "token_lifetime": 1, "idle_token_lifetime": 1}
    for name, low in lows.items():
        if name in body:
            fields[name] = _integer(body[name], f"refresh_token.{name}", low, REFRESH_PERIOD_MAX)
    for name in ("infinite_token_lifetime", "infinite_idle_token_lifetime"):
        fields[name] = expiration == "non-expiring"
        if name in body:
            fields[name] = _boolean(body[name], f"refresh_token.{name}")
    policies = body.get("policies")
    if policies is not None and not isinstance(policies, list):
        text = f"Expected type array but found type {json_type(policies)}"
        raise _problem(text, "refresh_token.policies", "refresh_token.policies")
    return RefreshTokenConfiguration(**fields)


def _client_settings(body: Mapping[str, Any], current: Client | None = None) -> dict[str, Any]:
    """The settings of a ``POST`` (``current`` None) or ``PATCH /clients`` body, checked, as
    ``Client`` fields: only those the body names, except that a new client gets its
    ``token_endpoint_auth_method`` from its ``app_type`` (``none`` for spa and native).

    Raises:
        PayloadValidationError: the first property of the wrong type or value.
    """
    fields: dict[str, Any] = {}
    for name in URL_LISTS:
        if name in body:
            fields[name] = _strings(body[name], name)
    if "is_first_party" in body:
        fields["is_first_party"] = _boolean(body["is_first_party"], "is_first_party")
    method = body.get("token_endpoint_auth_method")
    app_type = body.get("app_type", current.app_type if current else "non_interactive")
    if method is not None:
        fields["token_endpoint_auth_method"] = _choice(
            method, "token_endpoint_auth_method", AUTH_METHODS
        )
    elif current is None or "token_endpoint_auth_method" in body:  # null: the app type's
        public = app_type in PUBLIC_APP_TYPES
        fields["token_endpoint_auth_method"] = "none" if public else "client_secret_post"
    if "jwt_configuration" in body:
        base = current.jwt_configuration if current else JwtConfiguration()
        fields["jwt_configuration"] = _jwt_configuration(body["jwt_configuration"], base)
    if "refresh_token" in body:
        fields["refresh_token"] = _refresh_token(body["refresh_token"])
    return fields


def json_type(value: object) -> str:
    """The JSON Schema type name of a parsed JSON value (z-schema's words)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


#: The types of a client body's plain properties (``_client_settings`` checks the others).
_CLIENT_TYPES: Mapping[str, tuple[type, str]] = {
    "name": (str, "string"),
    "description": (str, "string"),
    "app_type": (str, "string"),
    "grant_types": (list, "array"),
}


class Tenant:
    """Clients, grants, signing keys and jobs of one emulated tenant.

    Args:
        records: the backend that keeps them (its records, ``Backend.put_record`` ...).
        domain: the tenant domain (``host:port``): issuer ``https://{domain}/``, Management API
            audience ``https://{domain}/api/v2/``.
        clock: the store's clock (timezone-aware now).
        scopes: every Management API scope a grant may hold, in a stable order.
    """

    def __init__(
        self,
        records: Backend,
        *,
        domain: str,
        clock: Callable[[], datetime],
        scopes: Iterable[str],
    ) -> None:
        self._records = records
        self.domain = domain
        self.issuer = f"https://{domain}/"
        self.audience = f"https://{domain}/api/v2/"
        self.clock = clock
        self.scopes = tuple(scopes)
        self._lock = threading.RLock()
        self._names: dict[str, str] = {}
        self.key = SigningKey()
        self._public_keys = {self.key.kid: public_key_from_jwk(self.key.public_jwk)}
        self._start_key()

    def now(self) -> str:
        """The store's time, as stored timestamps are written."""
        return iso(self.clock())

    # -- signing keys -------------------------------------------------------------------------

    def _start_key(self) -> None:
        """Publish the new key; retire the older ones once their last tokens expire."""
        retire = iso(self.clock() + timedelta(seconds=TOKEN_LIFETIME))
        for kid, text in self._records.list_records("signing_key", now=self.now()):
            if not json.loads(text).get("retiring"):
                jwk = {**json.loads(text), "retiring": True}
                self._records.put_record("signing_key", kid, json.dumps(jwk), expires_at=retire)
        self._records.put_record("signing_key", self.key.kid, json.dumps(self.key.public_jwk))

    def public_key(self, kid: str) -> Any:
        """The public key of ``kid`` if a live token may be signed with it, else None."""
        key = self._public_keys.get(kid)
        if key is None:
            text = self._records.get_record("signing_key", kid, now=self.now())
            if text is None:
                return None
            key = public_key_from_jwk(json.loads(text))
            self._public_keys[kid] = key
        return key

    def jwks(self) -> dict[str, Any]:
        """``/.well-known/jwks.json``: the current key first, then retiring ones."""
        keys = [self.key.public_jwk]
        for kid, text in self._records.list_records("signing_key", now=self.now()):
            if kid != self.key.kid:
                jwk = json.loads(text)
                jwk.pop("retiring", None)
                keys.append(jwk)
        return {"keys": keys}

    def issue(
        self, client: Client, grant: ClientGrant, lifetime: int = TOKEN_LIFETIME
    ) -> tuple[str, int]:
        """A client-credentials access token for ``grant`` and its lifetime in seconds."""
        now = int(self.clock().timestamp())
        claims = {
            "iss": self.issuer,
            "sub": f"{client.client_id}@clients",
            "aud": grant.audience,
            "iat": now,
            "exp": now + lifetime,
            "scope": " ".join(grant.scope),
            "gty": "client-credentials",
            "azp": client.client_id,
        }
        return self.key.sign(claims), lifetime

    # -- clients ------------------------------------------------------------------------------

    def _client_record(self, client_id: str) -> str | None:
        """The record of a client, None for an unknown one or an id no record can have (a NUL
        or a lone surrogate, which PostgreSQL would refuse to look up)."""
        if "\x00" in client_id or client_id.encode("utf-8", "replace").decode() != client_id:
            return None
        return self._records.get_record("client", client_id, now=self.now())

    def get_client(self, client_id: str) -> Client:
        """The client, or Auth0's 404."""
        text = self._client_record(client_id)
        if text is None:
            raise _client_not_found()
        return Client.from_record(text)

    def client_name(self, client_id: str) -> str | None:
        """The client's name, or None for an unknown client (for log entries)."""
        name = self._names.get(client_id)
        if name is None:
            text = self._client_record(client_id)
            if text is None:
                return None
            name = self._names[client_id] = Client.from_record(text).name
        return name

    def list_clients(self) -> list[Client]:
        """Every client, oldest first."""
        return [
            Client.from_record(t) for _, t in self._records.list_records("client", now=self.now())
        ]

    def authenticate(self, client_id: str, secret: str) -> Client | None:
        """The client if ``secret`` is its secret, else None (in constant time)."""
        text = self._client_record(client_id)
        client = Client.from_record(text) if text is not None else None
        expected = client.secret_hash if client is not None else secret_digest("")
        if not hmac.compare_digest(expected, secret_digest(secret)) or client is None:
            return None
        return client

    def create_client(self, body: object) -> tuple[Client, str]:
        """A new client from Auth0's ``POST /clients`` body, and its secret (shown once).

        ``name``, ``description``, ``app_type``, ``grant_types`` and the settings of
        ``_client_settings`` are kept; Auth0's other properties are accepted and not kept.
        """
        body = _check_body(body, required=("name",), types=_CLIENT_TYPES)
        for prop in ("name", "description"):
            if prop in body:
                _storable(body[prop], prop)
        name = body["name"]
        if not name:
            raise _problem("String is too short (0 chars), minimum 1", "name", "name")
        app_type = body.get("app_type", "non_interactive")
        if app_type not in APP_TYPES:
            raise _problem(f"No enum match for: {json.dumps(app_type)}", "app_type", "app_type")
        grant_types = body.get("grant_types", list(DEFAULT_GRANT_TYPES[app_type]))
        return self._new_client(
            name=name,
            description=body.get("description"),
            app_type=app_type,
            grant_types=_strings(grant_types, "grant_types"),
            **_client_settings(body),
        )

    def update_client(self, client_id: str, body: object) -> Client:
        """The client changed by Auth0's ``PATCH /clients/{id}`` body: the properties it names
        (``client_secret`` sets a new secret); Auth0's other properties are accepted and not
        kept.

        Raises:
            PayloadValidationError: a property of the wrong type or value (nothing changes).
            ApiError: 404 for an unknown client.
        """
        body = _check_body(body, required=(), types=_CLIENT_TYPES)
        for prop in ("name", "description", "client_secret"):
            if isinstance(body.get(prop), str):
                _storable(body[prop], prop)
        changes: dict[str, Any] = {}
        if "name" in body:
            if not body["name"]:
                raise _problem("String is too short (0 chars), minimum 1", "name", "name")
            changes["name"] = body["name"]
        if "description" in body:
            changes["description"] = body["description"]
        if "app_type" in body:
            changes["app_type"] = _choice(body["app_type"], "app_type", APP_TYPES)
        if "grant_types" in body:
            changes["grant_types"] = _strings(body["grant_types"], "grant_types")
        secret = body.get("client_secret")
        if "client_secret" in body:
            if not isinstance(secret, str) or not secret:
                found = json_type(secret)
                text = f"Expected a non-empty string but found type {found}"
                raise _problem(text, "client_secret", "client_secret")
            changes["secret_hash"] = secret_digest(secret)
        with self._lock:
            client = self.get_client(client_id)
            client = replace(client, **changes, **_client_settings(body, client))
            self._records.put_record("client", client.client_id, client.to_record())
            self._names.pop(client_id, None)
        return client

    def _new_client(
        self,
        *,
        name: str,
        client_id: str | None = None,
        secret: str | None = None,
        **fields: Any,
    ) -> tuple[Client, str]:
        secret = secret if secret is not None else secrets.token_urlsafe(48)
        client = Client(
            client_id=client_id or random_id("", 32),
            name=name,
            secret_hash=secret_digest(secret),
            created_at=self.now(),
            **fields,
        )
        self._records.put_record("client", client.client_id, client.to_record())
        return client, secret

    def delete_client(self, client_id: str) -> None:
        """Delete a client and its grants (Auth0: 204 also for an unknown client)."""
        with self._lock:
            for grant in self.list_grants(client_id=client_id):
                self._records.delete_record("client_grant", grant.id)
            self._records.delete_record("client", client_id)

    def ensure_default_client(
        self, client_id: str | None = None, secret: str | None = None
    ) -> tuple[Client, str]:
        """The client granted every Management API scope, and its secret.

        With ``client_id`` that client is made to exist (with ``secret`` if given, else a new
        one) and becomes the default; without, the default client of an earlier run is kept
        with a new secret (only hashes are stored), or made.
        """
        if secret is not None and client_id is None:
            raise ValueError("a client secret needs its client id")
        with self._lock:
            if client_id is None:
                client_id = self._records.get_record("emulator", "default_client", now=self.now())
            text = (
                self._records.get_record("client", client_id, now=self.now())
                if client_id is not None
                else None
            )
            if text is None:
                client, secret = self._new_client(
                    name="identitystore emulator", client_id=client_id, secret=secret
                )
            else:
                client = Client.from_record(text)
                secret = secret if secret is not None else secrets.token_urlsafe(48)
                client = Client(
                    **{**vars(client), "secret_hash": secret_digest(secret)}  # a new secret
                )
                self._records.put_record("client", client.client_id, client.to_record())
            if self.grant_for(client.client_id, self.audience) is None:
                self._put_grant(client.client_id, self.audience, self.scopes)
            self._records.put_record("emulator", "default_client", client.client_id)
            return client, secret

    # -- client grants ------------------------------------------------------------------------

    def grant_for(self, client_id: str, audience: str) -> ClientGrant | None:
        """The client's grant for ``audience``, if any."""
        found = self.list_grants(client_id=client_id, audience=audience)
        return found[0] if found else None

    def list_grants(
        self, *, client_id: str | None = None, audience: str | None = None
    ) -> list[ClientGrant]:
        """Grants, oldest first, of one client and/or audience if asked."""
        return [
            grant
            for grant in (
                ClientGrant.from_record(t)
                for _, t in self._records.list_records("client_grant", now=self.now())
            )
            if client_id in (None, grant.client_id) and audience in (None, grant.audience)
        ]

    def get_grant(self, grant_id: str) -> ClientGrant:
        """The grant, or a 404."""
        text = self._records.get_record("client_grant", grant_id, now=self.now())
        if text is None:
            raise _grant_not_found()
        return ClientGrant.from_record(text)

    def create_grant(self, body: object) -> ClientGrant:
        """A grant from Auth0's ``POST /client-grants`` body ``{client_id, audience, scope}``."""
        body = _check_body(
            body,
            required=("client_id", "audience", "scope"),
            types={
                "client_id": (str, "string"),
                "audience": (str, "string"),
                "scope": (list, "array"),
            },
        )
        from ._apis import find_api  # (it reads the tenant's records too)

        scope, audience = body["scope"], body["audience"]
        known = self.scopes
        if audience != self.audience:
            api = find_api(self._records, audience)
            if api is None:
                raise ApiError(
                    404,
                    f"No resource server found with identifier {audience}",
                    error_code="inexistent_resource_server",
                )
            known = api.scope_values
        unknown = [s for s in scope if s not in known]
        if unknown:
            raise ApiError(
                400,
                f"Invalid scope(s) for {audience}: {', '.join(map(str, unknown))}",
                error_code="invalid_body",
            )
        with self._lock:
            self.get_client(body["client_id"])
            if self.grant_for(body["client_id"], body["audience"]) is not None:
                raise ApiError(
                    409,
                    "A resource server grant for this client already exists.",
                    error_code="conflict",
                )
            return self._put_grant(body["client_id"], body["audience"], scope)

    def _put_grant(self, client_id: str, audience: str, scope: Iterable[str]) -> ClientGrant:
        grant = ClientGrant(random_id("cgr_", 16), client_id, audience, tuple(dict.fromkeys(scope)))
        self._records.put_record("client_grant", grant.id, json.dumps(grant.to_dict()))
        return grant

    def delete_grant(self, grant_id: str) -> None:
        """Delete a grant (204 also when unknown, as Auth0's delete routes do)."""
        self._records.delete_record("client_grant", grant_id)

    # -- jobs ---------------------------------------------------------------------------------

    def add_job(self, job: Mapping[str, Any], *, expires_at: str | None = None) -> None:
        """Keep (or replace) a job's body under its ``id``, until ``expires_at`` if given."""
        self._records.put_record(
            "job", str(job["id"]), json.dumps(dict(job)), expires_at=expires_at
        )

    def list_jobs(self) -> list[dict[str, Any]]:
        """Every live job's body, oldest first."""
        return [json.loads(t) for _, t in self._records.list_records("job", now=self.now())]

    def forget_job(self, job_id: str) -> None:
        """Delete a job and its error report."""
        self._records.delete_record("job", job_id)
        self._records.delete_record("job_errors", job_id)

    def put_job_errors(
        self, job_id: str, errors: list[dict[str, Any]], *, expires_at: str | None = None
    ) -> None:
        """Keep an import job's per-user error entries (already masked by the store)."""
        self._records.put_record("job_errors", job_id, json.dumps(errors), expires_at=expires_at)

    def get_job_errors(self, job_id: str) -> list[dict[str, Any]]:
        """An import job's error entries; empty when it has none (or none yet)."""
        text = self._records.get_record("job_errors", job_id, now=self.now())
        entries: list[dict[str, Any]] = json.loads(text) if text is not None else []
        return entries

    def get_job(self, job_id: str) -> dict[str, Any]:
        """A job's body, or a 404."""
        text = self._records.get_record("job", job_id, now=self.now())
        if text is None:
            raise ApiError(404, "The job does not exist.", error_code="inexistent_job")
        job: dict[str, Any] = json.loads(text)
        return job
