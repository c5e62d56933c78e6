"""Management API v2 handlers: parse the request, call the store, serialise its answer.

No rule of Auth0's user store lives here: bodies go to the store as they came, and its errors
(``IdentityStoreError``) carry their own Auth0 bodies. What is left is HTTP: query strings,
Auth0's list envelopes and paging, ``fields``/``include_fields``, status codes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.responses import Response

from identitystore import User
from identitystore.errors import ConnectionNotFoundError, PayloadValidationError

from ._errors import ApiError, query_error
from ._http import Call, empty, json_response
from ._tenant import json_type, random_id

__all__ = [
    "as_object",
    "only",
    "user_logs",
    "unblock_user",
    "unblock_by_identifier",
    "list_logs",
    "get_user_blocks",
    "get_log",
    "get_blocks_by_identifier",
    "delete_connection_users",
    "create_client",
    "create_client_grant",
    "create_connection",
    "create_user",
    "delete_client",
    "delete_client_grant",
    "delete_connection",
    "delete_user",
    "get_client",
    "get_client_grant",
    "get_connection",
    "get_user",
    "list_client_grants",
    "list_clients",
    "list_connections",
    "list_users",
    "post_email_verification_ticket",
    "post_verification_email_job",
    "update_client",
    "update_connection",
    "update_user",
    "users_by_email",
]

#: Largest ``take`` / ``per_page`` of the list routes.
MAX_TAKE = 100


# -- shared helpers -----------------------------------------------------------------------------


async def _object_body(call: Call) -> dict[str, Any]:
    """The JSON body, which must be an object (z-schema's error otherwise)."""
    return as_object(await call.json())


def as_object(body: Any) -> dict[str, Any]:
    """``body``, which must be an object (z-schema's error otherwise)."""
    if not isinstance(body, dict):
        raise PayloadValidationError(
            [
                PayloadValidationError.format(
                    f"Expected type object but found type {json_type(body)}"
                )
            ]
        )
    return body


def only(body: Mapping[str, Any], allowed: Sequence[str]) -> None:
    """Refuse properties outside ``allowed`` (Auth0's ``additionalProperties: false``)."""
    extra = [k for k in body if k not in allowed]
    if extra:
        raise PayloadValidationError(
            [PayloadValidationError.format(f"Additional properties not allowed: {','.join(extra)}")]
        )


def _required(body: Mapping[str, Any], *names: str) -> None:
    missing = [n for n in names if n not in body]
    if missing:
        raise PayloadValidationError(
            [PayloadValidationError.format(f"Missing required property: {n}") for n in missing]
        )


def _projection(call: Call) -> tuple[frozenset[str], bool] | None:
    """``fields`` and ``include_fields`` of the query, or None to keep every field."""
    fields = call.query("fields")
    if not fields:
        return None
    return frozenset(f.strip() for f in fields.split(",")), call.query_bool(
        "include_fields", default=True
    )


def _project(body: dict[str, Any], projection: tuple[frozenset[str], bool] | None) -> Any:
    if projection is None:
        return body
    names, include = projection
    return {k: v for k, v in body.items() if (k in names) is include}


def _paged(call: Call, items: Sequence[dict[str, Any]], key: str) -> Any:
    """Auth0's list envelopes for a short in-memory list (connections, clients, grants).

    A non-empty ``from`` or ``take`` gives the checkpoint shape ``{key: [...], "next": ...}``
    (``next`` left out on the last page); ``page``/``per_page`` offset pages, as
    ``{start, limit, total, key}`` with ``include_totals=true`` (no ``length``, unlike users and
    logs); otherwise the bare array.
    """
    params = call.request.query_params
    if call.query("take") or call.query("from"):  # an empty one is as good as absent
        take = call.query_int("take", default=50)
        if not 1 <= take <= MAX_TAKE:
            raise query_error("take", f"Value {take} is outside 1 to {MAX_TAKE}")
        start = _checkpoint(call.query("from"))
        body: dict[str, Any] = {key: list(items[start : start + take])}
        if start + take < len(items):
            body["next"] = base64.urlsafe_b64encode(str(start + take).encode()).decode()
        return body
    page = call.query_int("page", default=0)
    per_page = call.query_int("per_page", default=MAX_TAKE if "page" not in params else 50)
    if page < 0:
        raise query_error("page", f"Value {page} is less than minimum 0")
    if not 1 <= per_page <= MAX_TAKE:
        raise query_error("per_page", f"Value {per_page} is outside 1 to {MAX_TAKE}")
    chosen = list(items[page * per_page : (page + 1) * per_page])
    if not call.query_bool("include_totals", default=False):
        return chosen
    return {"start": page * per_page, "limit": per_page, "total": len(items), key: chosen}


def _checkpoint(value: str | None) -> int:
    if not value:
        return 0
    try:
        start = int(base64.urlsafe_b64decode(value.encode("ascii")).decode("ascii"))
    except (ValueError, binascii.Error, UnicodeError):
        raise query_error("from", "Invalid checkpoint") from None
    if start < 0:
        raise query_error("from", "Invalid checkpoint")
    return start


def _projected(body: Any, key: str, projection: tuple[frozenset[str], bool] | None) -> Any:
    """``fields`` applied to each item of a list body or of ``body[key]``."""
    if projection is None:
        return body
    if isinstance(body, list):
        return [_project(item, projection) for item in body]
    return {**body, key: [_project(item, projection) for item in body[key]]}


# -- users --------------------------------------------------------------------------------------


def _user(user: User, projection: tuple[frozenset[str], bool] | None = None) -> Any:
    return _project(user.to_dict(), projection)


async def create_user(call: Call) -> Response:
    """POST /api/v2/users (201)."""
    user = await call.store.create_user_from_body(await call.json())
    call.log_user = user.user_id
    return json_response(user.to_dict(), 201)


async def list_users(call: Call) -> Response:
    """GET /api/v2/users: list or search (``q``), paged."""
    engine = call.query("search_engine")
    if engine == "v1":
        raise ApiError(
            400, "You are not allowed to use search_engine=v1.", error_code="invalid_query_string"
        )
    if engine not in (None, "v2", "v3"):
        raise query_error("search_engine", f"No enum match for: {engine}")
    projection = _projection(call)
    page = await call.store.list_users(
        call.query("connection"),
        call.query("q") or None,
        call.query_int("page", default=0),
        call.query_int("per_page", default=50),
        call.query("sort") or None,
        include_totals=call.query_bool("include_totals", default=False),
    )
    return json_response(_projected(page.to_dict(), "users", projection))


async def get_user(call: Call) -> Response:
    """GET /api/v2/users/{id}."""
    user = await call.store.get_user(call.params[0])
    return json_response(_user(user, _projection(call)))


async def update_user(call: Call) -> Response:
    """PATCH /api/v2/users/{id}."""
    body = await _object_body(call)
    user = await call.store.update_user(call.params[0], **body)
    return json_response(user.to_dict())


async def delete_user(call: Call) -> Response:
    """DELETE /api/v2/users/{id}: 204, also for an unknown id."""
    await call.store.delete_user(call.params[0])
    return empty()


def _required_query(call: Call, name: str) -> str:
    value = call.query(name)
    if value is None:
        raise query_error(name, f"Missing required property: {name}")
    return value


async def users_by_email(call: Call) -> Response:
    """GET /api/v2/users-by-email?email=..."""
    email = _required_query(call, "email")
    projection = _projection(call)
    users = await call.store.get_users_by_email(email)
    return json_response([_user(u, projection) for u in users])


# -- connections --------------------------------------------------------------------------------

#: Properties of Auth0's connection bodies that the store does not keep: accepted, not stored.
_IGNORED_CONNECTION_FIELDS = (
    "display_name",
    "enabled_clients",
    "is_domain_connection",
    "realms",
    "metadata",
    "show_as_button",
)


async def list_connections(call: Call) -> Response:
    """GET /api/v2/connections, filtered by ``strategy`` (repeatable) and ``name``."""
    strategies = call.query_list("strategy")
    name = call.query("name")
    projection = _projection(call)
    found = [
        _project(c.to_dict(), projection)
        for c in await call.store.list_connections()
        if (not strategies or c.strategy in strategies) and name in (None, c.name)
    ]
    return json_response(_paged(call, found, "connections"))


async def get_connection(call: Call) -> Response:
    """GET /api/v2/connections/{id}."""
    connection = await call.store.get_connection_by_id(call.params[0])
    return json_response(_project(connection.to_dict(), _projection(call)))


async def create_connection(call: Call) -> Response:
    """POST /api/v2/connections (201)."""
    body = await _object_body(call)
    only(body, ("name", "strategy", "options", *_IGNORED_CONNECTION_FIELDS))
    _required(body, "name", "strategy")
    connection = await call.store.create_connection(
        body["name"], strategy=body["strategy"], options=body.get("options")
    )
    return json_response(connection.to_dict(), 201)


async def update_connection(call: Call) -> Response:
    """PATCH /api/v2/connections/{id}: ``options`` replaces the whole options object."""
    body = await _object_body(call)
    only(body, ("options", *_IGNORED_CONNECTION_FIELDS))
    connection = await call.store.get_connection_by_id(call.params[0])
    if "options" in body:
        connection = await call.store.update_connection(connection.name, options=body["options"])
    return json_response(connection.to_dict())


async def delete_connection(call: Call) -> Response:
    """DELETE /api/v2/connections/{id}: 202 with ``deleted_at``, then 204 once gone."""
    try:
        connection = await call.store.get_connection_by_id(call.params[0])
    except ConnectionNotFoundError:
        return empty()
    await call.store.delete_connection(connection.name)
    return json_response({"deleted_at": call.emu.tenant.now()}, 202)


async def delete_connection_users(call: Call) -> Response:
    """DELETE /api/v2/connections/{id}/users?email=: the database user with that email (204)."""
    email = _required_query(call, "email")
    connection = await call.store.get_connection_by_id(call.params[0])
    await call.store.delete_users_by_email(connection.name, email)
    return empty()


# -- logs ---------------------------------------------------------------------------------------


async def list_logs(call: Call) -> Response:
    """GET /api/v2/logs: a search (``q``, or the OAS's ``search``) by page, or with ``from``/
    ``take`` the events after a checkpoint, oldest first (``from`` wins over ``q``, as Auth0's)."""
    projection = _projection(call)
    checkpoint = call.query("from")
    if checkpoint or call.query("take"):
        q = None if checkpoint else call.query("q") or call.query("search") or None
        events = await call.store.events_after(
            checkpoint or None, take=call.query_int("take", default=50), q=q
        )
        body: Any = [e.to_dict() for e in events]
    else:
        page = await call.store.search_events(
            call.query("q") or call.query("search") or None,
            page=call.query_int("page", default=0),
            per_page=call.query_int("per_page", default=50),
            sort=call.query("sort") or None,
            include_totals=call.query_bool("include_totals", default=False),
        )
        body = page.to_dict()
    return json_response(_projected(body, "logs", projection))


async def user_logs(call: Call) -> Response:
    """GET /api/v2/users/{id}/logs, newest first unless ``sort=date:1``."""
    page = await call.store.search_events(
        user_id=call.params[0],
        page=call.query_int("page", default=0),
        per_page=call.query_int("per_page", default=50),
        sort=call.query("sort") or None,
        include_totals=call.query_bool("include_totals", default=False),
    )
    return json_response(page.to_dict())


async def get_log(call: Call) -> Response:
    """GET /api/v2/logs/{id}."""
    event = await call.store.get_event(call.params[0])
    return json_response(_project(event.to_dict(), _projection(call)))


# -- brute-force blocks -------------------------------------------------------------------------


async def get_user_blocks(call: Call) -> Response:
    """GET /api/v2/user-blocks/{id}: ``{"blocked_for": [...]}``."""
    blocks = await call.store.get_user_blocks(call.params[0])
    return json_response({"blocked_for": [b.to_dict() for b in blocks]})


async def unblock_user(call: Call) -> Response:
    """DELETE /api/v2/user-blocks/{id} (204)."""
    await call.store.unblock_user(call.params[0])
    return empty()


async def get_blocks_by_identifier(call: Call) -> Response:
    """GET /api/v2/user-blocks?identifier= (an email, username or phone number)."""
    blocks = await call.store.get_user_blocks_by_identifier(_required_query(call, "identifier"))
    return json_response({"blocked_for": [b.to_dict() for b in blocks]})


async def unblock_by_identifier(call: Call) -> Response:
    """DELETE /api/v2/user-blocks?identifier= (204)."""
    await call.store.unblock_user_by_identifier(_required_query(call, "identifier"))
    return empty()


# -- tickets and jobs ---------------------------------------------------------------------------

_TICKET_FIELDS = (
    "user_id",
    "result_url",
    "client_id",
    "organization_id",
    "ttl_sec",
    "includeEmailInRedirect",
    "identity",
)


async def post_email_verification_ticket(call: Call) -> Response:
    """POST /api/v2/tickets/email-verification (201 ``{"ticket": url}``)."""
    body = await _object_body(call)
    only(body, _TICKET_FIELDS)
    _required(body, "user_id")
    ticket = await call.store.create_email_verification_ticket(
        body["user_id"], ttl_sec=body.get("ttl_sec") or 0
    )
    return json_response(ticket.to_dict(), 201)


async def post_verification_email_job(call: Call) -> Response:
    """POST /api/v2/jobs/verification-email: the email is sent at once; the job is completed."""
    body = await _object_body(call)
    only(body, ("user_id", "client_id", "identity", "organization_id"))
    _required(body, "user_id")
    await call.store.create_email_verification_ticket(body["user_id"], send=True)
    job = {
        "type": "verification_email",
        "status": "completed",
        "created_at": call.emu.tenant.now(),
        "id": random_id("job_", 16),
    }
    await call.off_loop(call.emu.tenant.add_job, job)
    return json_response(job, 201)


# -- clients and client grants ------------------------------------------------------------------


async def list_clients(call: Call) -> Response:
    """GET /api/v2/clients (secrets are never shown again)."""
    projection = _projection(call)
    found = [
        _project(c.to_dict(), projection) for c in await call.off_loop(call.emu.tenant.list_clients)
    ]
    return json_response(_paged(call, found, "clients"))


async def create_client(call: Call) -> Response:
    """POST /api/v2/clients (201, the only answer that shows ``client_secret``)."""
    client, secret = await call.off_loop(call.emu.tenant.create_client, await call.json())
    return json_response(client.to_dict(secret), 201)


async def get_client(call: Call) -> Response:
    """GET /api/v2/clients/{id}."""
    client = await call.off_loop(call.emu.tenant.get_client, call.params[0])
    return json_response(_project(client.to_dict(), _projection(call)))


async def update_client(call: Call) -> Response:
    """PATCH /api/v2/clients/{id}: the properties the body names (200, no secret shown)."""
    client = await call.off_loop(call.emu.tenant.update_client, call.params[0], await call.json())
    return json_response(client.to_dict())


async def delete_client(call: Call) -> Response:
    """DELETE /api/v2/clients/{id}: the client and its grants (204)."""
    await call.off_loop(call.emu.tenant.delete_client, call.params[0])
    return empty()


async def list_client_grants(call: Call) -> Response:
    """GET /api/v2/client-grants, filtered by ``client_id`` and ``audience``."""
    grants = await call.off_loop(
        call.emu.tenant.list_grants,
        client_id=call.query("client_id"),
        audience=call.query("audience"),
    )
    return json_response(_paged(call, [g.to_dict() for g in grants], "client_grants"))


async def create_client_grant(call: Call) -> Response:
    """POST /api/v2/client-grants (201)."""
    grant = await call.off_loop(call.emu.tenant.create_grant, await call.json())
    return json_response(grant.to_dict(), 201)


async def get_client_grant(call: Call) -> Response:
    """GET /api/v2/client-grants/{id}."""
    return json_response((await call.off_loop(call.emu.tenant.get_grant, call.params[0])).to_dict())


async def delete_client_grant(call: Call) -> Response:
    """DELETE /api/v2/client-grants/{id} (204)."""
    await call.off_loop(call.emu.tenant.delete_grant, call.params[0])
    return empty()
