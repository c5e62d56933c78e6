"""Users signing in on ``/oauth/token`` (``password-realm``, ``password``, ``passwordless/otp``),
their ID tokens and ``/userinfo``, over real HTTP: raw requests, auth0-python's ``GetToken`` and
``TokenVerifier`` unmodified, and PyJWT's ``PyJWKClient``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from auth0.authentication import GetToken
from auth0.authentication.exceptions import Auth0Error
from auth0.authentication.token_verifier import AsymmetricSignatureVerifier, TokenVerifier

from identitystore.emulator import Emulator

from .emulator_support import api, real_time_emulator, signin_form

DB = "Username-Password-Authentication"
PASSWORD = "Corr3ct-horse-battery"
REALM = "http://auth0.com/oauth/grant-type/password-realm"
OTP = "http://auth0.com/oauth/grant-type/passwordless/otp"
WRONG = {"error": "invalid_grant", "error_description": "Wrong email or password."}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """An emulator on a store whose clock is the real time (SDKs check ``exp`` against it)."""
    with real_time_emulator(max_login_attempts=3) as emulator:
        yield emulator


@pytest.fixture
def jane(emu: Emulator) -> str:
    user = emu.store.create_user(
        DB, email="jane@example.com", password=PASSWORD, given_name="Jane", verify_email=False
    )
    return user.user_id


def token(emu: Emulator, form: bool = False, **fields: Any) -> httpx.Response:
    """A ``password-realm`` sign-in of jane, as JSON (``fields`` of any type) or a form."""
    body: dict[str, Any] = {**signin_form(emu, "jane@example.com", PASSWORD), **fields}
    body = {k: v for k, v in body.items() if v is not None}
    if form:
        return httpx.post(f"{emu.url}/oauth/token", data=body)
    return httpx.post(f"{emu.url}/oauth/token", json=body)


def claims_of(emu: Emulator, id_token: str, audience: str) -> dict[str, Any]:
    """The token's claims, checked with PyJWT's ``PyJWKClient`` on the emulator's JWKS."""
    key = jwt.PyJWKClient(f"{emu.url}/.well-known/jwks.json").get_signing_key_from_jwt(id_token)
    claims: dict[str, Any] = jwt.decode(
        id_token,
        key,
        algorithms=["RS256"],
        audience=audience,
        issuer=f"https://{emu.domain}/",
    )
    return claims


# -- password-realm ---------------------------------------------------------------------------


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_password_realm_gives_id_and_access_tokens(emu: Emulator, jane: str, form: bool) -> None:
    response = token(emu, form, scope="openid profile email", nonce="n-0S6_WzA2Mj")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "id_token", "scope", "expires_in", "token_type"}
    assert (body["scope"], body["expires_in"], body["token_type"]) == (
        "openid profile email",
        86400,
        "Bearer",
    )
    header = jwt.get_unverified_header(body["id_token"])
    assert header["alg"] == "RS256"
    assert header["kid"] in [
        k["kid"] for k in httpx.get(f"{emu.url}/.well-known/jwks.json").json()["keys"]
    ]
    claims = claims_of(emu, body["id_token"], emu.client_id)
    user = emu.store.get_user(jane)
    assert claims["iss"] == f"https://{emu.domain}/"
    assert (claims["sub"], claims["aud"], claims["nonce"]) == (jane, emu.client_id, "n-0S6_WzA2Mj")
    assert isinstance(claims["iat"], int)
    assert claims["exp"] - claims["iat"] == 36000
    assert abs(claims["iat"] - time.time()) < 60
    assert (claims["email"], claims["email_verified"], claims["given_name"]) == (
        "jane@example.com",
        False,
        "Jane",
    )
    assert (claims["name"], claims["nickname"], claims["picture"], claims["updated_at"]) == (
        user.name,
        user.nickname,
        user.picture,
        user.updated_at,
    )
    assert emu.store.get_user(jane).logins_count == 1
    assert [e.type for e in emu.store.list_events(user_id=jane)][-2:] == ["s", "sepft"]


