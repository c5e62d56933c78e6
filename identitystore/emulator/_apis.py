"""APIs of the tenant's own (Auth0's resource servers): what ``/api/v2/resource-servers`` keeps,
and what tokens for them carry (audience, scopes, lifetime, refresh tokens).

An API is kept as a backend record (kind ``resource_server``, keyed by its id) and looked up by
its ``identifier``, the ``audience`` of the tokens issued for it. The Management API is the
tenant's own and is not listed here.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from starlette.responses import Response

from identitystore.errors import PayloadValidationError
from identitystore.storage import Backend

from ._errors import ApiError
from ._http import Call, empty, json_response
from ._tenant import json_type
from ._tokens import TOKEN_LIFETIME

__all__ = [
    "Api",
    "create_api",
    "delete_api",
    "find_api",
    "get_api",
    "list_apis",
    "update_api",
]

_KIND = "resource_server"
#: Auth0's bounds on ``token_lifetime`` (seconds).
_LIFETIME = (1, 2592000)
_FIELDS = ("name", "identifier", "scopes", "token_lifetime", "allow_offline_access", "signing_alg")
#: The longest text of each string property, and of a scope's value and description (Auth0's
#: document).
_LONGEST = {"name": 200, "identifier": 600, "signing_alg": 16}
_SCOPE_VALUE, _SCOPE_DESCRIPTION = 280, 500


@dataclass(frozen=True)
class Api:
    """One API: its ``identifier`` is the audience of its tokens, ``scopes`` the permissions a
    token may carry."""

    id: str
    name: str
    identifier: str
    scopes: tuple[tuple[str, str], ...] = ()
    token_lifetime: int = TOKEN_LIFETIME
    allow_offline_access: bool = False
    signing_alg: str = "RS256"

    @property
    def scope_values(self) -> tuple[str, ...]:
        """The names of its scopes."""
        return tuple(value for value, _ in self.scopes)

    def to_dict(self) -> dict[str, Any]:
        """Auth0's resource-server body."""
        return {
            "id": self.id,
            "name": self.name,
            "identifier": self.identifier,
            "scopes": [{"value": v, "description": d} for v, d in self.scopes],
            "signing_alg": self.signing_alg,
            "token_lifetime": self.token_lifetime,
            "allow_offline_access": self.allow_offline_access,
            "skip_consent_for_verifiable_first_party_clients": True,
            "is_system": False,
        }

    def to_record(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_record(cls, text: str) -> Api:
        data = json.loads(text)
        data["scopes"] = tuple((v, d) for v, d in data["scopes"])
        return cls(**data)


def _problem(text: str, prop: str | None = None) -> PayloadValidationError:
    return PayloadValidationError([PayloadValidationError.format(text, prop, prop)])


def _checked(body: object, *, creating: bool) -> dict[str, Any]:
    """The API's fields of a POST or PATCH body, checked (Auth0's schema words)."""
    if not isinstance(body, Mapping):
        raise _problem(f"Expected type object but found type {json_type(body)}")
    extra = [
        k
        for k in body
        if k not in _FIELDS and k != "skip_consent_for_verifiable_first_party_clients"
    ]
    if extra:
        raise _problem(f"Additional properties not allowed: {','.join(extra)}")
    if creating and "identifier" not in body:
        raise _problem("Missing required property: identifier")
    if not creating and "identifier" in body:
        raise _problem("Additional properties not allowed: identifier")
    fields: dict[str, Any] = {}
    for name, longest in _LONGEST.items():
        if name in body:
            value = body[name]
            if not isinstance(value, str) or not value or "\x00" in value:
                raise _problem(f"Expected type string but found type {json_type(value)}", name)
            if len(value) > longest or (name == "name" and ("<" in value or ">" in value)):
                raise _problem(f"At most {longest} characters, without < or >", name)
            fields[name] = value
    if fields.get("signing_alg", "RS256") != "RS256":
        raise _problem("The emulator signs with RS256 only", "signing_alg")
    if "token_lifetime" in body:
        value = body["token_lifetime"]
        low, high = _LIFETIME
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _problem(f"Expected an integer from {low} to {high}", "token_lifetime")
        fields["token_lifetime"] = value
    if "allow_offline_access" in body:
        value = body["allow_offline_access"]
        if not isinstance(value, bool):
            raise _problem(
                f"Expected type boolean but found type {json_type(value)}", "allow_offline_access"
            )
        fields["allow_offline_access"] = value
    if "scopes" in body:
        scopes = body["scopes"]
        if not isinstance(scopes, list) or not all(
            isinstance(s, Mapping)
            and isinstance(s.get("value"), str)
            and 0 < len(s["value"]) <= _SCOPE_VALUE
            and " " not in s["value"]
            and isinstance(s.get("description", ""), str)
            and len(s.get("description", "")) <= _SCOPE_DESCRIPTION
            and not s.keys() - {"value", "description"}
            for s in scopes
        ):
            raise _problem(
                "Each scope must be {value, description}: a value of one word of at most "
                f"{_SCOPE_VALUE} characters, a description of at most {_SCOPE_DESCRIPTION}",
                "scopes",
            )
        fields["scopes"] = tuple(
            dict.fromkeys((s["value"], s.get("description", "")) for s in scopes)
        )
    return fields


def _all(records: Backend) -> list[Api]:
    return [Api.from_record(text) for _, text in records.list_records(_KIND)]


def find_api(records: Backend, audience: str) -> Api | None:
    """The API whose ``identifier`` is ``audience``, if any."""
    for api in _all(records):
        if api.identifier == audience:
            return api
    return None


def _by_id_or_identifier(records: Backend, key: str) -> Api:
    """Auth0's ``/resource-servers/{id}`` takes the id or the identifier."""
    text = records.get_record(_KIND, key) if "\x00" not in key else None
    api = Api.from_record(text) if text is not None else find_api(records, key)
    if api is None:
        raise ApiError(
            404, "The resource server does not exist", error_code="inexistent_resource_server"
        )
    return api


async def list_apis(call: Call) -> Response:
    """GET /api/v2/resource-servers: the tenant's APIs, oldest first."""
    apis = await call.off_loop(_all, call.emu.store.backend)
    return json_response([api.to_dict() for api in apis])


async def create_api(call: Call) -> Response:
    """POST /api/v2/resource-servers (201)."""
    fields = _checked(await call.json(), creating=True)
    backend = call.emu.store.backend
    if fields["identifier"] == call.emu.tenant.audience or await call.off_loop(
        find_api, backend, fields["identifier"]
    ):
        raise ApiError(
            409, "A resource server with the same identifier already exists", error_code="conflict"
        )
    fields.setdefault("name", fields["identifier"])
    api = Api(id=secrets.token_hex(12), **fields)
    await call.off_loop(backend.put_record, _KIND, api.id, api.to_record())
    return json_response(api.to_dict(), 201)


async def get_api(call: Call) -> Response:
    """GET /api/v2/resource-servers/{id}."""
    api = await call.off_loop(_by_id_or_identifier, call.emu.store.backend, call.params[0])
    return json_response(api.to_dict())


async def update_api(call: Call) -> Response:
    """PATCH /api/v2/resource-servers/{id}: name, scopes (replaced whole), lifetime, offline;
    201, as Auth0's document gives it."""
    fields = _checked(await call.json(), creating=False)
    backend = call.emu.store.backend
    api = replace(await call.off_loop(_by_id_or_identifier, backend, call.params[0]), **fields)
    await call.off_loop(backend.put_record, _KIND, api.id, api.to_record())
    return json_response(api.to_dict(), 201)


async def delete_api(call: Call) -> Response:
    """DELETE /api/v2/resource-servers/{id} (204, also for an unknown one)."""
    backend = call.emu.store.backend
    try:
        api = await call.off_loop(_by_id_or_identifier, backend, call.params[0])
    except ApiError:
        return empty()
    await call.off_loop(backend.delete_record, _KIND, api.id)
    return empty()
