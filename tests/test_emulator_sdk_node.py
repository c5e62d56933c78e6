"""Node's ``auth0`` package 7.x, unmodified, against the emulator over HTTPS.

``node`` runs a script that calls the SDK's ``ManagementClient`` and prints what each call gave
(or the error's class, status and body) as JSON; the emulator's CA is trusted through
``NODE_EXTRA_CA_CERTS``. The package comes from ``IDENTITYSTORE_TEST_NODE_MODULES`` (``.ci/run``
installs it); without it these tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from identitystore import IdentityStore
from identitystore.emulator import Emulator
from identitystore.errors import IdentityStoreError
from tests.emulator_support import node_modules

DB = "Username-Password-Authentication"

#: Runs the steps named on the command line; prints {step: {"ok": value} | {"error": {...}}}.
SCRIPT = r"""
const fs = require("fs");
const zlib = require("zlib");
const { ManagementClient } = require("auth0");
const legacy = require("auth0/legacy");
const config = JSON.parse(process.argv[2]);
const client = (id, secret) =>
  new ManagementClient({ domain: config.domain, clientId: id, clientSecret: secret });
const m = client(config.client_id, config.client_secret);
const all = async (pager) => {
  const items = [];
  for await (const x of pager) items.push(x);
  return items;
};
const state = {};
const until = async (read) => {  // a job once neither pending nor processing (within 20 s)
  const deadline = Date.now() + 20000;
  let job = await read();
  while (["pending", "processing"].includes(job.status) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    job = await read();
  }
  return job;
};
const download = async (location) =>
  zlib.gunzipSync(Buffer.from(await (await fetch(location)).arrayBuffer())).toString();
const database = async () =>
  (await all(await m.connections.list({ name: "Username-Password-Authentication" })))[0];
