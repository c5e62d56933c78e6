"""The import rules between identitystore's layers, checked by walking each module's AST.

Every ``import`` counts, wherever it sits: at module top, inside a function, under
``TYPE_CHECKING``. Lower layers never import higher ones; the surfaces (``cli.py``) see only the
public package. A new module fails here until it gets a rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import identitystore

PACKAGE = Path(identitystore.__file__).parent
#: The private modules of identitystore.strategies, in the order of its sections.
STRATEGIES_PARTS = ["_oracles", "_text", "_contacts", "_fields", "_passwords", "_bodies"]
STRATEGIES_PARTS += ["_schema", "_violations", "_users"]


def _toolkit_package(
    package: str, parts: list[str], public: frozenset[str]
) -> dict[str, frozenset[str]]:
    """Rules for a toolkit package: the package re-exports its parts; each part may import the
    public modules and the parts listed before it (so they cannot import in a circle)."""
    names = [f"{package}.{part}" for part in parts]
    rules = {name: public | frozenset(names[:i]) for i, name in enumerate(names)}
    return {package: public | frozenset(names), **rules}


#: module -> the identitystore modules it may import (relative dotted names, "" = the package).
ALLOWED: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "limits": frozenset({"errors"}),
    "_formats": frozenset(),
    "_models": frozenset({"errors", "limits"}),
    "passwords": frozenset({"errors", "limits"}),
    "hashing": frozenset({"errors", "_imported_hashes"}),
    # Other systems' password hashes: checked with the schema helpers, verified for hashing.
    "_imported_hashes": frozenset({"_jsonschema"}),
    "notify": frozenset({"_models"}),
    "connections": frozenset({"errors", "limits"}),
    "_jsonschema": frozenset({"_formats", "errors"}),
    "_validation": frozenset(
        {"connections", "limits", "errors", "_models", "_formats", "_jsonschema"}
    ),
    "_query": frozenset({"_models", "errors", "storage"}),
    # The store's rules, each next to its kind: PATCH, one-time codes, tickets.
    "_patch": frozenset({"_models", "errors", "passwords"}),
    "_passwordless": frozenset({"limits"}),
    "_tickets": frozenset({"_jsonschema", "errors", "limits"}),
    # Bulk import and export: the users file's rules over the validation and hash layers; the
    # storage protocol only (rows are the backends').
    "_import": frozenset(
        {
            "_imported_hashes",
            "_jsonschema",
            "_models",
            "_validation",
            "connections",
            "errors",
            "storage",
        }
    ),
    "_export": frozenset({"_imported_hashes", "_jsonschema", "_models", "errors", "storage"}),
    "storage": frozenset(
        {"_models", "errors", "storage._sqlite", "storage._schema", "storage._postgres"}
    ),
    "storage._schema": frozenset({"_models", "errors", "storage", "storage._rows"}),
    "storage._rows": frozenset({"_models", "storage"}),
    # The SQL both backends share, written once.
    "storage._sql": frozenset({"_models", "storage", "storage._rows"}),
    "storage._sqlite": frozenset(
        {"_models", "errors", "storage", "storage._schema", "storage._rows", "storage._sql"}
    ),
    "storage._postgres": frozenset(
        {"_models", "errors", "storage", "storage._rows", "storage._sql"}
    ),
    # The asyncio face of the store: the store and the types its methods take and return.
    "_async": frozenset(
        {"_models", "_store", "connections", "limits", "notify", "passwords", "_import", "_export"}
    ),
    # The CLI: the public package, identitystore.errors and the emulator (for `serve`).
    "cli": frozenset({"", "errors", "emulator"}),
    # `python -m identitystore` runs the CLI: the one module allowed to import it.
    "__main__": frozenset({"cli"}),
    "testing": frozenset(),
    # Test toolkit surfaces: the public package and its public modules only (and, for the
    # strategies package, its own private modules, each only those of the sections before it).
    **_toolkit_package(
        "strategies", STRATEGIES_PARTS, frozenset({"", "errors", "limits", "passwords"})
    ),
    "testing.stateful": frozenset({"", "errors", "testing.helpers"}),
    "testing.backend_suite": frozenset({"", "errors", "_models", "storage"}),
    # Test helpers: the public package, its errors and the storage protocol.
    "testing.helpers": frozenset({"", "errors", "storage"}),
    # The pytest plugin: the public package and the helpers, imported inside fixtures.
    "testing.plugin": frozenset({"", "testing.helpers", "emulator"}),
}
#: May import every layer except the CLI.
EVERYTHING_BUT_CLI = {"_store", ""}

#: Third-party packages and the only modules that may import them.
THIRD_PARTY: dict[str, frozenset[str]] = {
    "passlib": frozenset({"hashing", "_imported_hashes"}),
    "argon2": frozenset({"hashing", "_imported_hashes"}),
    # MD4 and Whirlpool, which OpenSSL 3 turned off (extra `legacy-hashes`).
    "Crypto": frozenset({"_imported_hashes"}),
    "whirlpool": frozenset({"_imported_hashes"}),
    "bcrypt": frozenset(),  # reached through libpass only
    "phonenumbers": frozenset({"_validation", "strategies._contacts"}),
    "sqlite_utils": frozenset({"storage._schema"}),
    "click": frozenset({"cli"}),
    "hypothesis": frozenset(
        {"strategies", "testing.stateful", "testing.backend_suite"}
        | {f"strategies.{part}" for part in STRATEGIES_PARTS}
    ),
    "pytest": frozenset({"testing.backend_suite", "testing.plugin"}),
    "psycopg": frozenset({"storage._postgres"}),
    "psycopg_pool": frozenset({"storage._postgres"}),
    # the web stack: the emulator only (the `emulator` extra)
    "starlette": frozenset(
        {
            f"emulator.{m}"
            for m in (
                "_app",
                "_http",
                "_management",
                "_oauth",
                "_controls",
                "_routes",
                "_authentication",
                "_signin",
                "_apis",
                "_jobs",
                "_authorize",
                "_pages",
                "_html",
            )
        }
    ),
    "uvicorn": frozenset({"emulator._server"}),
    "jwt": frozenset({"emulator._tokens"}),
    # the login pages' templates (autoescaped)
    "jinja2": frozenset({"emulator._html"}),
    "cryptography": frozenset({"emulator._tokens", "emulator._tls"}),
}
#: Modules whose imports of identitystore must sit inside functions (or under TYPE_CHECKING).
LAZY_IDENTITYSTORE = frozenset({"testing.plugin"})
#: Modules that may import the emulator only inside a function: the CLI works without the extra.
LAZY_EMULATOR = frozenset({"cli", "testing.plugin"})
#: Third-party packages that must be imported inside a function (or under TYPE_CHECKING).
LAZY = frozenset(
    {"passlib", "argon2", "Crypto", "whirlpool", "phonenumbers", "psycopg", "psycopg_pool"}
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(path: Path) -> list[str]:
    """The package a module's relative imports start from, as parts below identitystore."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return parts[:-1]


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}