def test_claims_follow_the_scope(emu: Emulator, jane: str) -> None:
    email_only = token(emu, scope="openid email").json()
    claims = claims_of(emu, email_only["id_token"], emu.client_id)
    assert "name" not in claims
    assert claims["email"] == "jane@example.com"
    profile_only = claims_of(
        emu, token(emu, scope="openid profile").json()["id_token"], emu.client_id
    )
    assert "email" not in profile_only
    assert profile_only["given_name"] == "Jane"
    no_openid = token(emu, scope="email").json()
    assert "id_token" not in no_openid
    assert "id_token" not in token(emu).json()


def test_auth0_python_login_and_token_verifier(emu: Emulator, jane: str) -> None:
    get_token = GetToken(emu.domain, emu.client_id, emu.client_secret, protocol="http")
    tokens = get_token.login("jane@example.com", PASSWORD, realm=DB, scope="openid profile email")
    verifier = TokenVerifier(
        signature_verifier=AsymmetricSignatureVerifier(f"{emu.url}/.well-known/jwks.json"),
        issuer=f"https://{emu.domain}/",
        audience=emu.client_id,
    )
    payload = verifier.verify(tokens["id_token"])
    assert (payload["sub"], payload["email"]) == (jane, "jane@example.com")
    with pytest.raises(Auth0Error) as wrong:
        get_token.login("jane@example.com", "wrong", realm=DB)
    assert (wrong.value.status_code, wrong.value.error_code, wrong.value.message) == (
        403,
        "invalid_grant",
        "Wrong email or password.",
    )
    other = TokenVerifier(
        signature_verifier=AsymmetricSignatureVerifier(f"{emu.url}/.well-known/jwks.json"),
        issuer=f"https://{emu.domain}/",
        audience="another-client",
    )
    with pytest.raises(Exception, match="Audience"):
        other.verify(tokens["id_token"])


def test_wrong_password_and_unknown_user_answer_alike(emu: Emulator, jane: str) -> None:
    wrong = token(emu, password="wrong-password")
    unknown = token(emu, username="nobody@example.com")
    assert (wrong.status_code, wrong.json()) == (403, WRONG)
    assert (unknown.status_code, unknown.json()) == (403, WRONG)
    types = [e.type for e in emu.store.list_events()]
    assert types.count("fp") == 1
    assert types.count("fu") == 1
    assert types.count("fepft") == 2
    assert "wrong-password" not in str([e.to_dict() for e in emu.store.list_events()])


def test_blocked_user(emu: Emulator, jane: str) -> None:
    emu.store.update_user(jane, blocked=True)
    response = token(emu)
    assert (response.status_code, response.json()) == (
        401,
        {"error": "unauthorized", "error_description": "user is blocked"},
    )


def test_brute_force_protection_and_user_blocks(emu: Emulator, jane: str) -> None:
    for _ in range(emu.store.max_login_attempts):
        assert token(emu, password="wrong").status_code == 403
    blocked = token(emu)
    assert blocked.status_code == 429
    assert blocked.json()["error"] == "too_many_attempts"
    with api(emu) as client:
        blocks = client.get(f"/user-blocks/{jane}").json()
        assert blocks == {
            "blocked_for": [{"identifier": "jane@example.com", "ip": "127.0.0.1", "connection": DB}]
        }
        assert client.delete(f"/user-blocks/{jane}").status_code == 204
    assert token(emu).status_code == 200


