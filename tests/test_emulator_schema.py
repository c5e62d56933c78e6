"""Auth0's own OpenAPI document against the running emulator, with schemathesis.

For every Management API operation of the route table (``_routes.ROUTES``: a route added there is
tested here with no change), schemathesis makes requests from Auth0's
``management-api-oas.json``, valid and invalid ones, and sends them over HTTP to an ``Emulator``
on 127.0.0.1 with a token from its ``/oauth/token``. Each answer must pass schemathesis's checks:
no 5xx, a status the document lists for the operation, the content type it lists, and a body that
conforms to the document's schema for that status.

Generated ids and names rarely exist, so half of the examples point theirs at objects known to
exist (a user, a connection, a client, a grant, a job, a log event, remade when deleted), and
``POST /users`` also gets bodies that the connection accepts (``identitystore.strategies``), so
that 2xx bodies are checked and not only the 4xx paths.

The document is ``tests/data/auth0-management-api-oas.json.gz``: Auth0's
<https://auth0.com/docs/oas/management/v2/management-api-oas.json>, gzipped. Where it cannot be
followed, its copy is edited, each edit in ``QUIRKS`` and in docs/decisions.md (Emulator).
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from identitystore.emulator import Emulator
from identitystore.emulator._routes import MANAGEMENT_SCOPES, ROUTES, Route
from identitystore.strategies import create_user_bodies, metadata
from tests.emulator_support import api

_API = "/api/v2"
#: Examples per operation, about half valid and half invalid data: 30 (a few seconds in all),
#: more under a profile with more (``HYPOTHESIS_PROFILE=thorough``: 500).
EXAMPLES = max(30, settings().max_examples // 2)
CHECKS: list[CheckFunction] = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MANAGEMENT_ROUTES = [route for route in ROUTES if route.access == "management"]
DOCUMENT = Path(__file__).parent / "data" / "auth0-management-api-oas.json.gz"


# -- the document ----------------------------------------------------------------------------


def _without_form_bodies(doc: dict[str, Any]) -> None:
    for operations in doc["paths"].values():
        for operation in operations.values():
            operation.get("requestBody", {}).get("content", {}).pop(
                "application/x-www-form-urlencoded", None
            )


def _list_pages_any_of(doc: dict[str, Any]) -> None:
    for path in ("/connections", "/clients", "/client-grants"):
        schema = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        schema = schema["schema"]
        if "$ref" in schema:
            schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        schema["anyOf"] = schema.pop("oneOf")


def _idn_emails(doc: dict[str, Any]) -> None:
    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("format") == "email":
                node["format"] = "idn-email"
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)


def _no_content_in_204s(doc: dict[str, Any]) -> None:
    for operations in doc["paths"].values():
        for operation in operations.values():
            operation["responses"].get("204", {}).pop("content", None)


def _documents(path: str, method: str, status: str, description: str) -> Callable[[Any], None]:
    def edit(doc: dict[str, Any]) -> None:
        responses = doc["paths"][path][method]["responses"]
        assert status not in responses, f"{method} {path} documents {status} now: drop the quirk"
        responses[status] = {"description": description}

    return edit


def _export_of_every_connection(doc: dict[str, Any]) -> None:
    schema = doc["components"]["schemas"]["CreateExportUsersResponseContent"]
    assert "connection" in schema["required"], "the export job's connection is optional now"
    schema["required"] = [name for name in schema["required"] if name != "connection"]


#: The edits of the document's copy, each with its reason (docs/decisions.md, Emulator).
QUIRKS: dict[str, Callable[[dict[str, Any]], None]] = {
    # Every JSON body is also declared as a form; no SDK sends one, and the emulator reads JSON
    # only (a form is 400 "Invalid request payload JSON format").
    "form bodies": _without_form_bodies,
    # The last page of checkpoint paging, {"connections": [...]} without "next", is valid under
    # both the checkpoint and the offset shape (neither requires a property), so "oneOf" fails
    # on a correct answer: it is checked as "anyOf".
    "final checkpoint page": _list_pages_any_of,
    # Auth0 checks "format": "email" with z-schema, that is validator.js's isEmail, which takes
    # a UTF-8 local part (as the library does); jsonschema's "email" is ASCII only (RFC 5321),
    # its "idn-email" (RFC 6531) is the one that matches.
    "email format": _idn_emails,
    # A 204 has no content (RFC 9110), but the document gives some a JSON body (GET
    # /jobs/{id}/errors): they are answered empty, as Auth0 does.
    "no content in a 204": _no_content_in_204s,
    # A `from` that is no checkpoint of ours cannot be answered with a page: 400, as the other
    # list routes answer a bad query (the document lists no 400 here).
    "client-grants bad from": _documents(
        "/client-grants", "get", "400", "Invalid query string paramaters."
    ),
    # An unknown user_id: 404 "The user does not exist.", as for the email-verification ticket
    # (the document lists no 404 for the job).
    "verification-email unknown user": _documents(
        "/jobs/verification-email", "post", "404", "User not found."
    ),
    # An export without connection_id takes every connection, so its job names none; the
    # document requires a connection (written for one-connection exports).
    "export of every connection": _export_of_every_connection,
    # An unknown API: 404 "The resource server does not exist", as GET answers it (the document
    # lists no 404 for PATCH).
    "resource-server PATCH unknown": _documents(
        "/resource-servers/{id}", "patch", "404", "Resource server not found."
    ),
}


def _oas_path(route: Route, paths: dict[str, Any]) -> str:
    """The document's path of ``route`` (``/users/{}`` is ``/users/{id}``)."""
    segments = route.path.removeprefix(_API).split("/")
    for path in paths:
        parts = path.split("/")
        if len(parts) == len(segments) and all(
            mine == theirs or (mine == "{}" and theirs.startswith("{"))
            for mine, theirs in zip(segments, parts, strict=True)
        ):
            return path
    raise AssertionError(f"{route.method} {route.path} is not in Auth0's document")


