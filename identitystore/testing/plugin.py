"""identitystore's pytest plugin: a fake Auth0 user store per test (loaded through ``pytest11``).

Fixtures: ``identity_store``, ``identity_store_factory``, ``identity_outbox``,
``identity_clock``, and ``identity_emulator`` (needs ``identitystore[emulator]``). Options: the
``identitystore_lenient`` ini setting and the ``@pytest.mark.identitystore(lenient=[...])``
marker. Tests that use no fixture are untouched:
this module imports only pytest; identitystore is imported when a fixture is first used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from identitystore import IdentityStore
    from identitystore.emulator import Emulator

    from .helpers import ManualClock, Outbox, Snapshot

__all__ = [
    "identity_clock",
    "identity_emulator",
    "identity_outbox",
    "identity_store",
    "identity_store_factory",
]

_INI = "identitystore_lenient"
_MARKER = "identitystore"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _INI,
        type="args",
        default=[],
        help="Auth0 rules the identitystore fixtures relax in every test "
        "(names: identitystore.IdentityStore.LENIENT_RULES)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(lenient=[...]): Auth0 rules the identitystore fixtures relax in this test",
    )
    _check_rules(config.getini(_INI), f"the {_INI} setting")


def _check_rules(rules: Iterable[str], where: str) -> frozenset[str]:
    rules = frozenset(rules)
    if not rules:
        return rules
    from identitystore import IdentityStore

    unknown = sorted(rules - IdentityStore.LENIENT_RULES.keys())
    if unknown:
        raise pytest.UsageError(
            f"identitystore: unknown rule(s) {', '.join(unknown)} in {where}; "
            f"the rules are {', '.join(sorted(IdentityStore.LENIENT_RULES))}"
        )
    return rules


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    """Name every rule relaxed for all tests; nothing when the fixtures are strict."""
    rules = sorted(config.getini(_INI))
    if not rules:
        return None
    return [f"identitystore: lenient (not Auth0's behaviour) for {', '.join(rules)}"]


def pytest_report_collectionfinish(
    config: pytest.Config, items: list[pytest.Item]
) -> list[str] | None:
    """Name the rules that markers relax, with how many tests relax each."""
    counts: dict[str, int] = {}
    for item in items:
        for rule in _marker_rules(item):
            counts[rule] = counts.get(rule, 0) + 1
    if not counts:
        return None
    listed = ", ".join(f"{rule} ({n} tests)" for rule, n in sorted(counts.items()))
    return [f"identitystore: lenient by marker for {listed}"]


def _marker_rules(item: pytest.Item) -> frozenset[str]:
    rules: set[str] = set()
    for marker in item.iter_markers(_MARKER):
        unknown_args = set(marker.kwargs) - {"lenient"}
        if marker.args or unknown_args:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.{_MARKER} takes only lenient=[...]"
            )
        lenient = marker.kwargs.get("lenient", ())
        if isinstance(lenient, str):
            raise pytest.UsageError(f"{item.nodeid}: lenient must be a list of rule names")
        rules |= _check_rules(lenient, item.nodeid)
    return frozenset(rules)


@pytest.fixture
def identity_clock() -> ManualClock:
    """The clock of the test's stores: ``advance(seconds=...)`` or ``set(...)`` to move it."""
    from .helpers import ManualClock

    return ManualClock()


@pytest.fixture
def identity_outbox() -> Outbox:
    """Messages the test's stores sent: ``last_code(to=...)``, ``verification_link(to=...)``."""
    from .helpers import Outbox

    return Outbox()


@pytest.fixture
def identity_store_factory(
    request: pytest.FixtureRequest, identity_clock: ManualClock, identity_outbox: Outbox
) -> Iterator[Callable[..., IdentityStore]]:
    """Make stores sharing the test's clock and outbox; every one is closed after the test.

    ``factory(database=":memory:", *, connections=(), snapshot=None, lenient=None, **options)``:
    ``database`` is a path, ``":memory:"`` or a backend; ``connections`` are extra connections
    in Auth0's shape (``{"name", "strategy", "options"}``); ``snapshot`` restores a
    ``Snapshot`` instead of opening ``database``; ``lenient`` defaults to the ini setting plus
    the test's marker; ``options`` go to ``IdentityStore`` (the hasher defaults to
    ``PasswordHasher.fast_for_tests()``).
    """
    from identitystore import IdentityStore, PasswordHasher

    default_lenient = frozenset(request.config.getini(_INI)) | _marker_rules(request.node)
    made: list[IdentityStore] = []

    def factory(
        database: Any = ":memory:",
        *,
        connections: Iterable[Mapping[str, Any]] = (),
        snapshot: Snapshot | None = None,
        lenient: Iterable[str] | None = None,
        **options: Any,
    ) -> IdentityStore:
        options.setdefault("hasher", PasswordHasher.fast_for_tests())
        options.setdefault("clock", identity_clock)
        options.setdefault("notifier", identity_outbox.notifier)
        options["lenient"] = default_lenient if lenient is None else lenient
        if snapshot is not None:
            store = snapshot.restore(**options)
        else:
            store = IdentityStore(database, **options)
        made.append(store)
        for connection in connections:
            store.create_connection(
                connection["name"],
                strategy=connection["strategy"],
                options=connection.get("options"),
            )
        return store

    yield factory
    for store in reversed(made):
        store.close()


@pytest.fixture
def identity_store(identity_store_factory: Callable[..., IdentityStore]) -> IdentityStore:
    """A fresh in-memory store with the default connections and fast (real) password hashing."""
    return identity_store_factory()


@pytest.fixture
def identity_emulator(identity_store: IdentityStore) -> Iterator[Emulator]:
    """Auth0's Management API over plain HTTP on 127.0.0.1, started, backed by
    ``identity_store`` (its clock and outbox too); stopped after the test.

    Point an SDK at ``emulator.domain`` with ``emulator.client_id`` and
    ``emulator.client_secret`` (docs/emulator.md).
    """
    from identitystore.emulator import Emulator

    with Emulator(identity_store) as emulator:
        yield emulator