def test_refusals(emu: Emulator, jane: str) -> None:
    denied = {"error": "access_denied", "error_description": "Unauthorized"}

    def invalid(text: str, error: str = "invalid_request") -> dict[str, str]:
        return {"error": error, "error_description": text}

    elsewhere = "https://api.example.com/"
    cases: list[tuple[dict[str, Any], int, dict[str, str]]] = [
        ({"client_id": "nobody"}, 401, denied),
        ({"client_secret": "wrong"}, 401, denied),
        ({"client_secret": None}, 401, denied),  # a confidential client must send it
        ({"username": None}, 400, invalid("Missing required parameter: username")),
        ({"password": None}, 400, invalid("Missing required parameter: password")),
        ({"realm": None}, 400, invalid("Missing required parameter: realm")),
        ({"realm": "nowhere"}, 400, invalid("Unknown realm nowhere.")),
        ({"scope": ["openid"]}, 400, invalid("Scope must be an array or a string",
                                             "invalid_scope")),
        ({"audience": elsewhere}, 403, invalid(f"Service not enabled within domain: {elsewhere}",
                                               "access_denied")),
        ({"realm": "email"}, 400, invalid("This connection does not support password sign-in.")),
    ]  # fmt: skip
    for changes, status, body in cases:
        response = token(emu, **changes)
        assert (response.status_code, response.json()) == (status, body), changes
    assert (
        emu.store.get_user(jane).logins_count is None or emu.store.get_user(jane).logins_count == 0
    )


def test_a_public_client_signs_in_without_a_secret(emu: Emulator, jane: str) -> None:
    with api(emu) as client:
        spa = client.post(
            "/clients", json={"name": "spa", "app_type": "spa", "grant_types": [REALM]}
        ).json()
        m2m = client.post("/clients", json={"name": "m2m"}).json()  # client_credentials only
    response = token(emu, client_id=spa["client_id"], client_secret=None, scope="openid")
    assert response.status_code == 200, response.text
    refused = token(emu, client_id=m2m["client_id"], client_secret=m2m["client_secret"])
    assert (refused.status_code, refused.json()) == (
        403,
        {
            "error": "unauthorized_client",
            "error_description": f"Grant type '{REALM}' not allowed for the client.",
            "error_uri": "https://auth0.com/docs/clients/client-grant-types",
        },
    )
    assert claims_of(emu, response.json()["id_token"], spa["client_id"])["sub"] == jane


# -- the password grant and the default directory ---------------------------------------------


def test_password_grant_needs_a_default_directory(emu: Emulator, jane: str) -> None:
    unset = token(emu, grant_type="password", realm=None)
    assert (unset.status_code, unset.json()) == (
        500,
        {
            "error": "server_error",
            "error_description": "Authorization server not configured with default connection.",
        },
    )
    with api(emu) as client:
        assert client.get("/tenants/settings").json() == {}
        patched = client.patch("/tenants/settings", json={"default_directory": DB})
        assert patched.json() == {"default_directory": DB}
        bad = client.patch("/tenants/settings", json={"default_directory": "nowhere"})
        assert bad.status_code == 400
        other = client.patch("/tenants/settings", json={"friendly_name": "x"})
        assert other.status_code == 400
    response = token(emu, grant_type="password", realm=None, scope="openid")
    assert response.status_code == 200, response.text
    assert claims_of(emu, response.json()["id_token"], emu.client_id)["sub"] == jane
    assert token(emu, grant_type="password", realm=None, password="x").json() == WRONG


# -- passwordless/otp -------------------------------------------------------------------------


def start(emu: Emulator, **fields: str) -> str:
    body = {"client_id": emu.client_id, "send": "code", **fields}
    assert httpx.post(f"{emu.url}/passwordless/start", json=body).status_code == 200
    code = emu.outbox[-1].token
    assert code is not None
    return code


def test_otp_grant_with_auth0_python(emu: Emulator) -> None:
    code = start(emu, connection="email", email="pat@example.com")
    get_token = GetToken(emu.domain, emu.client_id, emu.client_secret, protocol="http")
    userinfo = f"https://{emu.domain}/userinfo"  # the one audience besides the Management API
    tokens = get_token.passwordless_login(
        "pat@example.com", code, "email", "openid email", userinfo
    )
    claims = claims_of(emu, tokens["id_token"], emu.client_id)
    assert (claims["email"], claims["email_verified"]) == ("pat@example.com", True)
    assert claims["sub"].startswith("email|")
    with pytest.raises(Auth0Error) as reused:
        get_token.passwordless_login("pat@example.com", code, "email", "openid", userinfo)
    assert (reused.value.status_code, reused.value.message) == (
        403,
        "Wrong email or verification code.",
    )
    sms_code = start(emu, connection="sms", phone_number="+14155550100")
    sms = get_token.passwordless_login("+14155550100", sms_code, "sms", "openid phone", userinfo)
    phone = claims_of(emu, sms["id_token"], emu.client_id)
    assert (phone["phone_number"], phone["phone_number_verified"]) == ("+14155550100", True)
    types = [e.type for e in emu.store.list_events()]
    assert types.count("seotpft") == 2
    assert types.count("feotpft") == 1