def _document() -> dict[str, Any]:
    """The document's copy: the served operations only, with the ``QUIRKS`` edits."""
    with gzip.open(DOCUMENT, "rt", encoding="utf-8") as file:
        full = json.load(file)
    doc = {**full, "paths": {}}
    for route in MANAGEMENT_ROUTES:
        oas_path = _oas_path(route, full["paths"])
        method = route.method.lower()
        assert method in full["paths"][oas_path], f"{route.method} {oas_path} is not documented"
        doc["paths"].setdefault(oas_path, {})[method] = full["paths"][oas_path][method]
    for edit in QUIRKS.values():
        edit(doc)
    return doc


@pytest.fixture(scope="module")
def schema() -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_dict(_document())


# -- objects that exist ------------------------------------------------------------------------


#: The path's first segment -> the kind of object its ``{id}`` names.
KINDS = {
    "users": "user",
    "user-blocks": "user",
    "connections": "connection",
    "logs": "log",
    "jobs": "job",
    "clients": "client",
    "client-grants": "grant",
    "resource-servers": "resource_server",
}


class Known:
    """Ids of objects that exist in the emulator, remade by ``refresh`` when they are gone."""

    def __init__(self, emu: Emulator, http: httpx.Client) -> None:
        self.emu = emu
        self.http = http
        self.audience = f"https://{emu.domain}/api/v2/"
        self.ids: dict[str, str] = {}
        self.refresh()

    def _exists(self, kind: str, path: str) -> bool:
        return kind in self.ids and self.http.get(f"{path}/{self.ids[kind]}").status_code == 200

    def _create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(path, json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def new_client(self) -> str:
        """A new machine-to-machine client's id."""
        client = self._create("/clients", {"name": "known", "app_type": "non_interactive"})
        client_id: str = client["client_id"]
        return client_id

    def refresh(self) -> None:
        """Remake what a DELETE may have removed."""
        unique = time.monotonic_ns()
        if not self._exists("user", "/users"):
            user = self._create(
                "/users",
                {
                    "connection": "Username-Password-Authentication",
                    "email": f"known{unique}@example.com",
                    "password": "Correct-Horse-9",
                },
            )
            self.ids["user"], self.ids["email"] = user["user_id"], user["email"]
            self.ids["connection_of_user"] = self.emu.store.get_connection(
                "Username-Password-Authentication"
            ).id
        if not self._exists("connection", "/connections"):
            connection = self._create(
                "/connections", {"name": f"known{unique}", "strategy": "auth0"}
            )
            self.ids["connection"], self.ids["connection_name"] = (
                connection["id"],
                connection["name"],
            )
        if not self._exists("client", "/clients"):
            self.ids["client"] = self.new_client()
        if not self._exists("grant", "/client-grants"):
            body = {"client_id": self.ids["client"], "audience": self.audience, "scope": []}
            self.ids["grant"] = self._create("/client-grants", body)["id"]
        if not self._exists("resource_server", "/resource-servers"):
            body = {"name": "known", "identifier": f"https://known{unique}.example.com/"}
            self.ids["resource_server"] = self._create("/resource-servers", body)["id"]
        if not self._exists("job", "/jobs"):
            job = self._create("/jobs/verification-email", {"user_id": self.ids["user"]})
            self.ids["job"] = job["id"]
        self.ids["log"] = self.http.get("/logs", params={"per_page": 1}).json()[0]["log_id"]

    def point_at_known(self, case: schemathesis.Case[Any]) -> None:
        """Replace the case's ids, names and emails by those of objects that exist."""
        kind = KINDS.get(case.operation.path.split("/")[1])
        if case.path_parameters and "id" in case.path_parameters and kind is not None:
            case.path_parameters["id"] = self.ids[kind]
        values = {
            "user_id": self.ids["user"],
            "client_id": self.ids["client"],
            "connection": self.ids["connection_name"],
            "audience": self.audience,
            "email": self.ids["email"],
            "identifier": self.ids["email"],
            "connection_id": self.ids["connection"],
        }
        for container in (case.query, case.body):
            if isinstance(container, dict):
                for name in container.keys() & values.keys():
                    container[name] = values[name]


def _new_user(known: Known, data: st.DataObject) -> dict[str, Any]:
    name = data.draw(st.sampled_from(["Username-Password-Authentication", "email", "sms"]))
    return {"connection": name, **data.draw(create_user_bodies(name), label="user")}


def _user_changes(known: Known, data: st.DataObject) -> dict[str, Any]:
    changes = st.one_of(
        st.fixed_dictionaries({"user_metadata": metadata()}),
        st.fixed_dictionaries({"app_metadata": metadata(app=True)}),
        st.fixed_dictionaries({"blocked": st.booleans()}),
    )
    return data.draw(changes, label="changes")


def _new_connection(known: Known, data: st.DataObject) -> dict[str, Any]:
    strategy = data.draw(st.sampled_from(["auth0", "email", "sms"]), label="strategy")
    return {"name": f"c{data.draw(st.uuids(), label='name').hex}", "strategy": strategy}


def _connection_changes(known: Known, data: st.DataObject) -> dict[str, Any]:
    options = st.sampled_from([{}, {"passwordPolicy": "good"}, {"requires_username": True}])
    return {"options": data.draw(options, label="options")}


def _new_grant(known: Known, data: st.DataObject) -> dict[str, Any]:
    scope = st.lists(st.sampled_from(MANAGEMENT_SCOPES), unique=True, max_size=3)
    return {
        "client_id": known.new_client(),  # a client has one grant for an API
        "audience": known.audience,
        "scope": data.draw(scope, label="scope"),
    }


def _password_change_ticket(known: Known, data: st.DataObject) -> dict[str, Any]:
    by_id = {"user_id": known.ids["user"]}
    by_email = {"connection_id": known.ids["connection_of_user"], "email": known.ids["email"]}
    body: dict[str, Any] = data.draw(st.sampled_from([by_id, by_email]), label="user")
    options = st.fixed_dictionaries(
        {},
        optional={
            "ttl_sec": st.integers(min_value=0, max_value=2592000),
            "mark_email_as_verified": st.booleans(),
            "result_url": st.just("https://app.example.com/after-reset"),
        },
    )
    return {**body, **data.draw(options, label="options")}


#: Bodies the emulator must accept, for the writes whose generated bodies it nearly never does.
VALID_BODIES: dict[tuple[str, str], Callable[[Known, st.DataObject], dict[str, Any]]] = {
    ("POST", "/users"): _new_user,
    ("PATCH", "/users/{}"): _user_changes,
    ("POST", "/connections"): _new_connection,
    ("PATCH", "/connections/{}"): _connection_changes,
    ("POST", "/client-grants"): _new_grant,
    ("POST", "/tickets/password-change"): _password_change_ticket,
    ("POST", "/tickets/email-verification"): lambda known, data: {
        "user_id": known.ids["user"],
        **data.draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "ttl_sec": st.integers(min_value=0, max_value=2592000),
                    "result_url": st.just("https://app.example.com/verified"),
                },
            ),
            label="options",
        ),
    },
    ("POST", "/resource-servers"): lambda known, data: {
        "identifier": f"https://{data.draw(st.uuids(), label='api').hex}.example.com/",
        "scopes": [{"value": "read:things", "description": "Read things"}],
    },
    ("PATCH", "/resource-servers/{}"): lambda known, data: data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "name": st.just("Things"),
                "token_lifetime": st.integers(min_value=1, max_value=2592000),
                "allow_offline_access": st.booleans(),
                "scopes": st.just([{"value": "read:things", "description": "Read things"}]),
            },
        )
    ),
    ("PATCH", "/tenants/settings"): lambda known, data: {
        "default_directory": data.draw(
            st.sampled_from(["Username-Password-Authentication", known.ids["connection_name"]])
        )
    },
}


