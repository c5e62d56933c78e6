"""The documentation cannot drift: generated parts, coverage, links and examples are checked."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
from cogapp import Cog  # type: ignore[import-untyped]

import identitystore
from identitystore import IdentityStore, errors
from identitystore.cli import cli
from identitystore.testing.helpers import ManualClock, Outbox

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: Pages with cog-generated parts.
GENERATED = ("errors.md", "cli.md", "connections.md", "testing.md", "architecture.md")
PAGES = sorted([ROOT / "README.md", *DOCS.glob("*.md")])


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("page", GENERATED)
def test_generated_parts_are_current(page: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = Cog().main(["cog", "--check", str(DOCS / page)])
    output = capsys.readouterr()
    assert status == 0, f"run: cog -r docs/{page}\n{output.out}{output.err}"


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_is_documented(name: str) -> None:
    assert f"`{name}`" in _read(DOCS / "errors.md")


def test_the_module_map_names_every_module() -> None:
    """docs/architecture.md's map has a row per module (cog writes it from the architecture
    test's rules; ``test_generated_parts_are_current`` keeps the rules and the rows equal)."""
    package = Path(identitystore.__file__).parent
    modules = {
        ".".join(path.relative_to(package).with_suffix("").parts)
        .removesuffix("__init__")
        .rstrip(".")
        for path in package.rglob("*.py")
    }
    rows = set(re.findall(r"^\| `([\w.]+)` \|", _read(DOCS / "architecture.md"), re.M))
    missing = {name or "identitystore" for name in modules} - rows
    assert len(modules) > 40
    assert not missing, f"run: cog -r docs/architecture.md ({sorted(missing)})"


def test_every_cli_command_is_documented() -> None:
    page = _read(DOCS / "cli.md")
    commands = cli.list_commands(click.Context(cli, info_name="identitystore"))
    assert commands
    missing = [name for name in commands if f"### `{name}`" not in page]
    assert not missing, f"describe these commands in docs/cli.md: {missing}"


# -- links ----------------------------------------------------------------------------------------

