"""auth0-python 6.x, unmodified, against the emulator: over HTTPS trusting ``emu.ca_file``
(``SSL_CERT_FILE``), as an app configures it for a real tenant, and over plain HTTP with
``Auth0(base_url=...)``."""

from __future__ import annotations

import gzip
import json
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from auth0.authentication import GetToken
from auth0.management import Auth0, ManagementClient
from auth0.management.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
)

from identitystore import IdentityStore
from identitystore.emulator import Emulator
from identitystore.errors import IdentityStoreError

DB = "Username-Password-Authentication"
NO_RETRY: Any = {"max_retries": 0}


@pytest.fixture
def emu(identity_store: IdentityStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(identity_store, tls=True) as emulator:
        assert emulator.ca_file is not None
        monkeypatch.setenv("SSL_CERT_FILE", emulator.ca_file)
        yield emulator


@pytest.fixture
def sdk(emu: Emulator) -> Iterator[Callable[..., ManagementClient]]:
    """``sdk(client_id=..., client_secret=...)``: a ``ManagementClient`` made as an app makes one
    for a tenant (the emulator's default client unless told otherwise). The SDK has no
    ``close()``: its httpx client is closed after the test, so no socket outlives it."""
    made: list[ManagementClient] = []

    def make(client_id: str | None = None, client_secret: str | None = None) -> ManagementClient:
        made.append(
            ManagementClient(
                domain=emu.domain,
                client_id=client_id or emu.client_id,
                client_secret=client_secret or emu.client_secret,
            )
        )
        return made[-1]

    yield make
    for client in made:
        client._api._client_wrapper.httpx_client.httpx_client.close()


@pytest.fixture
def management(sdk: Callable[..., ManagementClient]) -> ManagementClient:
    return sdk()


def test_create_get_update_search_and_delete(management: ManagementClient, emu: Emulator) -> None:
    created = management.users.create(
        connection=DB,
        email="Jane@Example.com",
        password="Sup3r-secret!",
        user_metadata={"plan": "free"},
    )
    assert created.user_id is not None
    assert created.email == "jane@example.com"
    stored = emu.store.get_user(created.user_id)
    assert created.created_at is not None
    assert created.created_at.isoformat().replace("+00:00", "Z")[:23] == stored.created_at[:23]

    fetched = management.users.get(created.user_id)
    assert fetched.email == "jane@example.com"
    assert fetched.identities is not None
    assert fetched.identities[0].connection == DB

    updated = management.users.update(created.user_id, user_metadata={"theme": "dark"})
    assert updated.user_metadata == {"plan": "free", "theme": "dark"}
    assert emu.store.get_user(created.user_id).user_metadata == {"plan": "free", "theme": "dark"}

    found = list(management.users.list(q='email:"jane@example.com"', search_engine="v3"))
    assert [u.user_id for u in found] == [created.user_id]
    by_email = management.users.list_users_by_email(email="JANE@example.com")
    assert [u.user_id for u in by_email] == [created.user_id]

    management.users.delete(created.user_id)
    management.users.delete(created.user_id)  # Auth0: deleting twice is fine
    with pytest.raises(NotFoundError) as missing:
        management.users.get(created.user_id, request_options=NO_RETRY)
    assert missing.value.body == {
        "statusCode": 404,
        "error": "Not Found",
        "message": "The user does not exist.",
        "errorCode": "inexistent_user",
    }


def test_paging_through_every_user(management: ManagementClient, emu: Emulator) -> None:
    for n in range(7):
        emu.store.create_user("email", email=f"p{n}@example.com")
    pager = management.users.list(per_page=3)
    assert sorted(u.email or "" for u in pager) == [f"p{n}@example.com" for n in range(7)]


def test_duplicate_is_409_three_times_identically(emu: Emulator) -> None:
    """auth0-python retries a 409 twice on its own; every answer must be the same 409."""
    answers: list[tuple[int, bytes]] = []

    def record(response: httpx.Response) -> None:
        response.read()
        answers.append((response.status_code, response.content))

    recording = httpx.Client(event_hooks={"response": [record]})  # the SDK's own option
    management = ManagementClient(
        domain=emu.domain,
        client_id=emu.client_id,
        client_secret=emu.client_secret,
        httpx_client=recording,
    )
    management.users.create(connection="sms", phone_number="+14155550100")
    answers.clear()
    with pytest.raises(ConflictError) as conflict:
        management.users.create(connection="sms", phone_number="+14155550100")
    assert conflict.value.body == {
        "statusCode": 409,
        "error": "Conflict",
        "message": "The user already exists.",
        "errorCode": "auth0_idp_error",
    }
    assert len(answers) == 3
    assert len(set(answers)) == 1
    assert emu.store.list_users(include_totals=True).total == 1
    recording.close()


def test_invalid_body_gets_the_librarys_exact_body(
    management: ManagementClient, identity_store_factory: Any
) -> None:
    body = {"connection": DB, "email": "jane@example.com", "password": "short"}
    with pytest.raises(BadRequestError) as refused:
        management.users.create(
            connection=DB, email=body["email"], password=body["password"], request_options=NO_RETRY
        )
    with pytest.raises(IdentityStoreError) as direct:
        identity_store_factory().create_user(body.pop("connection"), **body)
    assert refused.value.status_code == 400
    assert refused.value.body == direct.value.to_dict()


def test_connections(management: ManagementClient, emu: Emulator) -> None:
    names = [c.name for c in management.connections.list()]
    assert names == [DB, "email", "sms"]
    assert [c.name for c in management.connections.list(strategy=["sms"])] == ["sms"]
    options: Any = {"passwordPolicy": "fair"}  # the SDK takes a plain mapping as its model
    made = management.connections.create(name="members", strategy="auth0", options=options)
    assert made.id is not None
    fetched = management.connections.get(made.id)
    assert fetched.name == "members"
    options = {"passwordPolicy": "excellent"}
    updated = management.connections.update(made.id, options=options)
    assert updated.options is not None
    assert emu.store.get_connection("members").options == {"passwordPolicy": "excellent"}
    management.connections.delete(made.id)
    assert "members" not in [c.name for c in emu.store.list_connections()]
    with pytest.raises(NotFoundError):
        management.connections.get(made.id, request_options=NO_RETRY)


def test_verification_ticket_and_job(management: ManagementClient, emu: Emulator) -> None:
    user = emu.store.create_user(DB, email="t@example.com", password="Sup3r-secret!")
    ticket = management.tickets.verify_email(user_id=user.user_id)
    assert ticket.ticket.startswith("https://")
    job = management.jobs.verification_email.create(user_id=user.user_id)
    assert job.status == "completed"
    assert management.jobs.get(job.id).type == "verification_email"


def test_a_client_with_too_few_scopes_gets_403(
    management: ManagementClient, emu: Emulator, sdk: Callable[..., ManagementClient]
) -> None:
    reader = management.clients.create(name="reader", app_type="non_interactive")
    assert reader.client_id is not None
    assert reader.client_secret is not None
    management.client_grants.create(
        client_id=reader.client_id,
        audience=f"https://{emu.domain}/api/v2/",
        scope=["read:users"],
    )
    limited = sdk(reader.client_id, reader.client_secret)
    assert list(limited.users.list()) == []
    with pytest.raises(ForbiddenError) as refused:
        limited.users.create(connection="sms", phone_number="+14155550100")
    assert refused.value.body == {
        "statusCode": 403,
        "error": "Forbidden",
        "message": "Insufficient scope, expected any of: create:users",
        "errorCode": "insufficient_scope",
    }
    assert emu.store.list_users(include_totals=True).total == 0


def test_plain_http_with_base_url(identity_emulator: Emulator) -> None:
    """The recipe of docs/emulator.md for plain HTTP: a token from GetToken(protocol="http")."""
    emu = identity_emulator
    token = GetToken(emu.domain, emu.client_id, emu.client_secret, protocol="http")
    access = token.client_credentials(f"https://{emu.domain}/api/v2/")["access_token"]
    management = Auth0(base_url=f"{emu.url}/api/v2", token=access)
    user = management.users.create(connection="sms", phone_number="+14155550100")
    assert management.users.get(user.user_id).phone_number == "+14155550100"
    management._client_wrapper.httpx_client.httpx_client.close()  # the SDK has no close()


def test_logs_blocks_and_deleting_by_email(management: ManagementClient, emu: Emulator) -> None:
    user = management.users.create(connection=DB, email="l@example.com", password="Sup3r-secret!")
    assert user.user_id is not None
    for _ in range(emu.store.max_login_attempts):
        with pytest.raises(IdentityStoreError):
            emu.store.authenticate(DB, "l@example.com", "wrong", ip="203.0.113.7")
    blocks = management.user_blocks.list(user.user_id)
    assert [(b.identifier, b.ip) for b in blocks.blocked_for or []] == [
        ("l@example.com", "203.0.113.7")
    ]
    by_identifier = management.user_blocks.list_by_identifier(identifier="l@example.com")
    assert len(by_identifier.blocked_for or []) == 1
    management.user_blocks.delete(user.user_id)
    assert management.user_blocks.list(user.user_id).blocked_for == []
    management.user_blocks.delete_by_identifier(identifier="l@example.com")

    created = list(management.logs.list(search="type:sapi"))  # the SDK names it search
    assert [e.description for e in created] == [  # newest first
        "Unblock by identifier",
        "Unblock a user",
        "Create a User",
    ]
    assert created[-1].client_id == emu.client_id
    assert management.logs.get(str(created[-1].log_id)).description == "Create a User"
    mine = list(management.users.logs.list(user.user_id))
    assert {e.type for e in mine} >= {"ss", "sapi", "fp"}
    with pytest.raises(NotFoundError):
        management.logs.get("nothing", request_options=NO_RETRY)

    database = emu.store.get_connection(DB)
    management.connections.users.delete_by_email(database.id, email="l@example.com")
    assert emu.store.get_users_by_email("l@example.com") == []


def _until_done(management: ManagementClient, job_id: str) -> Any:
    """The job once neither pending nor processing (within 20 s)."""
    deadline = time.monotonic() + 20
    job = management.jobs.get(job_id)
    while job.status in ("pending", "processing") and time.monotonic() < deadline:
        time.sleep(0.02)
        job = management.jobs.get(job_id)
    return job


def test_import_and_export_jobs(
    management: ManagementClient, emu: Emulator, tmp_path: Path
) -> None:
    """The SDK's own encodings: a file object (its name, ``application/json``), a bare
    ``bytes`` upload (``upload``, ``application/octet-stream``), booleans as ``true``/``false``."""
    db = emu.store.get_connection(DB)
    users_file = tmp_path / "users.json"
    users_file.write_text(
        json.dumps([{"email": "ivy@example.com", "given_name": "Ivy"}, {"email": "nope"}])
    )
    with users_file.open("rb") as users:
        created = management.jobs.users_imports.create(
            users=users, connection_id=db.id, external_id="batch-1", send_completion_email=False
        )
    assert (created.type, created.status, created.connection) == ("users_import", "pending", DB)
    assert created.external_id == "batch-1"
    job = _until_done(management, created.id)
    assert job.status == "completed"
    assert job.summary is not None
    assert (job.summary.inserted, job.summary.failed, job.summary.total) == (1, 1, 2)
    errors = management.jobs.errors.get(created.id)
    assert isinstance(errors, list)
    assert [e.user for e in errors] == [{"email": "nope"}]
    assert errors[0].errors is not None
    assert errors[0].errors[0].code == "INVALID_FORMAT"

    upsert = management.jobs.users_imports.create(
        users=b'[{"email": "ivy@example.com", "given_name": "Ivy Rose"}]',
        connection_id=db.id,
        upsert=True,
    )
    assert _until_done(management, upsert.id).summary.updated == 1
    assert management.jobs.errors.get(upsert.id) is None  # 204
    assert emu.store.get_users_by_email("ivy@example.com")[0].given_name == "Ivy Rose"

    fields: Any = [{"name": "email"}, {"name": "given_name", "export_as": "First name"}]
    export = management.jobs.users_exports.create(connection_id=db.id, format="csv", fields=fields)
    assert (export.type, export.status, export.format) == ("users_export", "pending", "csv")
    done = _until_done(management, export.id)
    assert done.location is not None
    assert emu.ca_file is not None
    downloaded = httpx.get(done.location, verify=ssl.create_default_context(cafile=emu.ca_file))
    assert (
        gzip.decompress(downloaded.content)
        == b'email,First name\n"\'ivy@example.com","\'Ivy Rose"\n'
    )

    with pytest.raises(BadRequestError) as refused:
        management.jobs.users_imports.create(
            users=b"[]", connection_id=emu.store.get_connection("sms").id, request_options=NO_RETRY
        )
    assert refused.value.body["message"] == "Connection must be a database connection."
    with pytest.raises(NotFoundError):
        management.jobs.errors.get("job_AAAAAAAAAAAAAAAA", request_options=NO_RETRY)
