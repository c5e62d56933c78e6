"""Bulk import and export jobs over real HTTP against a started ``Emulator``:
``POST /api/v2/jobs/users-imports`` (multipart), ``POST /api/v2/jobs/users-exports``,
``GET /api/v2/jobs/{id}``, ``GET /api/v2/jobs/{id}/errors`` and the signed export download."""

from __future__ import annotations

import gzip
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from identitystore import IdentityStore
from identitystore.emulator import Emulator
from tests.emulator_support import api, management_token

DB = "Username-Password-Authentication"
BCRYPT = "$2b$10$abcdefghijklmnopqrstuuGGgFFcYeueaAql8Z7U7CnCTRw4DR77W"  # correct horse...
MD5_SALTED = {
    "algorithm": "md5",
    "hash": {"value": "67A1E09BB1F83F5007DC119C14D663AA", "encoding": "hex"},
    "salt": {"value": "salt"},
}  # the password "password"


@pytest.fixture
def emu(identity_store: IdentityStore) -> Iterator[Emulator]:
    with Emulator(identity_store) as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[httpx.Client]:
    with api(emu) as made:
        yield made


def _connection_id(store: IdentityStore, name: str = DB) -> str:
    return store.get_connection(name).id


def _import(
    client: httpx.Client,
    connection_id: str,
    users: bytes,
    *,
    filename: str = "users.json",
    content_type: str = "application/json",
    **fields: str,
) -> httpx.Response:
    return client.post(
        "/jobs/users-imports",
        files={"users": (filename, users, content_type)},
        data={"connection_id": connection_id, **fields},
    )


