"""The two schemas side by side (docs/storage.md): the tables there are what a new SQLite file and
a new PostgreSQL schema hold, column by column, in order, with their types and NOT NULLs."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from identitystore.storage import open_backend

PAGE = Path(__file__).parents[1] / "docs" / "storage.md"
#: Tables of one backend only that are no part of the schema the page compares.
INTERNAL = {"sqlite_sequence", "_sqlite_migrations", "identitystore_schema"}


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _names(cell: str) -> list[str]:
    """The backticked names of a cell before its first ``(`` remark."""
    return re.findall(r"`([^`]+)`", cell.split("(")[0])


def _documented() -> tuple[dict[str, dict[str, list[str]]], dict[str, tuple[str, str]]]:
    """{table: {"both", "sqlite", "postgres": columns}} and {table.column: (SQLite, PostgreSQL)}."""
    text = PAGE.read_text(encoding="utf-8")
    section = text.split("**The two schemas side by side.**")[1].split("**What was tested.**")[0]
    tables: dict[str, dict[str, list[str]]] = {}
    types: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = _cells(line)
        if len(cells) == 3:
            for column in _names(cells[0]):
                types[column] = (cells[1], cells[2])
        elif cells[0].startswith("`") and len(cells) == 4:
            (table,) = _names(cells[0])
            tables[table] = {
                "both": _names(cells[1]),
                "sqlite": _names(cells[2]),
                "postgres": _names(cells[3]),
            }
    return tables, types


def _expected_type(table: str, column: str, engine: str, declared: str) -> None:
    """Hold ``declared`` (SQLite's declared type, PostgreSQL's data type and collation) to the
    page: the types table, else text as ``TEXT`` / ``TEXT COLLATE "C"``, integers ``INTEGER``."""
    _, types = _documented()
    documented = types.get(f"{table}.{column}")
    if documented is not None:
        words = documented[0 if engine == "sqlite" else 1].replace("`", "").upper()
        assert declared.split()[0].upper() in words, (table, column, declared, words)
    elif engine == "sqlite":
        assert declared in ("TEXT", "INTEGER"), (table, column, declared)
    else:
        assert declared in ("text C", "integer None"), (table, column, declared)


def test_the_page_lists_every_table() -> None:
    tables, types = _documented()
    assert len(tables) == 10
    assert len(types) == 10
    assert all(table in tables for table, _ in (t.split(".") for t in types))


def _check(engine: str, live: dict[str, list[tuple[str, str, bool]]]) -> None:
    tables, _ = _documented()
    schema_tables = {t for t in live if t not in INTERNAL}
    assert schema_tables == {t for t, c in tables.items() if c["both"] or c[engine]}
    for table in schema_tables:
        columns = [name for name, _, _ in live[table]]
        assert columns == tables[table]["both"] + tables[table][engine], table
        for name, declared, _ in live[table]:
            _expected_type(table, name, engine, declared)


def _sqlite_schema(path: Path) -> dict[str, list[tuple[str, str, bool]]]:
    open_backend(path).close()
    with sqlite3.connect(path) as conn:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            t: [(r[1], r[2], bool(r[3] or r[5])) for r in conn.execute(f"PRAGMA table_info({t})")]
            for t in names
        }


def _postgres_schema(url: str) -> dict[str, list[tuple[str, str, bool]]]:
    psycopg = pytest.importorskip("psycopg")
    open_backend(url).close()
    live: dict[str, list[tuple[str, str, bool]]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for table, column, kind, collation, nullable in conn.execute(
            "SELECT table_name, column_name, data_type, collation_name, is_nullable "
            "FROM information_schema.columns WHERE table_schema = current_schema() "
            "ORDER BY table_name, ordinal_position"
        ):
            live.setdefault(table, []).append((column, f"{kind} {collation}", nullable == "NO"))
    return live


def test_a_new_sqlite_file_holds_the_documented_schema(tmp_path: Path) -> None:
    _check("sqlite", _sqlite_schema(tmp_path / "u.db"))


def test_a_new_postgresql_schema_holds_the_documented_schema(pg_url: str) -> None:
    _check("postgres", _postgres_schema(pg_url))


def test_both_hold_the_same_not_nulls(tmp_path: Path, pg_url: str) -> None:
    sqlite, postgres = _sqlite_schema(tmp_path / "u.db"), _postgres_schema(pg_url)
    for table in set(sqlite) & set(postgres):
        lite = {name: required for name, _, required in sqlite[table]}
        for name, _, required in postgres[table]:
            if name in lite:  # (a primary key is required on both)
                assert lite[name] == required, (table, name)
