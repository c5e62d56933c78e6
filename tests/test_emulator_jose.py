"""Node's ``jose`` package, unmodified, verifies the emulator's ID tokens the way a Node app
does: ``createRemoteJWKSet`` on ``/.well-known/jwks.json`` and ``jwtVerify`` with the issuer and
the client id. ``.ci/run`` installs ``jose`` beside the ``auth0`` package
(``IDENTITYSTORE_TEST_NODE_MODULES``); without it these tests skip, except under ``CI=true``."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from identitystore.emulator import Emulator
from tests.emulator_support import (
    management_token,
    node_modules,
    real_time_emulator,
    signin_form,
)

DB = "Username-Password-Authentication"
PASSWORD = "Corr3ct-horse-battery"

#: Verifies each token of argv[2] ({name: token}); prints {name: payload | {"error": code}}.
SCRIPT = r"""
import { createRemoteJWKSet, jwtVerify } from "jose";
const config = JSON.parse(process.argv[2]);
const jwks = createRemoteJWKSet(new URL(config.jwks));
const out = {};
for (const [name, token] of Object.entries(config.tokens)) {
  try {
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: config.issuer, audience: config.audience });
    out[name] = { payload, alg: protectedHeader.alg };
  } catch (error) {
    out[name] = { error: error.code };
  }
}
console.log(JSON.stringify(out));
"""


@pytest.fixture
def modules() -> Path:
    folder = node_modules()
    if not (folder / "jose" / "package.json").is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {folder} holds no jose package: .ci/run installs it")
        pytest.skip("no jose package beside auth0 (see .ci/run)")
    return folder


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with real_time_emulator() as emulator:  # jose checks exp
        yield emulator


def verify(modules: Path, tmp_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    (tmp_path / "node_modules").symlink_to(modules)  # ESM imports resolve from the script
    script = tmp_path / "verify.mjs"
    script.write_text(SCRIPT, encoding="utf-8")
    done = subprocess.run(
        ["node", str(script), json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_jose_verifies_id_tokens(emu: Emulator, modules: Path, tmp_path: Path) -> None:
    user = emu.store.create_user(DB, email="jane@example.com", password=PASSWORD)
    form = signin_form(emu, "jane@example.com", PASSWORD, scope="openid email")
    id_token = httpx.post(f"{emu.url}/oauth/token", data=form).json()["id_token"]
    head, body, signature = id_token.split(".")
    tampered = f"{head}.{body}.{signature[:-4]}AAAA"
    management = management_token(emu)
    result = verify(
        modules,
        tmp_path,
        {
            "jwks": f"{emu.url}/.well-known/jwks.json",
            "issuer": f"https://{emu.domain}/",
            "audience": emu.client_id,
            "tokens": {"id": id_token, "tampered": tampered, "management": management},
        },
    )
    assert result["id"]["alg"] == "RS256"
    payload = result["id"]["payload"]
    assert (payload["sub"], payload["aud"], payload["email"]) == (
        user.user_id,
        emu.client_id,
        "jane@example.com",
    )
    assert result["tampered"] == {"error": "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"}
    assert result["management"] == {"error": "ERR_JWT_CLAIM_VALIDATION_FAILED"}  # its audience