def _finished(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """The job once it is no longer pending or processing (within 20 s)."""
    deadline = time.monotonic() + 20
    while True:
        job: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
        if job["status"] not in ("pending", "processing") or time.monotonic() > deadline:
            return job
        time.sleep(0.02)


def _hold_imports(
    monkeypatch: pytest.MonkeyPatch, store: IdentityStore
) -> tuple[threading.Event, threading.Event]:
    """Hold each import job at its first progress report (once accepted and its users read)
    until the first event is set; the second is set once a job is held."""
    release, entered = threading.Event(), threading.Event()
    original = store.import_users

    def held(connection: str, source: Any, **options: Any) -> Any:
        report = options["progress"]

        def progress(done: int, total: int | None) -> None:
            entered.set()
            assert release.wait(20), "the test never released the job"
            report(done, total)

        return original(connection, source, **{**options, "progress": progress})

    monkeypatch.setattr(store, "import_users", held)
    return release, entered


# -- imports ------------------------------------------------------------------------------------


def test_an_import_job_inserts_good_users_and_reports_bad_ones(
    client: httpx.Client, emu: Emulator, identity_store_factory: Callable[..., IdentityStore]
) -> None:
    users: list[dict[str, Any]] = [
        {"email": "ann@example.com", "email_verified": True, "password_hash": BCRYPT},
        {"email": "bob@example.com", "custom_password_hash": MD5_SALTED},
        {"email": "not an email", "password_hash": BCRYPT},
        {"email": "ann@example.com"},
        {"email": "cy@example.com", "password": "plain-text!"},
    ]
    answer = _import(
        client, _connection_id(emu.store), json.dumps(users).encode(), external_id="e1"
    )
    assert answer.status_code == 202
    created = answer.json()
    assert list(created) == [
        "type",
        "status",
        "connection_id",
        "connection",
        "created_at",
        "id",
        "external_id",
    ]
    assert created["type"] == "users_import"
    assert created["status"] == "pending"
    assert created["connection"] == DB
    assert created["external_id"] == "e1"
    assert created["id"].startswith("job_")
    assert len(created["id"]) == 20

    job = _finished(client, created["id"])
    assert job["status"] == "completed"
    assert job["summary"] == {"failed": 3, "updated": 0, "inserted": 2, "total": 5}
    assert job["external_id"] == "e1"

    errors = client.get(f"/jobs/{created['id']}/errors")
    assert errors.status_code == 200
    expected = identity_store_factory().import_users(DB, users).errors
    assert errors.json() == json.loads(json.dumps(expected))
    assert BCRYPT not in errors.text  # masked: *****
    assert "plain-text!" not in errors.text
    assert "*****" in errors.text

    ann = emu.store.authenticate(DB, "ann@example.com", "correct horse battery staple")
    assert ann.email_verified is True
    assert emu.store.authenticate(DB, "bob@example.com", "password").email == "bob@example.com"
    assert emu.store.get_users_by_email("cy@example.com") == []
    assert len(emu.store.list_events(type="sui")) == 1


def test_a_job_without_errors_answers_204_on_its_errors(
    client: httpx.Client, emu: Emulator
) -> None:
    answer = _import(client, _connection_id(emu.store), b'[{"email": "d@example.com"}]')
    job = _finished(client, answer.json()["id"])
    assert job["summary"] == {"failed": 0, "updated": 0, "inserted": 1, "total": 1}
    errors = client.get(f"/jobs/{job['id']}/errors")
    assert (errors.status_code, errors.content) == (204, b"")


def test_upsert_updates_the_users_the_connection_has(client: httpx.Client, emu: Emulator) -> None:
    user = emu.store.create_user(
        DB, email="ed@example.com", password="Sup3r-secret!", given_name="Ed"
    )
    users = [
        {"email": "ed@example.com", "given_name": "Edward", "user_metadata": {"plan": "pro"}},
        {"email": "fay@example.com"},
    ]
    body = json.dumps(users).encode()
    refused = _finished(client, _import(client, _connection_id(emu.store), body).json()["id"])
    assert refused["summary"] == {"failed": 1, "updated": 0, "inserted": 1, "total": 2}
    duplicate = client.get(f"/jobs/{refused['id']}/errors").json()
    assert duplicate[0]["errors"][0]["code"] == "DUPLICATED_USER"
    assert emu.store.get_user(user.user_id).given_name == "Ed"

    answer = _import(client, _connection_id(emu.store), body, upsert="true")
    upserted = _finished(client, answer.json()["id"])
    assert upserted["summary"] == {"failed": 0, "updated": 2, "inserted": 0, "total": 2}
    changed = emu.store.get_user(user.user_id)
    assert (changed.given_name, changed.user_metadata) == ("Edward", {"plan": "pro"})
    assert emu.store.authenticate(DB, "ed@example.com", "Sup3r-secret!").user_id == user.user_id


def test_a_gzip_users_file_is_read(client: httpx.Client, emu: Emulator) -> None:
    users = [{"email": f"g{n}@example.com"} for n in range(50)]
    packed = gzip.compress(json.dumps(users).encode())
    answer = _import(
        client, _connection_id(emu.store), packed, filename="users.json.gz", content_type="x/y"
    )
    job = _finished(client, answer.json()["id"])
    assert job["summary"] == {"failed": 0, "updated": 0, "inserted": 50, "total": 50}
    assert emu.store.list_users(include_totals=True).total == 50


def test_a_file_that_is_not_json_fails_the_job(client: httpx.Client, emu: Emulator) -> None:
    answer = _import(client, _connection_id(emu.store), b'[{"email": "h@example.com"},')
    assert answer.status_code == 202
    job = _finished(client, answer.json()["id"])
    assert job["status"] == "failed"
    assert job["status_details"].startswith("Users file could not be parsed")
    assert "summary" not in job
    assert client.get(f"/jobs/{job['id']}/errors").status_code == 204
    assert emu.store.list_users(include_totals=True).total == 0
    assert [e.type for e in emu.store.list_events(type="fui")] == ["fui"]


def test_a_payload_over_500_kb_is_413_and_nothing_is_kept(
    client: httpx.Client, emu: Emulator
) -> None:
    users = [{"email": f"big{n}@example.com", "name": "x" * 200} for n in range(2500)]
    body = json.dumps(users).encode()
    assert len(body) > 512_000
    answer = _import(client, _connection_id(emu.store), body)
    assert answer.status_code == 413
    assert answer.json() == {
        "statusCode": 413,
        "error": "Request Entity Too Large",
        "message": "Payload content length greater than maximum allowed: 512000",
    }
    assert emu.store.list_users(include_totals=True).total == 0
    assert emu.app.emulation.tenant.list_jobs() == []


def _bad_request(message: str, error_code: str | None = "invalid_body") -> dict[str, Any]:
    body: dict[str, Any] = {"statusCode": 400, "error": "Bad Request", "message": message}
    if error_code is not None:
        body["errorCode"] = error_code
    return body


def test_refused_imports_answer_auth0s_400s_and_make_no_job(
    client: httpx.Client, emu: Emulator
) -> None:
    db = _connection_id(emu.store)
    users = b'[{"email": "i@example.com"}]'
    cases: list[tuple[httpx.Response, dict[str, Any]]] = [
        (
            client.post("/jobs/users-imports", data={"connection_id": db}, files={"x": b"1"}),
            _bad_request("Must provide 'users' file as multipart part."),
        ),
        (_import(client, db, b""), _bad_request("Users file must not be empty.")),
        (
            client.post("/jobs/users-imports", files={"users": ("u.json", users)}),
            _bad_request("Must provide 'connection_id' as multipart part."),
        ),
        (
            _import(client, "Username-Password-Authentication", users),
            _bad_request(
                "Payload validation error: 'String does not match pattern "
                "^con_[A-Za-z0-9]{16}$' on property connection_id."
            ),
        ),
        (
            _import(client, "con_0000000000000000", users),
            _bad_request("The connection does not exist.", "inexistent_connection"),
        ),
        (
            _import(client, _connection_id(emu.store, "sms"), users),
            _bad_request("Connection must be a database connection.", None),
        ),
        (
            _import(client, db, users, upsert="yes"),
            _bad_request(
                "Payload validation error: 'Expected type boolean but found type string' "
                "on property upsert."
            ),
        ),
        (
            client.post("/jobs/users-imports", json={"connection_id": db, "users": []}),
            _bad_request("Payload validation error: 'Invalid multipart payload format'."),
        ),
        (
            client.post(
                "/jobs/users-imports",
                content=b"--b\r\nbroken",
                headers={"content-type": "multipart/form-data"},  # no boundary
            ),
            _bad_request("Payload validation error: 'Invalid multipart payload format'."),
        ),
    ]
    for answer, body in cases:
        assert (answer.status_code, answer.json()) == (400, body)
    assert emu.app.emulation.tenant.list_jobs() == []
    assert emu.store.list_users(include_totals=True).total == 0


def _limited_client(client: httpx.Client, emu: Emulator, scope: str) -> httpx.Client:
    made = client.post("/clients", json={"name": scope, "app_type": "non_interactive"}).json()
    grant = {"client_id": made["client_id"], "audience": f"https://{emu.domain}/api/v2/"}
    assert client.post("/client-grants", json={**grant, "scope": [scope]}).status_code == 201
    token = management_token(emu, client_id=made["client_id"], client_secret=made["client_secret"])
    return api(emu, token)


def test_each_job_route_needs_its_scope(client: httpx.Client, emu: Emulator) -> None:
    db = _connection_id(emu.store)
    with _limited_client(client, emu, "read:users") as reader:
        refused = _import(reader, db, b'[{"email": "j@example.com"}]')
        assert (refused.status_code, refused.json()) == (
            403,
            {
                "statusCode": 403,
                "error": "Forbidden",
                "message": "Insufficient scope, expected any of: create:users",
                "errorCode": "insufficient_scope",
            },
        )
        exported = reader.post("/jobs/users-exports", json={"format": "json"})
        assert exported.status_code == 200
        assert reader.get(f"/jobs/{exported.json()['id']}").status_code == 200
    with _limited_client(client, emu, "create:users") as creator:
        job = _import(creator, db, b'[{"email": "j@example.com"}]').json()
        assert creator.get(f"/jobs/{job['id']}/errors").status_code in (200, 204)
        refused = creator.post("/jobs/users-exports", json={"format": "json"})
        assert refused.status_code == 403
        assert refused.json()["message"] == "Insufficient scope, expected any of: read:users"
    with _limited_client(client, emu, "read:logs") as other:
        assert other.get(f"/jobs/{job['id']}").status_code == 403
    assert emu.store.get_users_by_email("j@example.com") != []


def test_unknown_jobs_are_404(client: httpx.Client) -> None:
    for path in ("/jobs/job_AAAAAAAAAAAAAAAA", "/jobs/job_AAAAAAAAAAAAAAAA/errors"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert answer.json()["message"] == "The job does not exist."


def test_a_third_active_import_is_429_and_jobs_never_block_other_requests(
    client: httpx.Client, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    release, entered = _hold_imports(monkeypatch, emu.store)
    db = _connection_id(emu.store)
    first = _import(client, db, b'[{"email": "k1@example.com"}]')
    second = _import(client, db, b'[{"email": "k2@example.com"}]')
    assert (first.status_code, second.status_code) == (202, 202)
    assert entered.wait(10)
    third = _import(client, db, b'[{"email": "k3@example.com"}]')
    assert (third.status_code, third.json()) == (
        429,
        {
            "statusCode": 429,
            "error": "Too Many Requests",
            "message": "There are 2 active import users jobs, please wait until some of them are "
            "finished and try again",
        },
    )
    # both imports hold their workers: the API still answers at once
    started = time.monotonic()
    assert client.get("/users").status_code == 200
    made = client.post("/users", json={"connection": "sms", "phone_number": "+14155550101"})
    assert made.status_code == 201
    assert time.monotonic() - started < 5
    assert client.get(f"/jobs/{first.json()['id']}").json()["status"] == "processing"
    release.set()
    assert _finished(client, first.json()["id"])["status"] == "completed"
    assert _finished(client, second.json()["id"])["status"] == "completed"
    again = _import(client, db, b'[{"email": "k3@example.com"}]')
    assert _finished(client, again.json()["id"])["summary"]["inserted"] == 1


def test_uploads_are_deleted_once_imported_and_the_folder_when_stopped(
    identity_store: IdentityStore,
) -> None:
    with Emulator(identity_store) as emu, api(emu) as client:
        answer = _import(client, _connection_id(identity_store), b'[{"email": "l@example.com"}]')
        _finished(client, answer.json()["id"])
        folder = emu.app.emulation.jobs.folder()
        assert list(folder.iterdir()) == []
        exported = client.post("/jobs/users-exports", json={"format": "json"}).json()
        assert _finished(client, exported["id"])["status"] == "completed"
        assert [p.name for p in folder.rglob("*.gz")] == ["tenant.json.gz"]
    assert not folder.exists()


# -- exports ------------------------------------------------------------------------------------


def _download(location: str) -> bytes:
    answer = httpx.get(location)  # no token: the link is the credential
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/gzip"
    return gzip.decompress(answer.content)


def _some_users(store: IdentityStore) -> None:
    store.create_user(DB, email="ann@example.com", password="Sup3r-secret!", given_name="Ann")
    store.create_user(DB, email="bob@example.com", password="Sup3r-secret!", user_metadata={"a": 1})
    store.create_user("sms", phone_number="+14155550100")


def test_a_json_export_downloads_what_the_store_exports(
    client: httpx.Client, emu: Emulator
) -> None:
    _some_users(emu.store)
    db = _connection_id(emu.store)
    fields = [
        {"name": "user_id"},
        {"name": "email", "export_as": "Email"},
        {"name": "user_metadata"},
    ]
    answer = client.post(
        "/jobs/users-exports", json={"connection_id": db, "format": "json", "fields": fields}
    )
    assert answer.status_code == 200
    created = answer.json()
    assert created == {
        "type": "users_export",
        "status": "pending",
        "connection_id": db,
        "format": "json",
        "fields": fields,
        "connection": DB,
        "created_at": created["created_at"],
        "id": created["id"],
    }
    job = _finished(client, created["id"])
    assert job["status"] == "completed"
    assert list(job) == [
        "type",
        "status",
        "connection_id",
        "format",
        "fields",
        "location",
        "connection",
        "created_at",
        "id",
    ]
    assert job["location"].startswith(f"{emu.url}/emulator/v1/exports/{job['id']}/tenant.json.gz?")
    expected = io.BytesIO()
    assert emu.store.export_users(expected, connection=DB, fields=fields) == 2
    assert _download(job["location"]) == expected.getvalue()
    lines = [json.loads(line) for line in expected.getvalue().splitlines()]
    assert {line["Email"] for line in lines} == {"ann@example.com", "bob@example.com"}
    assert client.get(f"/jobs/{job['id']}/errors").status_code == 204


def test_a_csv_export_of_every_connection_with_a_limit(client: httpx.Client, emu: Emulator) -> None:
    _some_users(emu.store)
    answer = client.post("/jobs/users-exports", json={"format": "csv", "limit": 2})
    assert answer.status_code == 200
    assert "connection_id" not in answer.json()
    assert answer.json()["limit"] == 2
    job = _finished(client, answer.json()["id"])
    expected = io.BytesIO()
    assert emu.store.export_users(expected, format="csv", limit=2) == 2
    text = _download(job["location"])
    assert text == expected.getvalue()
    assert text.splitlines()[0].startswith(b"user_id,email,")
    assert len(text.splitlines()) == 3


def test_the_default_format_is_json_and_a_form_body_is_taken(
    client: httpx.Client, emu: Emulator
) -> None:
    _some_users(emu.store)
    answer = client.post("/jobs/users-exports", data={"limit": "1"})
    assert answer.status_code == 200
    assert (answer.json()["format"], answer.json()["limit"]) == ("json", 1)
    job = _finished(client, answer.json()["id"])
    assert job["location"].split("?")[0].endswith("/tenant.json.gz")
    expected = io.BytesIO()
    emu.store.export_users(expected, limit=1)
    assert _download(job["location"]) == expected.getvalue()


def test_refused_exports_answer_400_and_make_no_job(client: httpx.Client, emu: Emulator) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"format": "xml"},
            "Payload validation error: 'No enum match for: xml' on property format (Format of "
            "the file. Must be `json` or `csv`).",
        ),
        (
            {"format": "json", "other": 1},
            "Payload validation error: 'Additional properties not allowed: other'.",
        ),
        (
            {"connection_id": "nope"},
            "Payload validation error: 'String does not match pattern ^con_[A-Za-z0-9]{16}$' on "
            "property connection_id.",
        ),
        ({"connection_id": "con_0000000000000000"}, "The connection does not exist."),
        ({"format": "csv", "fields": [{"name": "app_metadata"}]}, "A CSV export cannot hold"),
        ({"limit": 0}, "Payload validation error: 'Value 0 is less than minimum 1'"),
    ]
    for body, message in cases:
        answer = client.post("/jobs/users-exports", json=body)
        assert answer.status_code == 400, body
        assert answer.json()["message"].startswith(message), answer.json()
    assert client.post("/jobs/users-exports", json=[1]).status_code == 400
    assert emu.app.emulation.tenant.list_jobs() == []


