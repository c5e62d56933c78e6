"""Bulk user import and export jobs (``/api/v2/jobs/users-imports``, ``users-exports``).

A job is accepted at once and runs in the background: an asyncio task that awaits the store's
``import_users`` / ``export_users`` through ``AsyncIdentityStore``, so the work is on a worker
thread and never on the event loop. At most ``MAX_ACTIVE_IMPORTS`` imports run at once (a third is
Auth0's 429) and ``MAX_RUNNING_EXPORTS`` exports (the others wait, ``pending``). Every job's body
is kept in the backend's records (``Tenant``) for ``RETENTION``, with its status, progress,
summary and error report.

Uploaded users files and export files live in one temporary folder, removed when the emulator
stops; an upload is deleted as soon as its import ends, an export file once its job expires. An
export is downloaded from ``location``, a link signed with a key that never leaves memory and
valid for ``LINK_LIFETIME`` seconds, as Auth0's pre-signed URLs are: no token needed, and no way
to guess one.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import logging
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import FileResponse, Response

from identitystore import AsyncIdentityStore, IdentityStoreError
from identitystore.errors import (
    ConnectionNotFoundError,
    PayloadValidationError,
    UnknownConnectionError,
)

from ._errors import ApiError
from ._http import Call, empty, json_response
from ._management import as_object, only
from ._tenant import Tenant, iso, json_type, random_id

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

__all__ = [
    "IMPORT_MAX_BODY",
    "LINK_LIFETIME",
    "MAX_ACTIVE_IMPORTS",
    "MAX_RUNNING_EXPORTS",
    "RETENTION",
    "Jobs",
    "download_export",
    "get_job",
    "get_job_errors",
    "post_users_export",
    "post_users_import",
]

_log = logging.getLogger("identitystore.emulator")

#: Auth0's limit on an import request's payload (500 KB).
IMPORT_MAX_BODY = 512_000
#: Import jobs a tenant may have pending or processing at once (Auth0's).
MAX_ACTIVE_IMPORTS = 2
#: Export jobs processed at once; later ones wait, ``pending``.
MAX_RUNNING_EXPORTS = 1
#: How long a job, its error report and its export file are kept (Auth0's 24 hours).
RETENTION = timedelta(hours=24)
#: Seconds an export's download link stays valid (Auth0's 60); each GET of the job gives a new one.
LINK_LIFETIME = 60

_CONNECTION_ID = re.compile(r"^con_[A-Za-z0-9]{16}$")
_CONNECTION_PATTERN = "^con_[A-Za-z0-9]{16}$"
_EXPORT_FIELDS = ("connection_id", "format", "limit", "fields")
#: The order of a job body's keys (Auth0's recorded answers).
_ORDER = (
    "type",
    "status",
    "status_details",
    "percentage_done",
    "time_left_seconds",
    "connection_id",
    "format",
    "limit",
    "fields",
    "summary",
    "location",
    "connection",
    "created_at",
    "id",
    "external_id",
)
_INTERRUPTED = "The emulator stopped before the job finished."
_TOO_MANY_IMPORTS = (
    f"There are {MAX_ACTIVE_IMPORTS} active import users jobs, please wait until some of them "
    "are finished and try again"
)


def _invalid(message: str) -> ApiError:
    return ApiError(400, message, error_code="invalid_body")


def _problem(text: str, prop: str) -> PayloadValidationError:
    return PayloadValidationError([PayloadValidationError.format(text, prop)])


def _body(job: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """``job`` with ``changes`` (None removes a key), its keys in Auth0's order."""
    merged = {**job, **changes}
    return {key: merged[key] for key in _ORDER if merged.get(key) is not None}


class _Stopped(Exception):
    """Raised in a job's progress callback when the emulator stops: the job ends ``failed``."""