# -- the test ----------------------------------------------------------------------------------


@pytest.fixture
def http(identity_emulator: Emulator) -> Iterator[httpx.Client]:
    """A client of the emulator's Management API with a token from its ``/oauth/token``."""
    with api(identity_emulator) as client:
        yield client


@pytest.mark.parametrize(
    "route",
    MANAGEMENT_ROUTES,
    ids=[f"{r.method} {r.path.removeprefix(_API)}" for r in MANAGEMENT_ROUTES],
)
def test_answers_conform_to_auth0s_document(
    route: Route, schema: schemathesis.BaseSchema, identity_emulator: Emulator, http: httpx.Client
) -> None:
    emu = identity_emulator
    operation = schema[_oas_path(route, schema.raw_schema["paths"])][route.method]
    known = Known(emu, http)
    headers = {"authorization": http.headers["authorization"]}
    valid_body = VALID_BODIES.get((route.method, route.path.removeprefix(_API)))
    statuses: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        mode = data.draw(st.sampled_from(list(GenerationMode)), label="mode")
        case = data.draw(operation.as_strategy(mode), label="case")
        # a valid body always goes with known ids: Hypothesis leans to False, and a route whose
        # generated bodies nearly never pass would then go without a success now and then
        valid = valid_body is not None and mode is GenerationMode.POSITIVE
        if data.draw(st.booleans(), label="known ids") or valid:
            known.point_at_known(case)
            if valid_body is not None and valid:
                case.body = valid_body(known, data)
        response = case.call(base_url=f"{emu.url}{_API}", headers=headers, timeout=30)
        statuses.append(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=headers)
        if route.method == "DELETE":
            known.refresh()

    check()
    assert any(200 <= status < 300 for status in statuses), (
        f"no example of {route.method} {route.path} succeeded: {sorted(set(statuses))}"
    )
