"""The benchmark scripts are not run by the suite; this only checks that one starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_bench_backends_help() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_backends.py"), "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "--postgres-url" in result.stdout