def test_otp_wrong_expired_and_exhausted(emu: Emulator) -> None:
    def otp(username: str, code: str, realm: str) -> httpx.Response:
        body = {"grant_type": OTP, "client_id": emu.client_id, "client_secret": emu.client_secret,
                "username": username, "otp": code, "realm": realm}  # fmt: skip
        return httpx.post(f"{emu.url}/oauth/token", json=body)

    start(emu, connection="sms", phone_number="+14155550100")
    wrong = otp("+14155550100", "000000x", "sms")
    assert (wrong.status_code, wrong.json()) == (
        403,
        {"error": "invalid_grant", "error_description": "Wrong phone number or verification code."},
    )
    otp("+14155550100", "000000y", "sms")
    exhausted = otp("+14155550100", "000000z", "sms")
    assert exhausted.json()["error_description"] == (
        "You've reached the maximum number of attempts. Please try to login again."
    )
    code = start(emu, connection="email", email="pat@example.com")
    emu.advance_clock(timedelta(minutes=4))
    expired = otp("pat@example.com", code, "email")
    assert (expired.status_code, expired.json()["error_description"]) == (
        403,
        "The verification code has expired. Please try to login again.",
    )
    assert otp("pat@example.com", code, "nowhere").json()["error_description"] == (
        "Unknown realm nowhere."
    )


# -- /userinfo --------------------------------------------------------------------------------


def test_userinfo(emu: Emulator, jane: str) -> None:
    access = token(emu, scope="openid profile email").json()["access_token"]
    response = httpx.get(f"{emu.url}/userinfo", headers={"authorization": f"Bearer {access}"})
    assert response.status_code == 200, response.text
    user = emu.store.get_user(jane)
    assert response.json() == {
        "sub": jane,
        "name": user.name,
        "nickname": user.nickname,
        "picture": user.picture,
        "given_name": "Jane",
        "updated_at": user.updated_at,
        "email": "jane@example.com",
        "email_verified": False,
    }
    narrow = token(emu, scope="openid").json()["access_token"]
    assert httpx.get(
        f"{emu.url}/userinfo", headers={"authorization": f"Bearer {narrow}"}
    ).json() == {"sub": jane}