const steps = {
  create: async () => (state.user = await m.users.create({
    connection: "Username-Password-Authentication", email: "Nora@Example.com",
    password: "Sup3r-secret!", user_metadata: { plan: "free" } })),
  duplicate: () => m.users.create({
    connection: "Username-Password-Authentication", email: "nora@example.com",
    password: "Sup3r-secret!" }),
  invalid: () => m.users.create({
    connection: "Username-Password-Authentication", email: "nora2@example.com",
    password: "short" }),
  get: () => m.users.get(state.user.user_id),
  update: () => m.users.update(state.user.user_id, { user_metadata: { theme: "dark" } }),
  search: async () => (await all(await m.users.list({ q: 'email:"nora@example.com"' })))
    .map((u) => u.user_id),
  byEmail: async () => (await m.users.listUsersByEmail({ email: "NORA@example.com" }))
    .map((u) => u.user_id),
  connections: async () => (await all(await m.connections.list())).map((c) => c.name),
  createConnection: async () => (state.connection = await m.connections.create({
    name: "members", strategy: "auth0", options: { passwordPolicy: "fair" } })),
  getConnection: () => m.connections.get(state.connection.id),
  deleteConnection: () => m.connections.delete(state.connection.id),
  tooFewScopes: async () => {
    const reader = await m.clients.create({ name: "reader", app_type: "non_interactive" });
    await m.clientGrants.create({ client_id: reader.client_id,
      audience: `https://${config.domain}/api/v2/`, scope: ["read:users"] });
    const limited = client(reader.client_id, reader.client_secret);
    await limited.users.list({});
    return limited.users.create({ connection: "sms", phone_number: "+14155550100" });
  },
  logs: async () => (await all(await m.logs.list({ search: "type:sapi" })))
    .map((e) => [e.description, e.client_id]),
  getLog: async () => {
    const [newest] = (await m.logs.list({ per_page: 1 })).data;
    return m.logs.get(newest.log_id);
  },
  userLogs: async () => {
    const [user] = await m.users.listUsersByEmail({ email: "bo@example.com" });
    return (await all(await m.users.logs.list(user.user_id))).map((e) => e.type);
  },
  blocks: async () => {
    const [user] = await m.users.listUsersByEmail({ email: "bo@example.com" });
    const before = await m.userBlocks.list(user.user_id);
    const byIdentifier = await m.userBlocks.listByIdentifier({ identifier: "bo@example.com" });
    await m.userBlocks.delete(user.user_id);
    const after = await m.userBlocks.list(user.user_id);
    await m.userBlocks.deleteByIdentifier({ identifier: "bo@example.com" });
    return { before, byIdentifier, after };
  },
  deleteByEmail: async () => {
    const name = "Username-Password-Authentication";
    const [database] = await all(await m.connections.list({ name }));
    await m.connections.users.deleteByEmail(database.id, { email: "bo@example.com" });
    return m.users.listUsersByEmail({ email: "bo@example.com" });
  },
  importJob: async () => {
    const db = await database();
    const created = await m.jobs.usersImports.create({
      users: fs.createReadStream(config.users_file), connection_id: db.id, upsert: true,
      external_id: "node-1" });
    const done = await until(() => m.jobs.get(created.id));
    return { created, done, errors: await m.jobs.errors.get(created.id) };
  },
  exportJob: async () => {
    const created = await m.jobs.usersExports.create({
      format: "json", fields: [{ name: "email" }, { name: "given_name", export_as: "first" }] });
    const done = await until(() => m.jobs.get(created.id));
    return { created, done, file: await download(done.location) };
  },
  legacyJobs: async () => {
    const l = new legacy.ManagementClient({
      domain: config.domain, clientId: config.client_id, clientSecret: config.client_secret });
    const db = await database();
    const users = new Blob([JSON.stringify([{ email: "leg@example.com" }])],
      { type: "application/json" });
    const created = (await l.jobs.importUsers({ users, connection_id: db.id })).data;
    const done = await until(async () => (await l.jobs.get({ id: created.id })).data);
    const errors = await l.jobs.getErrors({ id: created.id });
    const exported = (await l.jobs.exportUsers({ connection_id: db.id, format: "csv",
      fields: [{ name: "email" }] })).data;
    const finished = await until(async () => (await l.jobs.get({ id: exported.id })).data);
    return { done, errorsStatus: errors.status, file: await download(finished.location) };
  },
  delete: () => m.users.delete(state.user.user_id),
  getDeleted: () => m.users.get(state.user.user_id),
};
(async () => {
  const out = {};
  for (const name of process.argv.slice(3)) {
    try {
      const value = await steps[name]();
      out[name] = { ok: value === undefined ? null : value };
    } catch (e) {
      out[name] = { error: { name: e.constructor.name, statusCode: e.statusCode, body: e.body } };
    }
  }
  process.stdout.write(JSON.stringify(out));
})();
"""


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but node is not on PATH")
        pytest.skip("node is not installed")
    return found


@pytest.fixture
def run_node(node: str, identity_store: IdentityStore, tmp_path: Path) -> Iterator[Any]:
    modules = node_modules()
    script = tmp_path / "steps.js"
    script.write_text(SCRIPT, encoding="utf-8")
    with Emulator(identity_store, tls=True) as emu:
        assert emu.ca_file is not None
        users_file = tmp_path / "users.json"
        users_file.write_text(
            json.dumps([{"email": "una@example.com", "given_name": "Una"}, {"email": "bad"}])
        )
        config = json.dumps(
            {
                "domain": emu.domain,
                "client_id": emu.client_id,
                "client_secret": emu.client_secret,
                "users_file": str(users_file),
            }
        )
        env = {**os.environ, "NODE_EXTRA_CA_CERTS": emu.ca_file, "NODE_PATH": str(modules)}

        def run(*steps: str) -> dict[str, Any]:
            done = subprocess.run(
                [node, str(script), config, *steps],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            results: dict[str, Any] = json.loads(done.stdout)
            return results

        run.emu = emu  # type: ignore[attr-defined]
        yield run


def test_users_through_the_node_sdk(run_node: Any, identity_store_factory: Any) -> None:
    emu: Emulator = run_node.emu
    out = run_node(
        "create",
        "duplicate",
        "invalid",
        "get",
        "update",
        "search",
        "byEmail",
        "delete",
        "getDeleted",
    )
    user = out["create"]["ok"]
    assert user["email"] == "nora@example.com"
    assert user["user_id"].startswith("auth0|")
    assert out["duplicate"]["error"] == {
        "name": "ConflictError",
        "statusCode": 409,
        "body": {
            "statusCode": 409,
            "error": "Conflict",
            "message": "The user already exists.",
            "errorCode": "auth0_idp_error",
        },
    }
    invalid = out["invalid"]["error"]
    assert (invalid["name"], invalid["statusCode"]) == ("BadRequestError", 400)
    with pytest.raises(Exception) as direct:  # noqa: PT011 - compared body by body below
        identity_store_factory().create_user(DB, email="nora2@example.com", password="short")
    assert invalid["body"] == direct.value.to_dict()  # type: ignore[attr-defined]
    assert out["get"]["ok"]["email"] == "nora@example.com"
    assert out["update"]["ok"]["user_metadata"] == {"plan": "free", "theme": "dark"}
    assert out["search"]["ok"] == [user["user_id"]]
    assert out["byEmail"]["ok"] == [user["user_id"]]
    assert out["delete"] == {"ok": None}
    assert out["getDeleted"]["error"]["statusCode"] == 404
    assert out["getDeleted"]["error"]["body"]["errorCode"] == "inexistent_user"
    assert emu.store.list_users(include_totals=True).total == 0


def test_connections_through_the_node_sdk(run_node: Any) -> None:
    emu: Emulator = run_node.emu
    out = run_node("connections", "createConnection", "getConnection", "deleteConnection")
    assert out["connections"]["ok"] == [DB, "email", "sms"]
    made = out["createConnection"]["ok"]
    assert made["name"] == "members"
    assert out["getConnection"]["ok"]["id"] == made["id"]
    assert out["deleteConnection"] == {"ok": None}  # the SDK drops the 202 body
    assert "members" not in [c.name for c in emu.store.list_connections()]


def test_a_client_with_too_few_scopes_gets_403_through_the_node_sdk(run_node: Any) -> None:
    out = run_node("tooFewScopes")
    assert out["tooFewScopes"]["error"] == {
        "name": "ForbiddenError",
        "statusCode": 403,
        "body": {
            "statusCode": 403,
            "error": "Forbidden",
            "message": "Insufficient scope, expected any of: create:users",
            "errorCode": "insufficient_scope",
        },
    }


def test_logs_blocks_and_deleting_by_email_through_the_node_sdk(run_node: Any) -> None:
    emu: Emulator = run_node.emu
    emu.store.create_user(DB, email="bo@example.com", password="Sup3r-secret!")
    for _ in range(emu.store.max_login_attempts):
        with pytest.raises(IdentityStoreError):
            emu.store.authenticate(DB, "bo@example.com", "wrong", ip="203.0.113.9")
    out = run_node("blocks", "userLogs", "logs", "getLog", "deleteByEmail")
    blocked = [{"identifier": "bo@example.com", "ip": "203.0.113.9", "connection": DB}]
    assert out["blocks"]["ok"] == {
        "before": {"blocked_for": blocked},
        "byIdentifier": {"blocked_for": blocked},
        "after": {"blocked_for": []},
    }
    assert set(out["userLogs"]["ok"]) >= {"ss", "fp", "sapi"}
    assert out["logs"]["ok"] == [
        ["Unblock by identifier", emu.client_id],
        ["Unblock a user", emu.client_id],
    ]
    assert out["getLog"]["ok"]["log_id"]
    assert out["deleteByEmail"]["ok"] == []
    assert emu.store.get_users_by_email("bo@example.com") == []


def test_import_and_export_jobs_through_the_node_sdk(run_node: Any) -> None:
    """7.x's ``jobs.usersImports.create`` (a file stream: its name, ``application/octet-stream``)
    and ``jobs.usersExports.create``, ``jobs.get``, ``jobs.errors.get``."""
    emu: Emulator = run_node.emu
    out = run_node("importJob", "exportJob")
    imported = out["importJob"]["ok"]
    assert imported["created"]["status"] == "pending"
    assert imported["created"]["external_id"] == "node-1"
    assert imported["done"]["status"] == "completed"
    assert imported["done"]["summary"] == {"failed": 1, "updated": 0, "inserted": 1, "total": 2}
    assert [e["user"] for e in imported["errors"]] == [{"email": "bad"}]
    assert imported["errors"][0]["errors"][0]["code"] == "INVALID_FORMAT"
    assert emu.store.get_users_by_email("una@example.com")[0].given_name == "Una"
    exported = out["exportJob"]["ok"]
    assert exported["created"]["type"] == "users_export"
    assert exported["done"]["status"] == "completed"
    assert exported["file"] == '{"email":"una@example.com","first":"Una"}\n'


def test_import_and_export_jobs_through_the_node_sdks_legacy_client(run_node: Any) -> None:
    """``auth0/legacy`` (the 4.x API the package still ships): ``jobs.importUsers`` with a Blob
    (named ``blob``), ``jobs.get``, ``jobs.getErrors`` (204: no body), ``jobs.exportUsers``."""
    emu: Emulator = run_node.emu
    out = run_node("legacyJobs")["legacyJobs"]["ok"]
    assert out["done"]["summary"] == {"failed": 0, "updated": 0, "inserted": 1, "total": 1}
    assert out["errorsStatus"] == 204
    assert out["file"] == 'email\n"\'leg@example.com"\n'
    assert emu.store.get_users_by_email("leg@example.com") != []