def test_download_links_are_signed_and_expire(client: httpx.Client, emu: Emulator) -> None:
    _some_users(emu.store)
    created = client.post("/jobs/users-exports", json={"format": "json"}).json()
    location = _finished(client, created["id"])["location"]
    assert httpx.get(location).status_code == 200
    base, _, query = location.partition("?")
    params = dict(part.split("=", 1) for part in query.split("&"))
    forged = [
        f"{base}?Expires={int(params['Expires']) + 3600}&Signature={params['Signature']}",
        f"{base}?Expires={params['Expires']}&Signature={'0' * 64}",
        base,
        location.replace("tenant.json.gz", "other.json.gz"),
    ]
    for url in forged:
        refused = httpx.get(url)
        assert refused.status_code == 403, url
        assert refused.json()["message"] == "Access Denied"
        assert b"user_id" not in refused.content

    emu.advance_clock(timedelta(seconds=61))
    expired = httpx.get(location)
    assert (expired.status_code, expired.json()["message"]) == (403, "Request has expired")
    fresh = client.get(f"/jobs/{created['id']}").json()["location"]
    assert fresh != location
    assert httpx.get(fresh).status_code == 200

    # after Auth0's 24 hours the job, its link and its file are gone
    folder = emu.app.emulation.jobs.folder()
    emu.advance_clock(timedelta(hours=24))
    with api(emu) as later:  # the old token expired too
        assert later.get(f"/jobs/{created['id']}").status_code == 404
        assert httpx.get(fresh).status_code == 403  # expired link
        assert (folder / created["id"]).exists()
        later.post("/jobs/users-exports", json={"format": "json", "limit": 1})  # sweeps
        assert not (folder / created["id"]).exists()


