"""The example project under docs/examples runs green, serially and with pytest-xdist."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "signup_service"


@pytest.mark.parametrize(
    "extra", [pytest.param([], id="serial"), pytest.param(["-n", "2"], id="xdist")]
)
def test_the_example_project_passes(extra: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(EXAMPLE.relative_to(ROOT)), "-q", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout
    assert "failed" not in result.stdout
