"""The built-in backends pass the conformance suite shipped in ``identitystore.testing``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from identitystore.storage import Backend, open_backend
from identitystore.testing.backend_suite import BackendSuite


class TestMemory(BackendSuite):
    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        backend = open_backend(":memory:")
        yield backend
        backend.close()


class TestSQLiteFile(BackendSuite):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[Backend]:
        backend = open_backend(tmp_path / "users.db")
        yield backend
        backend.close()


class TestPostgres(BackendSuite):
    @pytest.fixture
    def backend(self, pg_url: str) -> Iterator[Backend]:
        backend = open_backend(pg_url)
        yield backend
        backend.close()
