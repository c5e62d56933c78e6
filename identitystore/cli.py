"""The ``identitystore`` command: a thin layer over ``IdentityStore`` that speaks JSON."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

from . import IdentityStore, IdentityStoreError
from .errors import BadRequestError

__all__ = ["main"]

DEFAULT_DB = "identitystore.db"


class _InvalidJSON(BadRequestError):
    """A JSON argument that does not parse (hapi's text, as Auth0 answers for a bad body)."""

    default_message = "Invalid request payload JSON format"


def _fail(exc: IdentityStoreError) -> NoReturn:
    click.echo(json.dumps(exc.to_dict()), err=True)
    sys.exit(1)


def _reject_constant(name: str) -> Any:
    # NaN, Infinity and -Infinity are Python extensions, not JSON: Auth0 refuses such a body.
    raise ValueError(f"{name} is not JSON")


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        _fail(_InvalidJSON())


def _read_password_stdin() -> str:
    """The first stdin line without its line ending (``\\n`` or ``\\r\\n``)."""
    line = sys.stdin.readline()
    return line.removesuffix("\n").removesuffix("\r")


@click.group()
@click.option(
    "--db",
    "db_path",
    envvar="IDENTITYSTORE_DB",
    default=DEFAULT_DB,
    show_default=True,
    help="SQLite database file (also $IDENTITYSTORE_DB).",
)
@click.version_option(package_name="identitystore")
@click.pass_context
def cli(ctx: click.Context, /, *, db_path: str) -> None:
    """An identity store with Auth0's user semantics, on a SQLite file."""
    ctx.obj = db_path


def _open(ctx: click.Context) -> IdentityStore:
    try:
        return IdentityStore(ctx.obj)
    except IdentityStoreError as exc:
        _fail(exc)


_FIELD_OPTIONS = [
    ("--email", "email"),
    ("--username", "username"),
    ("--phone-number", "phone_number"),
    ("--user-id", "user_id"),
    ("--name", "name"),
    ("--nickname", "nickname"),
    ("--given-name", "given_name"),
    ("--family-name", "family_name"),
    ("--picture", "picture"),
]
_FLAG_OPTIONS = ["blocked", "email_verified", "phone_verified", "verify_email"]


def _field_options(func: Any) -> Any:
    for flag in reversed(_FLAG_OPTIONS):
        dashed = flag.replace("_", "-")
        func = click.option(f"--{dashed}/--no-{dashed}", flag, default=None)(func)
    for option, name in reversed(_FIELD_OPTIONS):
        func = click.option(option, name, help=f"The user's {name}.")(func)
    return func


@cli.command("create-user")
@click.option("--connection", help="Connection name (or the body's 'connection').")
@_field_options
@click.option("--password", help="Initial password (prefer --password-stdin or --password-prompt).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first stdin line.")
@click.option("--password-prompt", is_flag=True, help="Ask for the password without echoing it.")
@click.option("--user-metadata", help="user_metadata as a JSON object.")
@click.option("--app-metadata", help="app_metadata as a JSON object.")
@click.option("--json", "json_body", help="A whole Auth0 request body as JSON, or - for stdin.")
@click.pass_context
def create_user(
    ctx: click.Context,
    /,
    *,
    connection: str | None,
    password: str | None,
    password_stdin: bool,
    password_prompt: bool,
    user_metadata: str | None,
    app_metadata: str | None,
    json_body: str | None,
    **fields: Any,
) -> None:
    """Create a user (Auth0's POST /api/v2/users) and print it as JSON.

    Options given next to --json override the body's properties. On failure, Auth0's error body
    is printed to stderr and the exit status is 1.
    """
    if sum([password is not None, password_stdin, password_prompt]) > 1:
        raise click.UsageError("give the password one way only")
    if password_stdin and json_body == "-":
        raise click.UsageError("--password-stdin and --json - both read stdin")
    body: dict[str, Any] = {}
    if json_body is not None:
        parsed = _parse_json(sys.stdin.read() if json_body == "-" else json_body)
        if not isinstance(parsed, dict):
            _fail(_InvalidJSON())
        body.update(parsed)
    body.update({k: v for k, v in fields.items() if v is not None})
    for key, text in (("user_metadata", user_metadata), ("app_metadata", app_metadata)):
        if text is not None:
            body[key] = _parse_json(text)
    if password_stdin:
        password = _read_password_stdin()
    elif password_prompt:
        # prompts go to stderr so that stdout stays the user's JSON
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    if password is not None:
        body["password"] = password
    name = connection if connection is not None else body.pop("connection", None)
    body.pop("connection", None)
    with _open(ctx) as store:
        try:
            user = store.create_user(name, **body)
        except IdentityStoreError as exc:
            _fail(exc)
    click.echo(json.dumps(user.to_dict(), indent=2, ensure_ascii=False))


@cli.command("create-connection")
@click.argument("name")
@click.option("--strategy", required=True, help="auth0, email or sms.")
@click.option("--options", "options_json", help="Connection options as a JSON object.")
@click.pass_context
def create_connection(
    ctx: click.Context, /, *, name: str, strategy: str, options_json: str | None
) -> None:
    """Create a connection and print it as JSON."""
    options = _parse_json(options_json) if options_json is not None else None
    with _open(ctx) as store:
        try:
            connection = store.create_connection(name, strategy=strategy, options=options)
        except IdentityStoreError as exc:
            _fail(exc)
    click.echo(json.dumps(connection.to_dict(), indent=2))


@cli.command("list-connections")
@click.pass_context
def list_connections(ctx: click.Context) -> None:
    """Print every connection as a JSON array."""
    with _open(ctx) as store:
        connections = store.list_connections()
    click.echo(json.dumps([c.to_dict() for c in connections], indent=2))


def main(argv: list[str] | None = None) -> None:
    """Run the command line (the ``identitystore`` console script)."""
    cli.main(args=argv, prog_name="identitystore")


if __name__ == "__main__":  # pragma: no cover
    main()
