"""The ``identitystore`` command: a thin layer over ``IdentityStore`` that speaks JSON."""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, TypeVar

import click

from . import IdentityStore, IdentityStoreError, errors

__all__ = ["main"]

DEFAULT_DB = "identitystore.db"

_T = TypeVar("_T")


def _fail(exc: IdentityStoreError) -> NoReturn:
    click.echo(json.dumps(exc.to_dict()), err=True)
    sys.exit(1)


def _print(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _reject_constant(name: str) -> Any:
    # NaN, Infinity and -Infinity are Python extensions, not JSON: Auth0 refuses such a body.
    raise ValueError(f"{name} is not JSON")


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        _fail(errors.InvalidJsonError())


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
    help="SQLite database file, or a postgresql:// URL (also $IDENTITYSTORE_DB).",
)
@click.version_option(package_name="identitystore")
@click.pass_context
def cli(ctx: click.Context, /, *, db_path: str) -> None:
    """An identity store with Auth0's user semantics, on a SQLite file or PostgreSQL."""
    ctx.obj = db_path


def _open(ctx: click.Context) -> IdentityStore:
    try:
        return IdentityStore(ctx.obj)
    except IdentityStoreError as exc:
        _fail(exc)
    except ImportError as exc:  # a postgresql:// URL without the postgres extra
        raise click.UsageError(str(exc)) from exc


def _call(ctx: click.Context, action: Callable[[IdentityStore], _T]) -> _T:
    """``action(store)`` on the command's database; an ``IdentityStoreError`` becomes its body."""
    with _open(ctx) as store:
        try:
            return action(store)
        except IdentityStoreError as exc:
            _fail(exc)


# -- shared options ------------------------------------------------------------------------------

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


def _password_options(func: Any) -> Any:
    """``--password``, ``--password-stdin`` and ``--password-prompt``: see ``_PasswordSource``."""
    func = click.option(
        "--password-prompt", is_flag=True, help="Ask for the password without echoing it."
    )(func)
    func = click.option(
        "--password-stdin", is_flag=True, help="Read the password from the first stdin line."
    )(func)
    return click.option(
        "--password", help="The password (prefer --password-stdin or --password-prompt)."
    )(func)


def _body_options(func: Any) -> Any:
    """``--user-metadata``, ``--app-metadata`` and ``--json``: see ``_request_body``."""
    func = click.option(
        "--json", "json_body", help="A whole Auth0 request body as JSON, or - for stdin."
    )(func)
    func = click.option("--app-metadata", help="app_metadata as a JSON object.")(func)
    return click.option("--user-metadata", help="user_metadata as a JSON object.")(func)


@dataclass(frozen=True)
class _PasswordSource:
    """Where the password comes from: ``--password``, ``--password-stdin`` or a prompt."""

    password: str | None
    stdin: bool
    prompt: bool

    def check(self, *, json_body: str | None = None, required: bool = False) -> None:
        """Refuse (usage error, exit 2) two sources, none if ``required``, or two stdin readers."""
        given = sum([self.password is not None, self.stdin, self.prompt])
        if required and not given:
            raise click.UsageError(
                "give the password with --password, --password-stdin or --password-prompt"
            )
        if given > 1:
            raise click.UsageError("give the password one way only")
        if self.stdin and json_body == "-":
            raise click.UsageError("--password-stdin and --json - both read stdin")

    def read(self, *, confirm: bool) -> str | None:
        """The password from the option, the first stdin line or a prompt; None if not given."""
        if self.stdin:
            return _read_password_stdin()
        if self.prompt:
            # prompts go to stderr so that stdout stays the command's JSON
            text: str = click.prompt(
                "Password", hide_input=True, confirmation_prompt=confirm, err=True
            )
            return text
        return self.password


def _request_body(
    json_body: str | None,
    user_metadata: str | None,
    app_metadata: str | None,
    options: dict[str, Any],
) -> dict[str, Any]:
    """The ``--json`` body (text or - for stdin), overridden by the options that were given."""
    body: dict[str, Any] = {}
    if json_body is not None:
        parsed = _parse_json(sys.stdin.read() if json_body == "-" else json_body)
        if not isinstance(parsed, dict):
            _fail(errors.InvalidJsonError())
        body.update(parsed)
    body.update({k: v for k, v in options.items() if v is not None})
    for key, text in (("user_metadata", user_metadata), ("app_metadata", app_metadata)):
        if text is not None:
            body[key] = _parse_json(text)
    return body


