"""A wrong password against an outdated hash costs what one against a current hash costs.

These tests check the mechanism, not the time: ``identitystore.hashing`` reads a fake
``perf_counter`` that moves 1 ms per reading, so how long a hardened mismatch lasts is a count of
readings, whatever the machine's load. The times themselves are measured by
``benchmarks/bench_signin_timing.py``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identitystore import IdentityStore, PasswordHasher, errors, hashing

DB = "Username-Password-Authentication"
PW = "Correct-Horse-9"
WRONG = b"Wrong-Horse-9"
TYPICAL = 0.020  # seconds: the current-settings verify the tests pretend to have measured


@dataclass
class FakeClock:
    """``perf_counter`` for ``identitystore.hashing``: each reading is 1 ms after the last."""

    now: float = 1000.0
    readings: int = 0

    def __call__(self) -> float:
        self.now += 0.001
        self.readings += 1
        return self.now


@dataclass
class Spy:
    """What hardening did: each ``_work_until`` call's (deadline - start, slices done)."""

    clock: FakeClock
    waits: list[tuple[float, int]] = field(default_factory=list)
    dummies: int = 0


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    clock = FakeClock()
    seen = Spy(clock)
    work_until = getattr(hashing, "_work_until", None)  # None: a hasher that does not harden

    def recording(deadline: float) -> int:
        start = clock.now
        assert work_until is not None
        slices: int = work_until(deadline)
        seen.waits.append((round(deadline - start, 6), slices))
        return slices

    dummy_verify = hashing.PasswordHasher.dummy_verify

    def counting_dummy(self: PasswordHasher) -> None:
        seen.dummies += 1
        dummy_verify(self)

    monkeypatch.setattr(hashing, "perf_counter", clock, raising=False)
    monkeypatch.setattr(hashing, "_work_until", recording, raising=False)
    monkeypatch.setattr(hashing.PasswordHasher, "dummy_verify", counting_dummy)
    return seen


def _measured(hasher: PasswordHasher) -> PasswordHasher:
    """``hasher`` as if its recent current-settings verifies had taken ``TYPICAL`` each."""
    getattr(hasher, "_timings", []).extend([TYPICAL] * 5)
    return hasher


#: A store's hasher that knows the legacy schemes imports bring, preferring bcrypt at cost 5.
def _importing_hasher() -> PasswordHasher:
    return PasswordHasher(
        ["bcrypt", "hex_md5", "pbkdf2_sha256", "sha256_crypt"],
        bcrypt__rounds=5,
        pbkdf2_sha256__rounds=1000,
        sha256_crypt__rounds=1000,
    )


def _outdated_hashes() -> dict[str, str]:
    """Hashes of ``PW`` that a ``_importing_hasher`` verifies but would not write."""
    return {
        "bcrypt-4": PasswordHasher.fast_for_tests().hash(PW.encode()),
        "hex_md5": PasswordHasher(["hex_md5"]).hash(PW.encode()),
        "pbkdf2_sha256": PasswordHasher(["pbkdf2_sha256"], pbkdf2_sha256__rounds=1000).hash(
            PW.encode()
        ),
        "sha256_crypt": PasswordHasher(["sha256_crypt"], sha256_crypt__rounds=1000).hash(
            PW.encode()
        ),
    }


OUTDATED = _outdated_hashes()
#: Stored texts no scheme of the hasher reads: a mismatch too, hardened the same way.
MALFORMED = ["", "x", "$2b$10$short", "$1$saltsalt$hashhashhashhashhashha", "\x00", "é" * 100]


@pytest.mark.parametrize("hashed", [*OUTDATED.values(), *MALFORMED], ids=[*OUTDATED, *MALFORMED])
def test_a_mismatch_of_an_outdated_hash_lasts_a_current_verify(spy: Spy, hashed: str) -> None:
    hasher = _measured(_importing_hasher())
    started = spy.clock.now
    assert not hasher.verify(WRONG, hashed)
    assert spy.dummies == 0
    (wait,) = spy.waits
    assert TYPICAL - 0.002 <= wait[0] <= TYPICAL  # the deadline: the start of verify + TYPICAL
    assert wait[1] >= 15  # slices of real hashing work, one per reading of the clock
    assert spy.clock.now - started >= TYPICAL


@pytest.mark.parametrize("name", list(OUTDATED))
def test_the_right_password_of_an_outdated_hash_is_not_slowed(spy: Spy, name: str) -> None:
    hasher = _measured(_importing_hasher())
    assert hasher.verify(PW.encode(), OUTDATED[name])
    assert hasher.needs_update(OUTDATED[name])  # the store re-hashes it at once
    assert spy.waits == []
    assert spy.dummies == 0