def _forged(header: dict[str, Any], claims: dict[str, Any], hmac_key: bytes | None = None) -> str:
    """A token as an attacker writes it: unsigned, or HMAC-signed with ``hmac_key``."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signing_input = f"{part(header)}.{part(claims)}"
    if hmac_key is None:
        return f"{signing_input}."
    digest = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


def test_userinfo_and_the_management_api_refuse_bad_tokens(emu: Emulator, jane: str) -> None:
    access = token(emu, scope="openid").json()["access_token"]
    claims = jwt.decode(access, options={"verify_signature": False})
    kid = jwt.get_unverified_header(access)["kid"]
    now = int(time.time())
    public_pem = emu.app.emulation.tenant.key.public_pem()
    bad = {
        "alg none": _forged({"alg": "none", "typ": "JWT", "kid": kid}, claims),
        "HS256 with the public key": _forged({"alg": "HS256", "kid": kid}, claims, public_pem),
        "unknown kid": _forged({"alg": "RS256", "kid": "nope"}, claims) + "c2ln",
        "expired": emu.app.emulation.tenant.key.sign({**claims, "iat": now - 100, "exp": now - 1}),
        "another audience": emu.app.emulation.tenant.key.sign({**claims, "aud": "https://x/"}),
        "a management token": httpx.post(
            f"{emu.url}/oauth/token",
            data={"grant_type": "client_credentials", "client_id": emu.client_id,
                  "client_secret": emu.client_secret, "audience": f"https://{emu.domain}/api/v2/"},
        ).json()["access_token"],
    }  # fmt: skip
    for name, forged in bad.items():
        response = httpx.get(f"{emu.url}/userinfo", headers={"authorization": f"Bearer {forged}"})
        assert response.status_code == 401, name
        assert response.json()["error"] == "invalid_token", name
    missing = httpx.get(f"{emu.url}/userinfo")
    assert missing.status_code == 401
    with api(emu, access) as client:
        refused = client.get("/users")
    assert refused.status_code == 401
    assert refused.json()["message"].startswith("Bad audience")


# -- refresh tokens and /oauth/revoke ---------------------------------------------------------


def test_refresh_tokens_only_with_offline_access(emu: Emulator, jane: str) -> None:
    assert "refresh_token" not in token(emu, scope="openid email").json()
    get_token = GetToken(emu.domain, emu.client_id, emu.client_secret, protocol="http")
    first = get_token.login(
        "jane@example.com", PASSWORD, realm=DB, scope="openid email offline_access"
    )
    refresh = first["refresh_token"]
    stored = emu.store.backend.list_records("refresh_token")
    assert len(stored) == 1
    assert refresh not in str(stored)  # kept as its SHA-256 only
    again = get_token.refresh_token(refresh)  # auth0-python sends scope "": keep the token's
    assert again["scope"] == "openid email offline_access"
    assert "refresh_token" not in again  # no rotation
    assert claims_of(emu, again["id_token"], emu.client_id)["email"] == "jane@example.com"
    narrower = get_token.refresh_token(refresh, scope="openid")
    assert "email" not in claims_of(emu, narrower["id_token"], emu.client_id)
    with pytest.raises(Auth0Error) as wider:
        get_token.refresh_token(refresh, scope="openid profile")
    assert (wider.value.status_code, wider.value.error_code) == (403, "invalid_scope")
    types = [e.type for e in emu.store.list_events()]
    assert types.count("sertft") == 2
    assert types.count("fertft") == 1


def test_refresh_token_refusals_and_revocation(emu: Emulator, jane: str) -> None:
    refresh = token(emu, scope="offline_access").json()["refresh_token"]

    def use(**fields: Any) -> httpx.Response:
        body = {"grant_type": "refresh_token", "client_id": emu.client_id,
                "client_secret": emu.client_secret, "refresh_token": refresh, **fields}  # fmt: skip
        return httpx.post(f"{emu.url}/oauth/token", json=body)

    unknown = {"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."}
    assert use().status_code == 200
    assert (use(refresh_token="nope").status_code, use(refresh_token="nope").json()) == (
        403,
        unknown,
    )
    with api(emu) as client:
        other = client.post(
            "/clients", json={"name": "spa", "app_type": "spa", "grant_types": ["refresh_token"]}
        ).json()
    assert use(client_id=other["client_id"], client_secret=None).json() == unknown
    emu.store.update_user(jane, blocked=True)
    assert use().json() == {"error": "invalid_grant", "error_description": "user is blocked"}
    emu.store.update_user(jane, blocked=False)

    revoke = {"client_id": emu.client_id, "client_secret": emu.client_secret, "token": refresh}
    foreign = httpx.post(
        f"{emu.url}/oauth/revoke", json={**revoke, "client_id": other["client_id"]}
    )
    assert foreign.status_code == 401  # a confidential secret of another client
    revoked = httpx.post(f"{emu.url}/oauth/revoke", json=revoke)
    assert (revoked.status_code, revoked.content) == (200, b"")
    assert use().json() == unknown
    assert httpx.post(f"{emu.url}/oauth/revoke", json=revoke).status_code == 200  # again: fine
    missing = httpx.post(f"{emu.url}/oauth/revoke", json={**revoke, "token": None})
    assert missing.json() == {
        "error": "invalid_request",
        "error_description": "Missing required parameter: token",
    }
    later = token(emu, scope="offline_access").json()["refresh_token"]
    emu.store.delete_user(jane)
    assert use(refresh_token=later).json() == unknown