_FENCE = re.compile(r"^(`{3,}|~{3,}).*?^\1\s*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+).+?\1", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _prose(text: str) -> str:
    """``text`` without code blocks, code spans and HTML comments (where links are not links)."""
    for pattern in (_FENCE, _COMMENT, _CODE_SPAN):
        text = pattern.sub("", text)
    return text


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown file."""
    found: set[str] = set()
    for line in _FENCE.sub("", _read(path)).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        title = unicodedata.normalize("NFC", match.group(1)).lower()
        slug = "".join(c for c in title if c.isalnum() or c in " -_").replace(" ", "-")
        anchor, n = slug, 0
        while anchor in found:
            n += 1
            anchor = f"{slug}-{n}"
        found.add(anchor)
    return found


def _links() -> list[tuple[Path, str]]:
    return [(page, target) for page in PAGES for target in _LINK.findall(_prose(_read(page)))]


@pytest.mark.parametrize(
    ("page", "target"),
    [
        pytest.param(page, target, id=f"{page.relative_to(ROOT)}->{target}")
        for page, target in _links()
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:
    ],
)
def test_relative_links_resolve(page: Path, target: str) -> None:
    path_part, _, fragment = target.partition("#")
    resolved = (page.parent / path_part).resolve() if path_part else page
    assert resolved.exists(), f"{page.name}: {target} points to a missing file"
    if fragment and resolved.suffix == ".md":
        assert fragment in _anchors(resolved), f"{page.name}: no heading #{fragment} in {target}"


# -- examples -------------------------------------------------------------------------------------


class _FencedDoctests(doctest.DocTestParser):
    """Doctests inside ```pycon fences only; every other line is blanked (line numbers hold)."""

    def parse(self, string: str, name: str = "<string>") -> list[str | doctest.Example]:
        lines, inside = [], False
        for line in string.splitlines():
            fence = line.strip().startswith("```")
            if fence:
                inside = not inside and line.strip() == "```pycon"
            lines.append(line if inside and not fence else "")
        return super().parse("\n".join(lines) + "\n", name)


@pytest.mark.parametrize(
    "page", ["python-api.md", "lifecycle.md", "strategies.md", "testing.md", "import-export.md"]
)
def test_examples(page: str) -> None:
    result = doctest.testfile(
        str(DOCS / page),
        module_relative=False,
        parser=_FencedDoctests(),
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        raise_on_error=False,
        verbose=False,
    )
    assert result.attempted > 0
    assert result.failed == 0, f"docs/{page} examples failed (output above)"


def test_the_backend_example_in_storage_md_is_the_tested_file() -> None:
    page = (DOCS / "storage.md").read_text(encoding="utf-8")
    code = (DOCS / "examples" / "audited_backend.py").read_text(encoding="utf-8")
    assert f"```python\n{code}```" in page


# -- the package's docstring examples -------------------------------------------------------------


def _docstring_examples() -> dict[str, doctest.DocTest]:
    """Every docstring example of the package, by the qualified name of what holds it.

    Each module gives the examples of what it defines; a class that reports the package as its
    module (``identitystore.IdentityStore``) is searched there, methods included. ``__main__`` is
    left out: importing it runs the CLI.
    """
    finder = doctest.DocTestFinder(exclude_empty=True)
    found: dict[str, doctest.DocTest] = {}
    names = ["identitystore"] + [
        info.name
        for info in pkgutil.walk_packages(identitystore.__path__, "identitystore.")
        if info.name != "identitystore.__main__"
    ]
    for name in names:
        module = importlib.import_module(name)
        tests = finder.find(module)
        for attr, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == name:  # with all its methods
                tests += finder.find(value, f"{name}.{attr}", module=False, globs=vars(module))
        found |= {test.name: test for test in tests if test.examples}
    return found


DOCSTRING_EXAMPLES = _docstring_examples()


def test_the_package_has_docstring_examples() -> None:
    assert {"identitystore.IdentityStore", "identitystore.passwords"} <= set(DOCSTRING_EXAMPLES)


@pytest.mark.parametrize("name", sorted(DOCSTRING_EXAMPLES))
def test_docstring_examples(name: str) -> None:
    test = DOCSTRING_EXAMPLES[name]
    test.globs = dict(test.globs)  # a fresh namespace per run
    output: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    result = runner.run(test, out=output.append, clear_globs=True)
    assert result.failed == 0, "".join(output)


# -- the README's Python ---------------------------------------------------------------------------

README_BLOCKS = re.findall(r"^```python\n(.*?)^```", _read(ROOT / "README.md"), re.M | re.S)


def test_readme_python_blocks_run_in_order(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    identity_store: IdentityStore,
    identity_outbox: Outbox,
    identity_clock: ManualClock,
) -> None:
    """The blocks run one after the other in one namespace, in a fresh directory (the store file
    is ``users.db`` there); a block that defines a test is called with the plugin's fixtures."""
    assert len(README_BLOCKS) >= 3
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "readme"}
    for block in README_BLOCKS:
        before = set(namespace)
        exec(compile(block, "README.md", "exec"), namespace)
        for name in sorted(set(namespace) - before):
            if name.startswith("test_"):
                test: Callable[..., None] = namespace[name]
                test(identity_store, identity_outbox, identity_clock)
    printed = capsys.readouterr().out
    assert "'statusCode': 409" in printed  # the duplicate the first block provokes
    assert "user_metadata" in namespace["page"].users[0].to_dict()


# -- no pointers outside the repository -----------------------------------------------------------

#: Names of reference texts that are not in the repository (the sources are named as Auth0's own
#: pages; what the code relies on is in docs/auth0-reference-*.md).
_OUTSIDE = re.compile(
    "|".join(
        re.escape(name)
        for name in ("CREATE" + "-USER.md", "HTTP" + "-API.md", "BULK" + "-IMPORT-EXPORT.md")
    )
    + "|/work/"
    + "shared|\u00a7"  # the section sign those texts were cited with
)


@pytest.mark.parametrize("folder", ["identitystore", "tests", "docs", "benchmarks"])
def test_no_pointers_to_texts_outside_the_repository(folder: str) -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / folder).rglob("*"))
        if path.suffix in {".py", ".md", ".txt", ".toml"} and ".venv" not in path.parts
        for number, line in enumerate(_read(path).splitlines(), 1)
        if _OUTSIDE.search(line)
    ]
    if folder == "docs":
        found += [f"README.md: {m.group()}" for m in _OUTSIDE.finditer(_read(ROOT / "README.md"))]
    assert not found, "cite docs/ instead:\n" + "\n".join(found)
