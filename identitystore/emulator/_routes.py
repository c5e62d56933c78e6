"""The URL table, as data: method, path, the scopes a token needs (any one), the handler.

Paths are matched on the raw path, split on ``/`` and then percent-decoded segment by segment,
exactly once: ``/api/v2/users/auth0%7Cabc`` is the user ``auth0|abc``, and ``%2F`` inside an id
stays inside that one segment (docs/auth0-reference-http.md#what-the-sdks-rely-on, 5). Scopes
are the OAS ``security`` entries.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from starlette.responses import Response

from . import _apis as apis
from . import _authentication as authentication
from . import _authorize as authorize
from . import _controls as controls
from . import _jobs as jobs
from . import _management as management
from . import _oauth as oauth
from . import _pages as pages
from . import _signin as signin
from ._errors import method_not_allowed, not_found
from ._http import Call

__all__ = ["MANAGEMENT_SCOPES", "ROUTES", "Route", "Router"]

Handler = Callable[[Call], Awaitable[Response]]
#: ``management``: an access token for the Management API is required; ``public``: none.
Access = Literal["management", "oauth", "public", "control"]

_API = "/api/v2"


@dataclass(frozen=True)
class Route:
    """One operation.

    Attributes:
        method: the HTTP method.
        path: the path with ``{}`` for each parameter, e.g. ``/api/v2/users/{}``.
        handler: the coroutine that answers.
        scopes: the token needs any one of them (Management API routes).
        access: who may call it.
        summary: Auth0's name of the operation (OAS ``summary``), the description of its logs.
        logged: whether the emulator logs the call (``sapi`` or ``fapi``; see
            docs/auth0-reference-http.md#log-events).
    """

    method: str
    path: str
    handler: Handler
    scopes: tuple[str, ...] = ()
    access: Access = "management"
    summary: str = ""
    logged: bool = False

    @property
    def segments(self) -> tuple[str, ...]:
        """The path's segments, ``{}`` for parameters."""
        return tuple(self.path.split("/")[1:])


def _api(
    method: str, path: str, handler: Handler, scopes: str, summary: str, *, logged: bool = True
) -> Route:
    """A Management API route; writes are logged (``sapi``/``fapi``) unless ``logged=False``."""
    return Route(
        method,
        _API + path,
        handler,
        tuple(scopes.split()),
        "management",
        summary,
        logged=logged and method != "GET",
    )


# fmt: off
ROUTES: tuple[Route, ...] = (
    # -- Authentication API
    Route("POST", "/oauth/token", oauth.token, access="oauth", summary="Get token"),
    Route("GET", "/.well-known/jwks.json", oauth.jwks, access="public"),
    Route("GET", "/.well-known/openid-configuration", oauth.openid_configuration, access="public"),
    Route("POST", "/oauth/revoke", signin.revoke, access="public"),
    Route("GET", "/userinfo", signin.userinfo, access="public"),
    Route("POST", "/dbconnections/signup", authentication.signup, access="public"),
    Route("POST", "/dbconnections/change_password", authentication.change_password,
          access="public"),
    Route("POST", "/passwordless/start", authentication.passwordless_start, access="public"),
    # -- browser sign-in: /authorize, the login pages, logout
    Route("GET", "/authorize", authorize.authorize, access="public"),
    *(
        Route(method, path, handler, access="public")
        for path, handler in (
            ("/u/login", pages.login),
            ("/u/signup", pages.signup),
            ("/u/login/passwordless", pages.passwordless),
            ("/u/login/passwordless/code", pages.passwordless_code),
            ("/u/reset-password/request", pages.reset_request),
            ("/u/reset-password", pages.reset_password),
        )
        for method in ("GET", "POST")
    ),
    Route("GET", "/v2/logout", authorize.logout, access="public"),
    Route("GET", "/oidc/logout", authorize.oidc_logout, access="public"),
    # -- users (the store logs its own sapi for a PATCH)
    _api("GET", "/users", management.list_users, "read:users read:user_idp_tokens",
         "List or Search Users"),
    _api("POST", "/users", management.create_user, "create:users", "Create a User"),
    _api("GET", "/users/{}", management.get_user,
         "read:users read:current_user read:user_idp_tokens", "Get a User"),
    _api("PATCH", "/users/{}", management.update_user,
         "update:users update:users_app_metadata update:current_user_metadata", "Update a User",
         logged=False),
    _api("DELETE", "/users/{}", management.delete_user, "delete:users delete:current_user",
         "Delete a User"),
    _api("GET", "/users/{}/logs", management.user_logs, "read:logs read:logs_users",
         "Get user's log events"),
    _api("GET", "/users-by-email", management.users_by_email, "read:users",
         "Search Users by Email"),
    # -- connections (the store logs its own sapi for a delete)
    _api("GET", "/connections", management.list_connections, "read:connections",
         "Get all connections"),
    _api("POST", "/connections", management.create_connection, "create:connections",
         "Create a connection"),
    _api("GET", "/connections/{}", management.get_connection, "read:connections",
         "Get a connection"),
    _api("PATCH", "/connections/{}", management.update_connection, "update:connections",
         "Update a connection"),
    _api("DELETE", "/connections/{}", management.delete_connection, "delete:connections",
         "Delete a connection", logged=False),
    _api("DELETE", "/connections/{}/users", management.delete_connection_users, "delete:users",
         "Delete a connection user"),
    # -- logs
    _api("GET", "/logs", management.list_logs, "read:logs read:logs_users", "Search log events"),
    _api("GET", "/logs/{}", management.get_log, "read:logs read:logs_users",
         "Get a log event by id"),
    # -- brute-force blocks
    _api("GET", "/user-blocks", management.get_blocks_by_identifier, "read:users",
         "Get blocks by identifier"),
    _api("DELETE", "/user-blocks", management.unblock_by_identifier, "update:users",
         "Unblock by identifier"),
    _api("GET", "/user-blocks/{}", management.get_user_blocks, "read:users",
         "Get a user's blocks"),
    _api("DELETE", "/user-blocks/{}", management.unblock_user, "update:users", "Unblock a user"),
    # -- tickets and jobs
    _api("POST", "/tickets/email-verification", management.post_email_verification_ticket,
         "create:user_tickets", "Create an email verification ticket"),
    _api("POST", "/tickets/password-change", authentication.post_password_change_ticket,
         "create:user_tickets", "Create a password change ticket"),
    _api("POST", "/jobs/verification-email", management.post_verification_email_job,
         "update:users", "Send an email address verification email"),
    _api("POST", "/jobs/users-imports", jobs.post_users_import, "create:users",
         "Create import users job"),
    _api("POST", "/jobs/users-exports", jobs.post_users_export, "read:users",
         "Create export users job"),
    _api("GET", "/jobs/{}", jobs.get_job, "create:users read:users", "Get a job"),
    _api("GET", "/jobs/{}/errors", jobs.get_job_errors, "create:users read:users",
         "Get job error details"),
    # -- APIs of the tenant's own (resource servers)
    _api("GET", "/resource-servers", apis.list_apis, "read:resource_servers",
         "Get resource servers"),
    _api("POST", "/resource-servers", apis.create_api, "create:resource_servers",
         "Create a resource server"),
    _api("GET", "/resource-servers/{}", apis.get_api, "read:resource_servers",
         "Get a resource server"),
    _api("PATCH", "/resource-servers/{}", apis.update_api, "update:resource_servers",
         "Update a resource server"),
    _api("DELETE", "/resource-servers/{}", apis.delete_api, "delete:resource_servers",
         "Delete a resource server"),
    # -- tenant settings (the password grant's default directory)
    _api("GET", "/tenants/settings", signin.get_tenant_settings, "read:tenant_settings",
         "Get tenant settings"),
    _api("PATCH", "/tenants/settings", signin.update_tenant_settings, "update:tenant_settings",
         "Update tenant settings"),
    # -- clients and client grants
    _api("GET", "/clients", management.list_clients,
         "read:clients read:client_keys read:client_credentials read:client_summary",
         "Get clients"),
    _api("POST", "/clients", management.create_client, "create:clients", "Create a client"),
    _api("GET", "/clients/{}", management.get_client,
         "read:clients read:client_keys read:client_credentials read:client_summary",
         "Get client by ID"),
    _api("PATCH", "/clients/{}", management.update_client, "update:clients update:client_keys",
         "Update a client"),
    _api("DELETE", "/clients/{}", management.delete_client, "delete:clients", "Delete a client"),
    _api("GET", "/client-grants", management.list_client_grants, "read:client_grants",
         "Get client grants"),
    _api("POST", "/client-grants", management.create_client_grant, "create:client_grants",
         "Create client grant"),
    _api("GET", "/client-grants/{}", management.get_client_grant, "read:client_grants",
         "Get client grant"),
    _api("DELETE", "/client-grants/{}", management.delete_client_grant, "delete:client_grants",
         "Delete client grant"),
    # -- test controls (no token: they exist for the test that runs the emulator)
    Route("GET", "/emulator/v1/outbox", controls.get_outbox, access="control"),
    Route("DELETE", "/emulator/v1/outbox", controls.clear_outbox, access="control"),
    Route("GET", "/emulator/v1/clock", controls.get_clock, access="control"),
    Route("POST", "/emulator/v1/clock", controls.move_clock, access="control"),
    Route("DELETE", "/emulator/v1/users", controls.reset_users, access="control"),
    Route("GET", "/emulator/v1/faults", controls.list_faults, access="control"),
    Route("POST", "/emulator/v1/faults", controls.add_fault, access="control"),
    Route("DELETE", "/emulator/v1/faults", controls.clear_faults, access="control"),
    # -- export files: a signed link is the credential, as Auth0's pre-signed URLs
    Route("GET", "/emulator/v1/exports/{}/{}", jobs.download_export, access="public"),
)
# fmt: on

#: Every scope a Management API route accepts: what the emulator's default client is granted.
MANAGEMENT_SCOPES: tuple[str, ...] = tuple(
    dict.fromkeys(scope for route in ROUTES for scope in route.scopes)
)


def split_path(raw_path: bytes) -> tuple[str, ...] | None:
    """The segments of a raw path, each percent-decoded once (None if it is not absolute)."""
    if not raw_path.startswith(b"/"):
        return None
    return tuple(
        urllib.parse.unquote_to_bytes(part).decode("utf-8", "replace")
        for part in raw_path[1:].split(b"/")
    )


class Router:
    """Finds the route of a method and raw path.

    Args:
        routes: the table.
    """

    def __init__(self, routes: tuple[Route, ...] = ROUTES) -> None:
        self._static: dict[tuple[str, ...], dict[str, Route]] = {}
        self._dynamic: dict[int, list[Route]] = {}
        for route in routes:
            if "{}" in route.segments:
                self._dynamic.setdefault(len(route.segments), []).append(route)
            else:
                self._static.setdefault(route.segments, {})[route.method] = route

    def match(self, method: str, raw_path: bytes) -> tuple[Route, tuple[str, ...]]:
        """The route and the decoded path parameters.

        Raises:
            ApiError: 404 for an unknown path, 405 for a known path and another method.
        """
        segments = split_path(raw_path)
        if segments is None:
            raise not_found()
        allowed: list[str] = []
        methods = self._static.get(segments)
        if methods is not None:
            route = methods.get(method)
            if route is not None:
                return route, ()
            allowed.extend(methods)
        for route in self._dynamic.get(len(segments), ()):
            params = _bind(route.segments, segments)
            if params is None:
                continue
            if route.method == method:
                return route, params
            allowed.append(route.method)
        if allowed:
            raise method_not_allowed(sorted(set(allowed)))
        raise not_found()


def _bind(pattern: tuple[str, ...], segments: tuple[str, ...]) -> tuple[str, ...] | None:
    params: list[str] = []
    for expected, actual in zip(pattern, segments, strict=True):
        if expected == "{}":
            if not actual:
                return None
            params.append(actual)
        elif expected != actual:
            return None
    return tuple(params)
