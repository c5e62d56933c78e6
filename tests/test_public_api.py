"""The public surface: exactly these names, documented, and cheap to import."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

import identitystore
from identitystore import connections, emulator, errors, hashing, notify, passwords, storage

EXPECTED = {
    "AsyncIdentityStore",
    "Connection",
    "Event",
    "EventsPage",
    "Hasher",
    "IdentityStore",
    "IdentityStoreError",
    "ImportResult",
    "InMemoryNotifier",
    "Message",
    "Notifier",
    "PasswordHasher",
    "PasswordPolicy",
    "Ticket",
    "User",
    "UserBlock",
    "UsersPage",
    "__version__",
    "errors",
}
#: Public modules reached by their own name; their ``__all__`` is public too.
PUBLIC_MODULES = (
    identitystore,
    connections,
    emulator,
    errors,
    hashing,
    notify,
    passwords,
    storage,
)
#: Imported only where first needed, never by ``import identitystore``.
HEAVY = (
    "passlib",
    "bcrypt",
    "phonenumbers",
    "hypothesis",
    "sqlite_utils",
    "click",
    "psycopg",
    "psycopg_pool",
    "starlette",
    "uvicorn",
    "jwt",
    "cryptography",
    "anyio",
    "httpx",
)


#: The test toolkit's public modules: their ``__all__`` is public, everything else is private.
TOOLKIT = (
    "identitystore.strategies",
    "identitystore.testing.backend_suite",
    "identitystore.testing.helpers",
    "identitystore.testing.plugin",
    "identitystore.testing.stateful",
)


def test_all_is_sorted() -> None:
    assert identitystore.__all__ == sorted(identitystore.__all__)


def test_all_is_exactly_the_public_surface() -> None:
    assert set(identitystore.__all__) == EXPECTED
    assert len(identitystore.__all__) == len(EXPECTED)


def test_every_public_name_exists() -> None:
    for module in PUBLIC_MODULES:
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert not missing, f"{module.__name__}.__all__ names missing objects: {missing}"


def test_public_classes_report_the_package_as_their_module() -> None:
    for name in identitystore.__all__:
        obj = getattr(identitystore, name)
        if isinstance(obj, type):
            assert obj.__module__ == "identitystore", name


def _module_level_names(module: types.ModuleType) -> set[str]:
    """The names a module's own code binds at its top level (imports excluded)."""
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found |= {t.id for t in targets if isinstance(t, ast.Name)}
    return found - {"__all__"}


@pytest.mark.parametrize("name", TOOLKIT)
def test_toolkit_names_are_in_all_or_private(name: str) -> None:
    """A public-looking name of a toolkit module is in its ``__all__``; the rest start with ``_``
    (pytest's hooks excepted), and ``__all__`` names only what the module holds."""
    module = importlib.import_module(name)
    public = {n for n in _module_level_names(module) if not n.startswith(("_", "pytest_"))}
    assert public <= set(module.__all__), sorted(public - set(module.__all__))
    assert all(hasattr(module, n) for n in module.__all__)


def test_strategies_package_exports_only_its_all() -> None:
    """``identitystore.strategies`` re-exports its ``__all__`` from private modules only."""
    strategies = importlib.import_module("identitystore.strategies")
    names = {n: v for n, v in vars(strategies).items() if n.isidentifier()}  # not pytest's own
    assert {n for n in names if not n.startswith("_")} == set(strategies.__all__)
    parts = {n for n, v in names.items() if isinstance(v, types.ModuleType)}
    assert parts
    assert all(part.startswith("_") for part in parts)


def _public_objects() -> list[tuple[str, object, type | None]]:
    """Public modules, classes and functions, and the public methods and properties of classes.

    Each comes with the class it belongs to (or None), whose ``Attributes:`` section may document
    a property that has no docstring of its own (Google style).
    """
    found: dict[str, tuple[object, type | None]] = {}
    for module in PUBLIC_MODULES:
        found[module.__name__] = (module, None)
        for name in module.__all__:
            obj = getattr(module, name)
            if not (isinstance(obj, (type, types.ModuleType)) or inspect.isfunction(obj)):
                continue  # constants such as __version__ or COMMON_FIELDS
            qualified = f"{module.__name__}.{name}"
            found[qualified] = (obj, None)
            if not isinstance(obj, type):
                continue
            for attr, member in vars(obj).items():
                callable_member = inspect.isfunction(member) or isinstance(
                    member, (property, classmethod, staticmethod)
                )
                if callable_member and not attr.startswith("_"):
                    found[f"{qualified}.{attr}"] = (member, obj)
    return [(name, obj, owner) for name, (obj, owner) in sorted(found.items())]


def _docstring(obj: object) -> str | None:
    if isinstance(obj, (classmethod, staticmethod)):
        obj = obj.__func__
    if isinstance(obj, property):
        obj = obj.fget
    return inspect.getdoc(obj) if obj is not None else None


@pytest.mark.parametrize(
    ("name", "obj", "owner"), [pytest.param(*item, id=item[0]) for item in _public_objects()]
)
def test_public_objects_have_docstrings(name: str, obj: object, owner: type | None) -> None:
    doc = _docstring(obj)
    if not doc and isinstance(obj, property) and owner is not None:
        attribute = name.rsplit(".", 1)[1]
        attributes = (inspect.getdoc(owner) or "").partition("Attributes:")[2]
        doc = next(
            (ln for ln in attributes.splitlines() if ln.strip().startswith(f"{attribute}:")), None
        )
    assert doc, f"{name} has no docstring"


def _modules_after(code: str) -> list[str]:
    script = (
        "import json, sys\n"
        f"{code}\n"
        f"loaded = {{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}\n"
        "print(json.dumps(sorted(loaded)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return list(json.loads(result.stdout))


def test_import_leaves_heavy_dependencies_unloaded() -> None:
    assert _modules_after("import identitystore") == []


def test_opening_a_store_does_not_load_hashing_or_phone_libraries() -> None:
    loaded = _modules_after("import identitystore\nidentitystore.IdentityStore(':memory:').close()")
    # sqlite_utils (schema migrations) brings click with it; hashing waits for a password.
    assert set(loaded) <= {"sqlite_utils", "click"}
