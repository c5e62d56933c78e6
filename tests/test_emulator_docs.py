"""docs/emulator.md's recipes run as written, and the example app in docs/examples/auth0_app
passes its tests against the emulator."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser_support import chromium
from tests.emulator_support import node_modules

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "emulator.md"
EXAMPLE = ROOT / "docs" / "examples" / "auth0_app"
WEBAPP = ROOT / "docs" / "examples" / "webapp"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.M | re.S)


def _blocks(language: str) -> list[str]:
    return [
        code for lang, code in _BLOCK.findall(PAGE.read_text(encoding="utf-8")) if lang == language
    ]


def _env(**extra: str) -> dict[str, str]:
    """The environment with this interpreter's scripts (``identitystore``) first on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, **extra}


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        args, cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_the_example_app_passes() -> None:
    done = _run([sys.executable, "-m", "pytest", str(EXAMPLE.relative_to(ROOT)), "-q"], ROOT)
    assert " passed" in done.stdout
    assert "failed" not in done.stdout


@pytest.mark.slow
def test_the_web_app_example_passes_in_the_browser() -> None:
    chromium()  # skips without a browser, as the example's own tests would, silently
    done = _run([sys.executable, "-m", "pytest", str(WEBAPP.relative_to(ROOT)), "-q", "-rs"], ROOT)
    assert " passed" in done.stdout
    assert "skipped" not in done.stdout
    assert "failed" not in done.stdout
    assert "warning" not in done.stdout


EXCERPT = "# from examples/"  # the first line of a block quoting a file of an example
EXCERPTS = [code for code in _blocks("python") if code.startswith(EXCERPT)]
SCRIPTS = [code for code in _blocks("python") if "Emulator(" in code and code not in EXCERPTS]
TESTS = [code for code in _blocks("python") if "def test_" in code and code not in EXCERPTS]


def test_the_page_has_its_recipes() -> None:
    assert len(SCRIPTS) == 3
    assert len(TESTS) == 2
    assert len(EXCERPTS) == 2
    assert len(_blocks("javascript")) == 2
    assert len(_blocks("sh")) >= 3


@pytest.mark.parametrize("code", EXCERPTS, ids=["browser-fixture", "browser-test"])
def test_the_web_app_excerpts_are_the_tested_code(code: str) -> None:
    source, _, excerpt = code.partition("\n")
    path = PAGE.parent / source.removeprefix("# from ")
    assert excerpt in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("code", SCRIPTS, ids=["tls", "plain-http", "browser-sign-in"])
def test_python_recipes(code: str, tmp_path: Path) -> None:
    script = tmp_path / "recipe.py"
    script.write_text(code, encoding="utf-8")
    _run([sys.executable, str(script)], tmp_path)


@pytest.mark.parametrize("code", TESTS, ids=["management", "sign-in"])
def test_the_fixture_recipes(code: str, tmp_path: Path) -> None:
    (tmp_path / "test_recipe.py").write_text(code, encoding="utf-8")
    done = _run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_recipe.py"], tmp_path
    )
    assert "1 passed" in done.stdout


def _needs(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {', '.join(missing)} missing")
        pytest.skip(f"needs {', '.join(missing)}")


def test_the_curl_recipe(tmp_path: Path) -> None:
    _needs("curl", "jq")
    (curl,) = [code for code in _blocks("sh") if "curl -s" in code and "jobs/" not in code]
    done = _run(["bash", "-euo", "pipefail", "-c", curl], tmp_path)
    assert '"phone_number":"+14155550100"' in done.stdout
    assert done.stdout.count("sms|") >= 2  # created, then found


def test_the_jobs_curl_recipe(tmp_path: Path) -> None:
    _needs("curl", "jq", "gunzip")
    (curl,) = [code for code in _blocks("sh") if "jobs/users-imports" in code]
    done = _run(["bash", "-euo", "pipefail", "-c", curl], tmp_path)
    summary, code, header, line = done.stdout.splitlines()
    assert summary == '{"failed":1,"updated":0,"inserted":1,"total":2}'
    assert code == '"INVALID_FORMAT"'
    assert header == "email,id"
    assert line.startswith('"\'ann@example.com","\'auth0|')


def test_the_node_recipe(tmp_path: Path) -> None:
    _needs("node", "jq")
    modules = node_modules()
    (app,) = [code for code in _blocks("javascript") if "// app.js" in code]
    (tmp_path / "app.js").write_text(app, encoding="utf-8")
    (shell,) = [code for code in _blocks("sh") if "node app.js" in code]
    done = _run(["bash", "-euo", "pipefail", "-c", shell], tmp_path, NODE_PATH=str(modules))
    assert done.stdout.strip().startswith("auth0|")


def test_the_emulator_recipe_of_import_export_md(tmp_path: Path) -> None:
    page = (ROOT / "docs" / "import-export.md").read_text(encoding="utf-8")
    (code,) = [c for lang, c in _BLOCK.findall(page) if lang == "python" and "Emulator(" in c]
    (tmp_path / "users.json").write_text('[{"email": "a@example.com"}, {"email": "nope"}]')
    (tmp_path / "recipe.py").write_text(code, encoding="utf-8")
    done = _run([sys.executable, "recipe.py"], tmp_path)
    assert done.stdout.startswith("failed=1 updated=0 inserted=1 total=2 [")
    assert "INVALID_FORMAT" in done.stdout


def test_the_node_signin_recipe(tmp_path: Path) -> None:
    _needs("node", "jq")
    modules = node_modules()
    if not (modules / "jose").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but jose is not installed beside auth0: .ci/run installs it")
        pytest.skip("no jose package beside auth0 (see .ci/run)")
    (app,) = [code for code in _blocks("javascript") if "// signin.js" in code]
    (tmp_path / "signin.js").write_text(app, encoding="utf-8")
    (shell,) = [code for code in _blocks("sh") if "node signin.js" in code]
    done = _run(["bash", "-euo", "pipefail", "-c", shell], tmp_path, NODE_PATH=str(modules))
    assert done.stdout.strip() == "ada@example.com"