#: The HTTP emulator: the public package and public modules, plus its own private modules.
EMULATOR_MODULES = sorted(
    name for name in MODULES if name == "emulator" or name.startswith("emulator.")
)
ALLOWED.update(
    {
        name: frozenset({"", "errors", "storage", "testing.helpers", *EMULATOR_MODULES})
        for name in EMULATOR_MODULES
    }
)


def _imports(path: Path) -> list[tuple[str, str | None, int, bool]]:
    """(absolute module, imported name or None, line, at module top) for every import."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    top_level = {id(node) for node in tree.body}  # not inside a function or `if TYPE_CHECKING:`
    found: list[tuple[str, str | None, int, bool]] = []
    for node in ast.walk(tree):
        at_top = id(node) in top_level
        if isinstance(node, ast.Import):
            found.extend((alias.name, None, node.lineno, at_top) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["identitystore", *_package_of(path)]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.extend((module, alias.name, node.lineno, at_top) for alias in node.names)
    return found


def _targets(module: str, name: str | None) -> set[str]:
    """The identitystore modules an import reaches, relative to the package ("" = package)."""
    if module != "identitystore" and not module.startswith("identitystore."):
        return set()
    relative = module.removeprefix("identitystore").removeprefix(".")
    if name is not None:
        submodule = f"{relative}.{name}" if relative else name
        if submodule in MODULES:  # `from . import limits`
            return {submodule}
    return {relative}


def test_every_module_has_a_rule() -> None:
    unruled = set(MODULES) - set(ALLOWED) - EVERYTHING_BUT_CLI
    assert not unruled, f"give these modules an import rule in ALLOWED: {sorted(unruled)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_layer_imports(module: str) -> None:
    bad = []
    for imported, name, line, _ in _imports(MODULES[module]):
        for target in _targets(imported, name):
            if target == "cli" and module != "__main__":
                bad.append(f"line {line}: imports cli")
            elif module in EVERYTHING_BUT_CLI or target == module:
                continue
            elif target not in ALLOWED[module]:
                bad.append(f"line {line}: imports {target or 'identitystore'}")
    assert not bad, f"identitystore.{module} breaks its import rule: {bad}"


def test_cli_uses_public_names_only() -> None:
    bad = [
        f"line {line}: {name}"
        for imported, name, line, _ in _imports(MODULES["cli"])
        if imported == "identitystore" and name not in identitystore.__all__
    ]
    assert not bad, f"cli.py imports non-public names from identitystore: {bad}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_third_party_imports(module: str) -> None:
    bad = []
    for imported, _, line, at_top in _imports(MODULES[module]):
        root = imported.split(".")[0]
        if root in THIRD_PARTY and module not in THIRD_PARTY[root]:
            bad.append(f"line {line}: {root} is only for {sorted(THIRD_PARTY[root])}")
        if root in LAZY and at_top:
            bad.append(f"line {line}: {root} must be imported where it is first needed")
    assert not bad, f"identitystore.{module}: {bad}"


@pytest.mark.parametrize("module", sorted(LAZY_IDENTITYSTORE))
def test_lazy_identitystore_imports(module: str) -> None:
    """The pytest plugin loads into every pytest run: its own imports wait for a fixture."""
    bad = [
        f"line {line}: {imported}"
        for imported, _, line, at_top in _imports(MODULES[module])
        if at_top and (imported == "identitystore" or imported.startswith("identitystore."))
    ]
    assert not bad, f"identitystore.{module} imports identitystore at module top: {bad}"


@pytest.mark.parametrize("module", sorted(LAZY_EMULATOR))
def test_lazy_emulator_imports(module: str) -> None:
    """The emulator's web stack is an extra: the CLI loads it only when `serve` runs."""
    bad = [
        f"line {line}: {imported}"
        for imported, _, line, at_top in _imports(MODULES[module])
        if at_top and "emulator" in {t.split(".")[0] for t in _targets(imported, None)}
    ]
    assert not bad, f"identitystore.{module} imports the emulator at module top: {bad}"
