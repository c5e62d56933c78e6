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
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from identitystore.errors import PayloadValidationError
from identitystore.storage import Backend

from ._errors import ApiError
from ._tokens import TOKEN_LIFETIME, SigningKey, public_key_from_jwk

__all__ = ["Client", "ClientGrant", "Tenant", "iso"]

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


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and ``Z`` (Auth0's timestamps)."""
    text = moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def random_id(prefix: str, length: int) -> str:
    """``prefix`` and ``length`` random letters and digits (``con_``, ``cgr_``, ``job_`` ids)."""
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


# -- clients and grants -------------------------------------------------------------------------


@dataclass(frozen=True)
class Client:
    """A machine-to-machine application that gets tokens with ``client_credentials``."""

    client_id: str
    name: str
    secret_hash: str = field(repr=False)
    app_type: str = "non_interactive"
    description: str | None = None
    grant_types: tuple[str, ...] = ("client_credentials",)
    created_at: str = ""

    def to_dict(self, secret: str | None = None) -> dict[str, Any]:
        """Auth0's client body; ``client_secret`` only when given (at creation)."""
        body: dict[str, Any] = {
            "client_id": self.client_id,
            "name": self.name,
            "description": self.description,
            "app_type": self.app_type,
            "grant_types": list(self.grant_types),
            "is_first_party": True,
            "token_endpoint_auth_method": "client_secret_post",
            "client_secret": secret,
        }
        return {k: v for k, v in body.items() if v is not None}

    def to_record(self) -> str:
        return json.dumps(
            {
                "client_id": self.client_id,
                "name": self.name,
                "secret_hash": self.secret_hash,
                "app_type": self.app_type,
                "description": self.description,
                "grant_types": list(self.grant_types),
                "created_at": self.created_at,
            }
        )

    @classmethod
    def from_record(cls, text: str) -> Client:
        data = json.loads(text)
        data["grant_types"] = tuple(data["grant_types"])
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
        expected = client.secret_hash if client is not None else _hash("")
        if not hmac.compare_digest(expected, _hash(secret)) or client is None:
            return None
        return client

    def create_client(self, body: object) -> tuple[Client, str]:
        """A new client from Auth0's ``POST /clients`` body, and its secret (shown once).

        ``name``, ``description``, ``app_type`` and ``grant_types`` are kept; Auth0's other
        properties are accepted and not kept.
        """
        body = _check_body(
            body,
            required=("name",),
            types={
                "name": (str, "string"),
                "description": (str, "string"),
                "app_type": (str, "string"),
                "grant_types": (list, "array"),
            },
        )
        name = body["name"]
        if not name:
            raise _problem("String is too short (0 chars), minimum 1", "name", "name")
        app_type = body.get("app_type", "non_interactive")
        if app_type not in APP_TYPES:
            raise _problem(f"No enum match for: {json.dumps(app_type)}", "app_type", "app_type")
        grant_types = body.get("grant_types", list(DEFAULT_GRANT_TYPES[app_type]))
        if not all(isinstance(g, str) for g in grant_types):
            raise _problem("Expected type string", "grant_types", "grant_types")
        return self._new_client(
            name=name,
            description=body.get("description"),
            app_type=app_type,
            grant_types=tuple(grant_types),
        )

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
            secret_hash=_hash(secret),
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
                    **{**vars(client), "secret_hash": _hash(secret)}  # a new secret
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