def test_stopping_fails_a_running_export_and_removes_its_folder(
    identity_store: IdentityStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(1500):
        identity_store.create_user("email", email=f"m{n}@example.com")
    calls: list[int] = []
    original = identity_store.export_users
    emu = Emulator(identity_store).start()
    jobs = emu.app.emulation.jobs

    def held(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) > 1:  # the job's export (the first call checks the options)
            assert jobs.stopping.wait(20)
        return original(*args, **kwargs)

    monkeypatch.setattr(identity_store, "export_users", held)
    with api(emu) as client:
        created = client.post("/jobs/users-exports", json={"format": "json"}).json()
    folder = jobs.folder()
    emu.stop()  # the job goes on, sees the stop at its first thousand users, and ends
    assert len(calls) == 2
    job = json.loads(identity_store.backend.get_record("job", created["id"]) or "{}")
    assert job["status"] == "failed"
    assert job["status_details"] == "The emulator stopped before the job finished."
    assert not folder.exists()


def test_after_a_restart_unfinished_jobs_are_failed_and_exports_expired(
    identity_store_factory: Callable[..., IdentityStore], tmp_path: Path
) -> None:
    store = identity_store_factory(str(tmp_path / "tenant.db"))
    with Emulator(store, domain="acme.example.com") as emu, api(emu) as client:
        done = client.post("/jobs/users-exports", json={"format": "json"}).json()
        assert _finished(client, done["id"])["status"] == "completed"
        tenant = emu.app.emulation.tenant
        running = {
            "type": "users_import",
            "status": "processing",
            "percentage_done": 40,
            "connection_id": _connection_id(store),
            "connection": DB,
            "created_at": tenant.now(),
            "id": "job_0123456789abcdef",
        }
        tenant.add_job(running)  # as a killed emulator leaves it
    with Emulator(store) as emu, api(emu) as client:
        after = client.get("/jobs/job_0123456789abcdef").json()
        assert after == {
            "type": "users_import",
            "status": "failed",
            "status_details": "The emulator stopped before the job finished.",
            "connection_id": running["connection_id"],
            "connection": DB,
            "created_at": running["created_at"],
            "id": running["id"],
        }
        export = client.get(f"/jobs/{done['id']}").json()
        assert export["status"] == "expired"
        assert "location" not in export


def test_the_export_file_is_named_after_the_tenant(identity_store: IdentityStore) -> None:
    with Emulator(identity_store, domain="acme.eu.example.com") as emu, api(emu) as client:
        created = client.post("/jobs/users-exports", json={"format": "json"}).json()
        location = _finished(client, created["id"])["location"]
        assert "/acme.json.gz?" in location