def _user_body(
    *,
    password: str | None,
    password_stdin: bool,
    password_prompt: bool,
    user_metadata: str | None,
    app_metadata: str | None,
    json_body: str | None,
    **options: Any,
) -> dict[str, Any]:
    """The create-user or update-user body from the shared options (password included)."""
    source = _PasswordSource(password, stdin=password_stdin, prompt=password_prompt)
    source.check(json_body=json_body)
    body = _request_body(json_body, user_metadata, app_metadata, options)
    password = source.read(confirm=True)
    if password is not None:
        body["password"] = password
    return body


# -- users ---------------------------------------------------------------------------------------


@cli.command("create-user")
@click.option("--connection", help="Connection name (or the body's 'connection').")
@_field_options
@_password_options
@_body_options
@click.pass_context
def create_user(ctx: click.Context, /, **options: Any) -> None:
    """Create a user (Auth0's POST /api/v2/users) and print it as JSON.

    Options given next to --json override the body's properties. On failure, Auth0's error body
    is printed to stderr and the exit status is 1.
    """
    body = _user_body(**options)

    _print(_call(ctx, lambda store: store.create_user_from_body(body)).to_dict())


@cli.command("get-user")
@click.argument("user_id")
@click.pass_context
def get_user(ctx: click.Context, /, *, user_id: str) -> None:
    """Print the user with this user_id as JSON."""
    _print(_call(ctx, lambda store: store.get_user(user_id)).to_dict())


@cli.command("list-users")
@click.option("--connection", help="Only users of this connection.")
@click.option("--q", help="A query in Auth0's Lucene syntax, e.g. 'email:\"jane@example.com\"'.")
@click.option("--page", type=int, help="The page to show, from 0.  [default: 0]")
@click.option("--per-page", type=int, help="Users per page, 1 to 100.  [default: 50]")
@click.option("--sort", help="FIELD:1 (ascending) or FIELD:-1 (descending).")
@click.option("--include-totals", is_flag=True, help="Wrap the page with start/limit/total.")
@click.pass_context
def list_users(ctx: click.Context, /, *, include_totals: bool, **query: Any) -> None:
    """Print a page of users as JSON (Auth0's GET /api/v2/users)."""
    given = {k: v for k, v in query.items() if v is not None}
    page = _call(ctx, lambda store: store.list_users(**given, include_totals=include_totals))
    _print(page.to_dict())


@cli.command("users-by-email")
@click.argument("email")
@click.pass_context
def users_by_email(ctx: click.Context, /, *, email: str) -> None:
    """Print the users of every connection with this email (any case) as a JSON array."""
    users = _call(ctx, lambda store: store.get_users_by_email(email))
    _print([u.to_dict() for u in users])


@cli.command("update-user")
@click.argument("target", metavar="USER_ID")
@click.option("--connection", help="The connection to target (the body's 'connection').")
@_field_options
@_password_options
@_body_options
@click.pass_context
def update_user(ctx: click.Context, /, *, target: str, **options: Any) -> None:
    """Change a user (Auth0's PATCH /api/v2/users/{id}) and print it as JSON.

    Only what is given changes; metadata objects merge at the top level. To unset a field, set
    it to null in the body, e.g. --json '{"nickname": null}'.
    """
    body = _user_body(**options)
    _print(_call(ctx, lambda store: store.update_user(target, **body)).to_dict())


@cli.command("delete-user")
@click.argument("user_id")
@click.pass_context
def delete_user(ctx: click.Context, /, *, user_id: str) -> None:
    """Delete a user and everything attached to it; prints nothing."""
    _call(ctx, lambda store: store.delete_user(user_id))


@cli.command("authenticate")
@click.option("--connection", required=True, help="The database connection's name.")
@click.option("--username-or-email", required=True, help="The user's email (or username).")
@_password_options
@click.option("--ip", help="The client's IP address (brute-force protection, event log).")
@click.pass_context
def authenticate(
    ctx: click.Context,
    /,
    *,
    connection: str,
    username_or_email: str,
    password: str | None,
    password_stdin: bool,
    password_prompt: bool,
    ip: str | None,
) -> None:
    """Sign in with a password and print the user as JSON (exit 1 and Auth0's body if refused)."""
    source = _PasswordSource(password, stdin=password_stdin, prompt=password_prompt)
    source.check(required=True)
    secret = str(source.read(confirm=False))
    user = _call(ctx, lambda store: store.authenticate(connection, username_or_email, secret, ip))
    _print(user.to_dict())


# -- import and export ---------------------------------------------------------------------------

#: Error entries shown on stderr when ``import-users`` has no ``--errors`` file.
_SHOWN_ERRORS = 10


