"""The stateful test: ``identitystore.testing.stateful.IdentityStoreMachine``, run as users run it.

The base machine drives one in-memory store against a plain-dict model (see its docstring). The
subclasses here run it on a real SQLite file and on a PostgreSQL server, which a new rule closes
and reopens between steps; for the file, a new invariant checks that no plaintext password
reaches the raw bytes of the database files (the extension points the docs describe: a store
factory, ``@rule``s, ``@invariant``s).
"""

from __future__ import annotations

import os
import tempfile
import unittest
import uuid
from datetime import timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis.stateful import invariant, precondition, rule

from identitystore import IdentityStore, PasswordHasher
from identitystore.testing.stateful import IdentityStoreMachine, steps

from .conftest import schema_url

FAST = PasswordHasher.fast_for_tests()


class ReopeningMachine(IdentityStoreMachine):
    """The machine with one more rule: close the store and open its database again."""

    @precondition(lambda self: bool(self.model))
    @rule(dt=steps)
    def reopen(self, dt: timedelta) -> None:
        """Everything must still be there after the store was closed and opened again."""
        self.tick(dt)
        self.earlier_messages += self.store.outbox
        self.store.close()
        self.store = self.open_store()


class SQLiteFileMachine(ReopeningMachine):
    """The same machine on a real SQLite file, which may be closed and reopened between steps."""

    def __init__(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.path = Path(self.tmp.name) / "users.db"
        super().__init__()

    def open_store(self) -> IdentityStore:
        return IdentityStore(self.path, hasher=FAST, clock=self.clock)

    def teardown(self) -> None:
        try:
            self.store.close()
            self.assert_no_plaintext_in_files()  # after close: WAL checkpointed into the file
        finally:
            self.tmp.cleanup()

    def assert_no_plaintext_in_files(self) -> None:
        dumps = {p.name: p.read_bytes() for p in Path(self.tmp.name).iterdir() if p.is_file()}
        assert dumps, "no database file written"
        for secret in self.secrets:
            raw = secret.encode("utf-8")
            for name, data in dumps.items():
                assert raw not in data, f"plaintext password {secret!r} found in {name}"

    @invariant()
    def no_plaintext_password_in_files(self) -> None:
        self.assert_no_plaintext_in_files()


POSTGRES_URL = os.environ.get("IDENTITYSTORE_TEST_POSTGRES_URL", "")


class PostgresMachine(ReopeningMachine):
    """The same machine on a real PostgreSQL server: a fresh schema per example; reopened too."""

    def __init__(self) -> None:
        import psycopg

        self.schema = f"machine_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA {self.schema}")
        self.url = schema_url(POSTGRES_URL, self.schema)
        super().__init__()

    def open_store(self) -> IdentityStore:
        return IdentityStore(self.url, hasher=FAST, clock=self.clock)

    def teardown(self) -> None:
        import psycopg

        try:
            self.store.close()
        finally:
            with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
                admin.execute(f"DROP SCHEMA {self.schema} CASCADE")


# Scaled with the loaded profile (conftest: "ci" under CI=true, "dev" otherwise, "thorough").
_SCALE = 10 if settings().max_examples >= 1000 else 1

IdentityStoreMachine.TestCase.settings = settings(
    settings.default, max_examples=150 * _SCALE, stateful_step_count=30
)
SQLiteFileMachine.TestCase.settings = settings(
    settings.default, max_examples=40 * _SCALE, stateful_step_count=25
)
PostgresMachine.TestCase.settings = settings(
    settings.default, max_examples=15 * _SCALE, stateful_step_count=25
)
TestInMemoryStore = IdentityStoreMachine.TestCase
TestSQLiteFileStore = SQLiteFileMachine.TestCase
# Under CI=true it runs, and fails without a server (the conftest's rule for PostgreSQL tests).
TestPostgresStore = unittest.skipUnless(
    POSTGRES_URL or os.environ.get("CI") == "true",
    "no PostgreSQL server: set IDENTITYSTORE_TEST_POSTGRES_URL",
)(PostgresMachine.TestCase)