def test_a_mismatch_of_a_current_hash_is_measured_not_hardened(spy: Spy) -> None:
    hasher = _importing_hasher()
    current = hasher.hash(PW.encode())
    for _ in range(3):
        assert not hasher.verify(WRONG, current)
    assert hasher.verify(PW.encode(), current)
    assert spy.waits == []
    assert list(hasher._timings) == pytest.approx([0.001] * 4)  # one fake reading apart each


def test_with_nothing_measured_yet_a_real_current_verify_is_spent(spy: Spy) -> None:
    hasher = _importing_hasher()
    assert not hasher.verify(WRONG, OUTDATED["hex_md5"])
    assert spy.dummies == 1  # measured now, and spent
    assert spy.waits == []
    assert len(hasher._timings) == 1
    assert not hasher.verify(WRONG, OUTDATED["hex_md5"])
    assert spy.dummies == 1
    assert len(spy.waits) == 1


def test_the_hasher_protocol_promises_it() -> None:
    assert "dummy_verify" in (hashing.Hasher.verify.__doc__ or "")
    assert "whatever" in (hashing.Hasher.verify.__doc__ or "")


# -- through the store: an outdated user answers a wrong password as an unknown user does ----------


@pytest.fixture
def outdated_store(tmp_path: Path) -> Iterator[tuple[IdentityStore, dict[str, str]]]:
    """A file whose users were hashed by other hashers, opened with ``_importing_hasher``."""
    path = tmp_path / "users.db"
    emails = {}
    for name, hasher in [
        ("bcrypt-4", PasswordHasher.fast_for_tests()),
        ("hex_md5", PasswordHasher(["hex_md5"])),
        ("current", _importing_hasher()),
    ]:
        with IdentityStore(path, hasher=hasher) as store:
            emails[name] = f"{name.replace('_', '-')}@example.com"
            store.create_user(DB, email=emails[name], password=PW)
    with IdentityStore(path, hasher=_measured(_importing_hasher()), max_login_attempts=0) as store:
        yield store, emails


@pytest.mark.parametrize("who", ["bcrypt-4", "hex_md5"])
def test_a_wrong_password_of_an_outdated_user_is_hardened(
    spy: Spy, outdated_store: tuple[IdentityStore, dict[str, str]], who: str
) -> None:
    store, emails = outdated_store
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, emails[who], WRONG.decode())
    assert len(spy.waits) == 1
    assert spy.waits[0][0] == pytest.approx(TYPICAL, abs=0.002)
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, "nobody@example.com", WRONG.decode())
    assert spy.dummies == 1  # the unknown user: a real verify at the current settings
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, emails["current"], WRONG.decode())
    assert len(spy.waits) == 1  # a current hash needs no hardening: it is the work itself


def test_an_outdated_user_signs_in_and_is_upgraded(
    spy: Spy, outdated_store: tuple[IdentityStore, dict[str, str]]
) -> None:
    store, emails = outdated_store
    assert store.authenticate(DB, emails["hex_md5"], PW).email == emails["hex_md5"]
    assert spy.waits == []
    found = store.backend.find_user(store.get_connection(DB).id, "email", emails["hex_md5"])
    assert found is not None
    assert found[1] is not None
    assert found[1].startswith("$2b$05$")


# -- the property: whatever the stored text, a mismatch lasts at least a current verify ------------

STORED = st.one_of(
    st.sampled_from([*OUTDATED.values(), *MALFORMED]),
    st.text(max_size=80),
    st.sampled_from(["$2b$", "$pbkdf2-sha256$", "$5$", "$argon2id$"]).flatmap(
        lambda prefix: st.text(max_size=60).map(prefix.__add__)
    ),
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hashed=STORED, secret=st.binary(max_size=72))
def test_any_stored_text_mismatches_no_faster_than_a_current_verify(
    spy: Spy, hashed: str, secret: bytes
) -> None:
    hasher = _measured(_importing_hasher())
    started = spy.clock.now
    matched = hasher.verify(secret, hashed)
    if matched or not hasher.needs_update(hashed):
        return  # a current hash (or the password itself): the real work, measured
    assert spy.clock.now - started >= TYPICAL


def test_the_benchmark_starts() -> None:
    """``benchmarks/bench_signin_timing.py`` is not run by the suite; this checks that it parses."""
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_signin_timing.py"
    result = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "--quick" in result.stdout