class _Progress:
    """A progress bar on stderr when it is a terminal (none when piped): a bar when the total is
    known, a running count when not."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.shown = sys.stderr.isatty()
        self.bar: Any = None
        self.done = 0

    def __call__(self, done: int, total: int | None) -> None:
        if not self.shown:
            return
        if total is None:
            click.echo(f"\r{self.label}: {done:,}", nl=False, err=True)
        else:
            if self.bar is None:
                self.bar = click.progressbar(
                    length=total,
                    label=self.label,
                    file=sys.stderr,
                    show_pos=True,
                    show_percent=True,
                )
                self.bar.__enter__()
            self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
        elif self.shown and self.done:
            click.echo(err=True)


class _ErrorsOut:
    """Where ``import-users`` puts the error entries: a JSON array in a file, or the first few on
    stderr."""

    def __init__(self, path: str | None) -> None:
        self.file = open(path, "w", encoding="utf-8") if path is not None else None
        self.count = 0
        if self.file is not None:
            self.file.write("[")

    def __call__(self, entry: dict[str, Any]) -> None:
        text = json.dumps(entry, ensure_ascii=False)
        if self.file is not None:
            self.file.write(("," if self.count else "") + "\n" + text)
        elif self.count < _SHOWN_ERRORS:
            click.echo(text, err=True)
        self.count += 1

    def close(self) -> None:
        if self.file is not None:
            self.file.write("\n]\n")
            self.file.close()
        elif self.count > _SHOWN_ERRORS:
            more = self.count - _SHOWN_ERRORS
            click.echo(
                f"... and {more:,} more failed users (--errors FILE keeps them all)", err=True
            )


@cli.command("import-users")
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False))
@click.option("--connection", required=True, help="The database connection's name.")
@click.option("--upsert", is_flag=True, help="Update users whose email the connection has.")
@click.option(
    "--errors",
    "errors_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Write every failed user's error entry to this file (a JSON array).",
)
@click.option(
    "--send-verification-email",
    is_flag=True,
    help="Email a verification link to each new user whose email is not verified.",
)
@click.pass_context
def import_users(
    ctx: click.Context,
    /,
    *,
    file: str,
    connection: str,
    upsert: bool,
    errors_path: str | None,
    send_verification_email: bool,
) -> None:
    """Import users from an Auth0 users file (JSON array or newline-delimited JSON, gzip or not;
    - for stdin), like Auth0's users-imports job, and print the job summary as JSON.

    Exit status 1 when any user failed (the first ones, or --errors FILE, say why) or when the
    file was refused (Auth0's error body on stderr: nothing was imported).
    """
    source = sys.stdin.buffer if file == "-" else file
    progress = _Progress("Importing users")
    errors = _ErrorsOut(errors_path)
    try:
        result = _call(
            ctx,
            lambda store: store.import_users(
                connection,
                source,
                upsert=upsert,
                progress=progress,
                on_error=errors,
                send_verification_email=send_verification_email,
            ),
        )
    finally:
        progress.close()
        errors.close()
    click.echo(json.dumps(result.summary()))
    if result.failed:
        sys.exit(1)


def _fields(text: str | None) -> list[dict[str, str]] | None:
    """``--fields``: comma-separated names, each maybe ``name=Title``."""
    if text is None:
        return None
    fields = []
    for item in text.split(","):
        name, _, title = item.strip().partition("=")
        fields.append({"name": name, "export_as": title} if title else {"name": name})
    return fields


@cli.command("export-users")
@click.option("--connection", help="Only users of this connection (default: all).")
@click.option(
    "--format",
    "format_",
    type=click.Choice(["json", "csv"]),
    default="json",
    show_default=True,
    help="Newline-delimited JSON or CSV with a header.",
)
@click.option(
    "--fields",
    help="Comma-separated fields, each maybe renamed: user_id=Id,email,user_metadata.plan=Plan.",
)
@click.option("--limit", type=int, help="Export at most this many users (oldest first).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    default="-",
    help="The file to write (gzip when it ends in .gz); - or none for stdout.",
)
@click.option(
    "--include-password-hashes",
    is_flag=True,
    help="Add each password hash in the form import-users takes back (json only).",
)
@click.pass_context
def export_users(
    ctx: click.Context,
    /,
    *,
    connection: str | None,
    format_: Literal["json", "csv"],
    fields: str | None,
    limit: int | None,
    output: str,
    include_password_hashes: bool,
) -> None:
    """Export users like Auth0's users-exports job, from one consistent snapshot."""
    target = sys.stdout.buffer if output == "-" else output
    progress = _Progress("Exporting users")
    try:
        written = _call(
            ctx,
            lambda store: store.export_users(
                target,
                connection=connection,
                format=format_,
                fields=_fields(fields),
                limit=limit,
                include_password_hashes=include_password_hashes,
                progress=progress,
            ),
        )
    finally:
        progress.close()
    where = "stdout" if output == "-" else output
    click.echo(f"Exported {written:,} users to {where}.", err=True)


# -- connections and events ----------------------------------------------------------------------


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
    connection = _call(
        ctx, lambda store: store.create_connection(name, strategy=strategy, options=options)
    )
    _print(connection.to_dict())


@cli.command("list-connections")
@click.pass_context
def list_connections(ctx: click.Context) -> None:
    """Print every connection as a JSON array."""
    _print([c.to_dict() for c in _call(ctx, lambda store: store.list_connections())])


@cli.command("events")
@click.option("--type", "type_", help="Only events of this Auth0 log type (s, f, ss, sapi, ...).")
@click.option("--user-id", help="Only events of this user.")
@click.option("--limit", type=click.IntRange(min=0), help="The last N events.  [default: 100]")
@click.pass_context
def events(
    ctx: click.Context, /, *, type_: str | None, user_id: str | None, limit: int | None
) -> None:
    """Print the event log, oldest first, as a JSON array."""
    query = {"type": type_, "user_id": user_id, "limit": limit}
    given: dict[str, Any] = {k: v for k, v in query.items() if v is not None}
    _print([e.to_dict() for e in _call(ctx, lambda store: store.list_events(**given))])


# -- the Management API over HTTP ----------------------------------------------------------------


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8089,
    show_default=True,
    help="The port (0: any free one).",
)
@click.option("--tls", is_flag=True, help="Serve HTTPS; the ready line names the CA to trust.")
@click.option("--domain", help="The tenant domain in tokens and links.  [default: HOST:PORT]")
@click.option(
    "--client-id", help="Make this client exist, with every scope (with --client-secret)."
)
@click.option(
    "--client-secret",
    envvar="IDENTITYSTORE_CLIENT_SECRET",
    help="Its secret (also $IDENTITYSTORE_CLIENT_SECRET, kept out of the process list).",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(min=1),
    help="Requests per client per second before a 429 (default: no limit).",
)
@click.pass_context
def serve(
    ctx: click.Context,
    /,
    *,
    host: str,
    port: int,
    tls: bool,
    domain: str | None,
    client_id: str | None,
    client_secret: str | None,
    rate_limit: int | None,
) -> None:
    """Serve Auth0's Management API on the database (needs identitystore[emulator]).

    Once it accepts connections, prints one JSON line on stdout: url, domain, ca_file, client_id
    and client_secret. Logs go to stderr. SIGINT or SIGTERM stop it after the requests in flight
    (exit 0). Clients, grants and signing keys are kept in the database.
    """
    if (client_id is None) != (client_secret is None):
        raise click.UsageError("give --client-id and --client-secret together")
    try:
        from .emulator import Emulator, OffsetClock
    except ImportError as exc:
        raise click.UsageError(
            f"serve needs the emulator extra: pip install 'identitystore[emulator]' ({exc})"
        ) from exc
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stopping: list[int] = []  # a signal handler only appends: nothing it does can block
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, _: stopping.append(signum))
    try:
        store = IdentityStore(ctx.obj, clock=OffsetClock())
    except IdentityStoreError as exc:
        _fail(exc)
    except ImportError as exc:  # a postgresql:// URL without the postgres extra
        raise click.UsageError(str(exc)) from exc
    with store:
        try:
            emulator = Emulator(
                store,
                host,
                port,
                tls,
                domain=domain,
                client_id=client_id,
                client_secret=client_secret,
                rate_limit=rate_limit,
            )
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        store.tenant_domain = emulator.domain  # links in tickets and emails name the emulator
        with emulator:
            ready = {
                "url": emulator.url,
                "domain": emulator.domain,
                "ca_file": emulator.ca_file,
                "client_id": emulator.client_id,
                "client_secret": emulator.client_secret,
            }
            click.echo(json.dumps(ready))
            sys.stdout.flush()
            while not stopping:
                time.sleep(0.1)
            logging.getLogger("identitystore.emulator").info("stopping: finishing requests")


def main(argv: list[str] | None = None) -> None:
    """Run the command line (the ``identitystore`` console script)."""
    cli.main(args=argv, prog_name="identitystore")


if __name__ == "__main__":  # pragma: no cover
    main()
