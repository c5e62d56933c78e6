"""The pytest plugin, run as users run it: pytest loads it from the ``pytest11`` entry point."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

#: The settings a strict project runs with (as this one does).
STRICT_INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
filterwarnings = error
"""


TESTING_MD = Path(__file__).resolve().parent.parent / "docs" / "testing.md"


def _blocks(language: str) -> list[str]:
    text = TESTING_MD.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.M | re.S)


@pytest.fixture
def strict(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(STRICT_INI)
    return pytester


def test_the_fixtures_work_with_strict_warnings(strict: pytest.Pytester) -> None:
    strict.makepyfile(
        """
        import pytest
        from identitystore import errors

        DB = "Username-Password-Authentication"

        def test_store(identity_store):
            names = [c.name for c in identity_store.list_connections()]
            assert names == [DB, "email", "sms"]
            assert identity_store.hasher.hash(b"x").startswith("$2b$04$")
            assert identity_store.lenient == frozenset()

        def test_fresh_store_per_test(identity_store):
            assert identity_store.list_users(include_totals=True).total == 0
            identity_store.create_user("sms", phone_number="+14155550100")

        def test_fresh_store_again(identity_store):
            assert identity_store.list_users(include_totals=True).total == 0

        def test_code_expires(identity_store, identity_outbox, identity_clock):
            identity_store.start_passwordless("sms", phone_number="+14155550100")
            code = identity_outbox.last_code(to="+14155550100")
            identity_clock.advance(seconds=181)
            with pytest.raises(errors.WrongCodeError):
                identity_store.verify_passwordless(
                    "sms", phone_number="+14155550100", code=code
                )

        OPENED = []

        def test_factory(identity_store_factory, tmp_path):
            store = identity_store_factory(tmp_path / "users.db")
            OPENED.append(store)
            assert store.backend.path.endswith("users.db")

        def test_factory_stores_were_closed():
            with pytest.raises(errors.StorageError, match="closed"):
                OPENED[0].list_connections()
        """
    )
    result = strict.runpytest()
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["plugins: *identitystore-*"])  # loaded from the entry point
    result.stdout.no_fnmatch_line("identitystore: *")  # strict: no relaxed rule to report


def test_lenient_from_ini_and_marker_is_reported(strict: pytest.Pytester) -> None:
    strict.makeini(STRICT_INI + "identitystore_lenient = password_policy email_format\n")
    strict.makepyfile(
        """
        import pytest

        def test_ini(identity_store):
            assert identity_store.lenient == {"password_policy", "email_format"}
            identity_store.create_user(
                "Username-Password-Authentication", email="a@localhost", password="x"
            )

        @pytest.mark.identitystore(lenient=["username_rules"])
        def test_marker(identity_store):
            assert identity_store.lenient == {
                "password_policy", "email_format", "username_rules"
            }

        def test_factory_override(identity_store_factory):
            assert identity_store_factory(lenient=[]).lenient == frozenset()
        """
    )
    result = strict.runpytest()
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "identitystore: lenient (not Auth0's behaviour) for email_format, password_policy",
            "identitystore: lenient by marker for username_rules (1 tests)",
        ]
    )


@pytest.mark.parametrize(
    ("ini", "test", "message"),
    [
        pytest.param(
            "identitystore_lenient = passwords\n",
            "def test_x(): pass",
            "*unknown rule(s) passwords in the identitystore_lenient setting*",
            id="ini",
        ),
        pytest.param(
            "",
            """
            import pytest
            @pytest.mark.identitystore(lenient=["nope"])
            def test_x(identity_store): pass
            """,
            "*unknown rule(s) nope in test_bad_rules.py::test_x*",
            id="marker",
        ),
    ],
)
def test_unknown_rules_stop_the_run(
    strict: pytest.Pytester, ini: str, test: str, message: str
) -> None:
    strict.makeini(STRICT_INI + ini)
    strict.makepyfile(test_bad_rules=textwrap.dedent(test))
    result = strict.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_tests_without_fixtures_are_untouched(strict: pytest.Pytester) -> None:
    strict.makepyfile(
        """
        import sys

        def test_plain():
            loaded = {"passlib", "bcrypt", "phonenumbers"} & set(sys.modules)
            assert not loaded
        """
    )
    result = strict.runpytest_subprocess("-p", "no:hypothesispytest")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("identitystore: *")


def test_given_tests_use_the_factory(strict: pytest.Pytester) -> None:
    strict.makepyfile(
        """
        from hypothesis import HealthCheck, given, settings, strategies as st

        @settings(max_examples=5, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(digits=st.text("0123456789", min_size=6, max_size=12))
        def test_any_number(identity_store_factory, digits):
            store = identity_store_factory()  # a fresh store per example
            store.create_user("sms", phone_number="+1" + digits)
            assert store.list_users(include_totals=True).total == 1
        """
    )
    strict.runpytest().assert_outcomes(passed=1)


def test_parallel_workers_each_get_their_own_stores(strict: pytest.Pytester) -> None:
    strict.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.parametrize("n", range(6))
        def test_same_user_everywhere(identity_store, identity_outbox, n):
            identity_store.create_user(
                "Username-Password-Authentication", email="jane@example.com",
                password="Sup3r-secret",
            )
            assert identity_store.list_users(include_totals=True).total == 1
            assert len(identity_outbox) == 1
            assert os.environ["PYTEST_XDIST_WORKER"] in ("gw0", "gw1")
        """
    )
    result = strict.runpytest_subprocess("-n", "2", "-p", "no:hypothesispytest")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*2 workers*"])


def test_the_examples_in_docs_testing_md_pass(strict: pytest.Pytester) -> None:
    """docs/testing.md: its ``python`` blocks make one test module, its ``json`` block the data."""
    (users,) = _blocks("json")
    strict.path.joinpath("users.json").write_text(users, encoding="utf-8")
    module = "\n\n".join(_blocks("python"))
    strict.makepyfile(test_testing_md=module)
    result = strict.runpytest()
    tests = len(re.findall(r"^def test_", module, re.M))
    assert tests >= 15
    result.assert_outcomes(passed=tests)
    result.stdout.fnmatch_lines(["identitystore: lenient by marker for email_format (1 tests)"])