class _Watched(io.BufferedReader):
    """An uploaded users file that calls ``started`` the first time the store touches it: the
    store checks the connection before it reads, so from then on the import is accepted."""

    def __init__(self, path: Path, started: Callable[[], None]) -> None:
        super().__init__(io.FileIO(path, "rb"))
        self._started: Callable[[], None] | None = started

    def _touch(self) -> None:
        if self._started is not None:
            started, self._started = self._started, None
            started()

    def seekable(self) -> bool:
        self._touch()
        return super().seekable()

    def tell(self) -> int:
        self._touch()
        return super().tell()

    def peek(self, size: int = 0) -> bytes:
        self._touch()
        return super().peek(size)

    def read(self, size: int | None = -1) -> bytes:
        self._touch()
        return super().read(size)

    def read1(self, size: int = -1) -> bytes:
        self._touch()
        return super().read1(size)

    def readinto(self, buffer: Any) -> int:
        self._touch()
        return super().readinto(buffer)


def _settle(future: asyncio.Future[None], error: BaseException | None = None) -> None:
    if not future.done():
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class _Progress:
    """A job's ``progress(done, total)`` callback: it updates ``percentage_done`` and
    ``time_left_seconds`` in the job's record, and stops the job when the emulator stops."""

    def __init__(self, jobs: Jobs, job: dict[str, Any]) -> None:
        self.jobs = jobs
        self.job = job
        self.began = time.monotonic()

    def __call__(self, done: int, total: int | None) -> None:
        if self.jobs.stopping.is_set():
            raise _Stopped
        if not total:
            return
        elapsed = time.monotonic() - self.began
        left = elapsed * (total - done) / done if done else None
        self.jobs.save(
            self.job,
            percentage_done=min(100, done * 100 // total),
            time_left_seconds=round(left) if left is not None else None,
        )


class Jobs:
    """The import and export jobs of one emulator: their folder, workers and download links.

    Args:
        tenant: where job bodies and error reports are kept.
        store: the store the jobs run on.
    """

    def __init__(self, tenant: Tenant, store: AsyncIdentityStore) -> None:
        self.tenant = tenant
        self.store = store
        self.stopping = threading.Event()
        self._key = secrets.token_bytes(32)  # signs download links; never stored
        self._folder: Path | None = None
        self._folder_lock = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._active_imports = 0
        self._export_slots: asyncio.Semaphore | None = None
        self._recover()

    # -- records ------------------------------------------------------------------------------

    def _expires_at(self, job: Mapping[str, Any]) -> str:
        created = datetime.fromisoformat(str(job["created_at"]).replace("Z", "+00:00"))
        return iso(created + RETENTION)

    def save(self, job: dict[str, Any], **changes: Any) -> None:
        """Apply ``changes`` to ``job`` and keep it (blocking: call it off the event loop)."""
        updated = _body(job, **changes)
        job.clear()
        job.update(updated)
        self.tenant.add_job(job, expires_at=self._expires_at(job))

    def _recover(self) -> None:
        """After a restart: jobs that were running are ``failed``, and completed exports, whose
        files went with the old emulator's folder, are ``expired``."""
        for job in self.tenant.list_jobs():
            if job.get("status") in ("pending", "processing"):
                self.save(
                    job,
                    status="failed",
                    status_details=_INTERRUPTED,
                    percentage_done=None,
                    time_left_seconds=None,
                )
            elif job.get("type") == "users_export" and job.get("status") == "completed":
                self.save(job, status="expired")

    # -- files --------------------------------------------------------------------------------

    def folder(self) -> Path:
        """The temporary folder of uploads and export files (made on first use)."""
        with self._folder_lock:
            if self.stopping.is_set():
                raise ApiError(503, "Service Unavailable")
            if self._folder is None:
                self._folder = Path(tempfile.mkdtemp(prefix="identitystore-jobs-"))
            return self._folder

    def export_path(self, job: Mapping[str, Any]) -> Path:
        """Where an export job's file is written: ``<job id>/<tenant>.<format>.gz``."""
        return self.folder() / str(job["id"]) / f"{self._tenant_name()}.{job['format']}.gz"

    def _tenant_name(self) -> str:
        label = self.tenant.domain.rsplit(":", 1)[0].split(".")[0]
        return label if re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", label) else "tenant"

    def sweep(self) -> None:
        """Delete the export files of jobs no longer kept (blocking)."""
        folder = self._folder
        if folder is None:
            return
        live = {str(job["id"]) for job in self.tenant.list_jobs()}
        for entry in folder.iterdir():
            if entry.is_dir() and entry.name not in live:
                shutil.rmtree(entry, ignore_errors=True)

    def sign(self, job_id: str, name: str, expires: int) -> str:
        """The signature of a download link."""
        text = f"{job_id}/{name}:{expires}".encode()
        return hmac.new(self._key, text, hashlib.sha256).hexdigest()

    def location(self, job: Mapping[str, Any], base_url: str) -> str | None:
        """A fresh download link for a completed export, valid ``LINK_LIFETIME`` seconds."""
        path = self.export_path(job)
        if not path.is_file():
            return None
        expires = int(self.tenant.clock().timestamp()) + LINK_LIFETIME
        signature = self.sign(str(job["id"]), path.name, expires)
        return (
            f"{base_url.rstrip('/')}/emulator/v1/exports/{job['id']}/{path.name}"
            f"?Expires={expires}&Signature={signature}"
        )

    # -- running ------------------------------------------------------------------------------

    def _spawn(self, coroutine: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def start_import(
        self,
        call: Call,
        *,
        content: bytes,
        connection_id: str,
        upsert: bool,
        external_id: str | None,
    ) -> dict[str, Any]:
        """Accept an import: the body of the new job (``pending``), once the store has taken
        the connection; its refusals (unknown, not a database connection) are raised here."""
        if self._active_imports >= MAX_ACTIVE_IMPORTS:
            raise ApiError(429, _TOO_MANY_IMPORTS)
        self._active_imports += 1
        try:
            try:
                connection = await self.store.get_connection_by_id(connection_id)
            except ConnectionNotFoundError:
                raise UnknownConnectionError() from None
            job = _body(
                {
                    "type": "users_import",
                    "status": "pending",
                    "connection_id": connection.id,
                    "connection": connection.name,
                    "created_at": self.tenant.now(),
                    "id": random_id("job_", 16),
                    "external_id": external_id or None,
                }
            )
            upload = self.folder() / f"{job['id']}.users"
            await call.off_loop(self.sweep)
            await call.off_loop(upload.write_bytes, content)
            await call.off_loop(self.save, dict(job))
        except BaseException:
            self._active_imports -= 1
            raise
        accepted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._spawn(self._run_import(dict(job), upload, upsert=upsert, accepted=accepted))
        try:
            await accepted
        except IdentityStoreError:
            await call.off_loop(self.tenant.forget_job, str(job["id"]))
            raise
        return job

    async def _run_import(
        self, job: dict[str, Any], upload: Path, *, upsert: bool, accepted: asyncio.Future[None]
    ) -> None:
        loop = asyncio.get_running_loop()

        def started() -> None:  # on the store's thread, before the file is read
            self.save(job, status="processing")
            loop.call_soon_threadsafe(_settle, accepted)

        source = _Watched(upload, started)
        try:
            result = await self.store.import_users(
                str(job["connection"]), source, upsert=upsert, progress=_Progress(self, job)
            )
        except IdentityStoreError as exc:
            if not accepted.done():  # refused before reading: no job
                _settle(accepted, exc)
                return
            await asyncio.to_thread(self._fail, job, exc.message)  # e.g. not JSON
        except _Stopped:
            await asyncio.to_thread(self._fail, job, _INTERRUPTED)
        except Exception as exc:
            _log.exception("import job %s failed", job["id"])
            _settle(accepted, exc)
            await asyncio.to_thread(self._fail, job, "Internal error.")
        else:
            expires = self._expires_at(job)
            await asyncio.to_thread(
                self.tenant.put_job_errors, str(job["id"]), result.errors, expires_at=expires
            )
            await asyncio.to_thread(
                self.save,
                job,
                status="completed",
                summary=result.summary(),
                percentage_done=None,
                time_left_seconds=None,
            )
        finally:
            _settle(accepted)
            self._active_imports -= 1
            source.close()
            upload.unlink(missing_ok=True)  # it may hold password hashes: gone once read

    def _fail(self, job: dict[str, Any], details: str) -> None:
        self.save(
            job,
            status="failed",
            status_details=details,
            percentage_done=None,
            time_left_seconds=None,
        )

    async def start_export(self, call: Call, body: Mapping[str, Any]) -> dict[str, Any]:
        """Accept an export: the body of the new job (``pending``). Its options are checked by
        the store first (a one-user export into memory), so a refusal is an answer, not a job."""
        connection = None
        if "connection_id" in body:
            try:
                connection = await self.store.get_connection_by_id(body["connection_id"])
            except ConnectionNotFoundError:
                raise UnknownConnectionError() from None
        fmt = body.get("format", "json")  # the library's default (decisions.md)
        fields = body.get("fields")
        limit = body.get("limit")
        probe = 1 if type(limit) is int and limit >= 1 else limit
        await self.store.export_users(
            io.BytesIO(),
            connection=connection.name if connection else None,
            format=fmt,
            fields=fields,
            limit=probe,
        )
        job = _body(
            {
                "type": "users_export",
                "status": "pending",
                "connection_id": connection.id if connection else None,
                "format": fmt,
                "limit": limit,
                "fields": fields,
                "connection": connection.name if connection else None,
                "created_at": self.tenant.now(),
                "id": random_id("job_", 16),
            }
        )
        await call.off_loop(self.sweep)
        await call.off_loop(self.save, dict(job))
        self._spawn(self._run_export(dict(job)))
        return job

    async def _run_export(self, job: dict[str, Any]) -> None:
        if self._export_slots is None:
            self._export_slots = asyncio.Semaphore(MAX_RUNNING_EXPORTS)
        async with self._export_slots:
            if self.stopping.is_set():
                await asyncio.to_thread(self._fail, job, _INTERRUPTED)
                return
            try:
                await asyncio.to_thread(self.save, job, status="processing")
                target = self.export_path(job)
                target.parent.mkdir(exist_ok=True)
                await self.store.export_users(
                    str(target),
                    connection=job.get("connection"),
                    format=job["format"],
                    fields=job.get("fields"),
                    limit=job.get("limit"),
                    progress=_Progress(self, job),
                )
            except _Stopped:
                await asyncio.to_thread(self._fail, job, _INTERRUPTED)
            except Exception:
                _log.exception("export job %s failed", job["id"])
                await asyncio.to_thread(self._fail, job, "Internal error.")
            else:
                await asyncio.to_thread(
                    self.save,
                    job,
                    status="completed",
                    percentage_done=None,
                    time_left_seconds=None,
                )

    async def close(self) -> None:
        """Stop: running jobs end ``failed`` at their next step, then the folder is removed."""
        self.stopping.set()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self.release()

    def release(self) -> None:
        """Remove the folder of uploads and export files (idempotent)."""
        with self._folder_lock:
            self.stopping.set()
            folder, self._folder = self._folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


# -- handlers -----------------------------------------------------------------------------------


async def _parts(call: Call) -> dict[str, bytes | str]:
    """The multipart body's parts, at most ``IMPORT_MAX_BODY`` bytes (413 beyond); a file part
    as its bytes, a plain field as its text (the last of a repeated name wins)."""
    raw = await call.body(IMPORT_MAX_BODY)
    media = call.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "multipart/form-data":
        raise _invalid("Payload validation error: 'Invalid multipart payload format'.")

    async def stream() -> AsyncGenerator[bytes, None]:
        yield raw

    try:
        parser = MultiPartParser(
            call.request.headers,
            stream(),
            max_files=8,
            max_fields=32,
            max_part_size=IMPORT_MAX_BODY,
        )
        form = await parser.parse()
    except MultiPartException:
        raise _invalid("Payload validation error: 'Invalid multipart payload format'.") from None
    try:
        parts: dict[str, bytes | str] = {}
        for name, value in form.multi_items():
            parts[name] = await value.read() if isinstance(value, UploadFile) else value
        return parts
    finally:
        await form.close()


def _flag(parts: Mapping[str, bytes | str], name: str, *, default: bool) -> bool:
    value = parts.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bytes) or value.lower() not in ("true", "false"):
        raise _problem("Expected type boolean but found type string", name)
    return value.lower() == "true"


async def post_users_import(call: Call) -> Response:
    """POST /api/v2/jobs/users-imports (multipart): 202 with the job, ``pending``."""
    parts = await _parts(call)
    users = parts.get("users")
    if users is None:
        raise _invalid("Must provide 'users' file as multipart part.")
    content = users.encode("utf-8") if isinstance(users, str) else users
    if not content:
        raise _invalid("Users file must not be empty.")
    connection_id = parts.get("connection_id")
    if connection_id is None:
        raise _invalid("Must provide 'connection_id' as multipart part.")
    if not isinstance(connection_id, str) or not _CONNECTION_ID.match(connection_id):
        raise _problem(f"String does not match pattern {_CONNECTION_PATTERN}", "connection_id")
    upsert = _flag(parts, "upsert", default=False)
    _flag(parts, "send_completion_email", default=True)  # checked; no tenant owners to mail
    external_id = parts.get("external_id")
    if isinstance(external_id, bytes):
        raise _problem("Expected type string but found type file", "external_id")
    job = await call.emu.jobs.start_import(
        call,
        content=content,
        connection_id=connection_id,
        upsert=upsert,
        external_id=external_id,
    )
    return json_response(job, 202)


async def post_users_export(call: Call) -> Response:
    """POST /api/v2/jobs/users-exports (JSON or form): 200 with the job, ``pending``."""
    body = await call.form_or_json()
    body = as_object({} if body is None else body)
    only(body, _EXPORT_FIELDS)
    if "connection_id" in body:
        connection_id = body["connection_id"]
        if not isinstance(connection_id, str):
            raise _problem(
                f"Expected type string but found type {json_type(connection_id)}", "connection_id"
            )
        if not _CONNECTION_ID.match(connection_id):
            raise _problem(f"String does not match pattern {_CONNECTION_PATTERN}", "connection_id")
    if isinstance(body.get("limit"), str) and body["limit"].isdigit():  # a form's text
        body["limit"] = int(body["limit"])
    job = await call.emu.jobs.start_export(call, body)
    return json_response(job, 200)


async def get_job(call: Call) -> Response:
    """GET /api/v2/jobs/{id}: the job; a completed export with a fresh ``location``."""
    jobs = call.emu.jobs
    job = await call.off_loop(jobs.tenant.get_job, call.params[0])
    if job.get("type") == "users_export" and job.get("status") == "completed":
        location = await call.off_loop(jobs.location, job, str(call.request.base_url))
        job = _body(job, location=location, status="completed" if location else "expired")
    return json_response(job)


async def get_job_errors(call: Call) -> Response:
    """GET /api/v2/jobs/{id}/errors: an import's per-user error entries, or 204 when none."""
    tenant = call.emu.jobs.tenant
    await call.off_loop(tenant.get_job, call.params[0])  # 404 for an unknown job
    entries = await call.off_loop(tenant.get_job_errors, call.params[0])
    return json_response(entries) if entries else empty()


async def download_export(call: Call) -> Response:
    """GET /emulator/v1/exports/{job}/{file}?Expires=&Signature=: the gzip file, no token."""
    jobs = call.emu.jobs
    job_id, name = call.params
    expires_text = call.query("Expires") or ""
    signature = call.query("Signature") or ""
    expires = int(expires_text) if expires_text.isdigit() else -1
    if not hmac.compare_digest(jobs.sign(job_id, name, expires), signature):
        raise ApiError(403, "Access Denied")
    if expires < int(jobs.tenant.clock().timestamp()):
        raise ApiError(403, "Request has expired")
    try:
        job = await call.off_loop(jobs.tenant.get_job, job_id)
    except ApiError:
        raise ApiError(404, "Not Found") from None
    if job.get("type") != "users_export":
        raise ApiError(404, "Not Found")
    path = jobs.export_path(job)
    if path.name != name or not await call.off_loop(path.is_file):
        raise ApiError(404, "Not Found")
    return FileResponse(path, media_type="application/gzip", filename=name)
