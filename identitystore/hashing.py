"""Password hashing: the ``Hasher`` protocol and ``PasswordHasher``, its libpass implementation.

The first scheme of a hasher is the one new hashes use; hashes of other schemes, or of a lower cost,
still verify and report ``needs_update`` so a store can upgrade them on the next sign-in. A wrong
password against such an outdated hash takes as long as against a current one (see
``PasswordHasher.verify``), so a failed sign-in does not tell an outdated user from an unknown one.
"""

from __future__ import annotations

import hashlib
import statistics
import threading
from collections import deque
from time import perf_counter
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from . import _imported_hashes

if TYPE_CHECKING:
    from passlib.context import CryptContext

__all__ = ["Hasher", "PasswordHasher", "mask_hash"]


@runtime_checkable
class Hasher(Protocol):
    """What a store needs from a password hasher. ``secret`` is the UTF-8 password to hash."""

    def hash(self, secret: bytes) -> str:
        """A new hash of ``secret`` in the preferred scheme."""
        ...

    def verify(self, secret: bytes, hashed: str) -> bool:
        """Whether ``secret`` matches ``hashed`` (any scheme the hasher knows).

        A mismatch takes at least the time of ``dummy_verify``, whatever ``hashed`` is (another
        scheme, a lower cost, malformed): the store relies on it to answer a wrong password as
        slowly as an unknown user.
        """
        ...

    def needs_update(self, hashed: str) -> bool:
        """Whether ``hashed`` uses an outdated scheme or cost and should be re-hashed."""
        ...

    def dummy_verify(self) -> None:
        """Spend about the time of a ``verify``, for users that do not exist."""
        ...


def mask_hash(hashed: str | None, show: int = 7) -> str:
    """``hashed`` with all but its first ``show`` characters masked, for reprs and logs."""
    if hashed is None:
        return "None"
    return hashed[:show] + "*" * max(len(hashed) - show, 0)


#: Recent timings of verifications at the current settings that ``PasswordHasher`` keeps; their
#: median is how long a hardened mismatch of an outdated hash lasts.
_TIMINGS_KEPT = 15
#: PBKDF2-SHA256 rounds of one slice of hardening work (about 0.2 ms): the most a hardened
#: mismatch overshoots its target.
_SLICE_ROUNDS = 1000


def _work_until(deadline: float) -> int:
    """Hash (CPU work that releases the GIL, as bcrypt does) until ``deadline``; the slices done."""
    slices = 0
    while perf_counter() < deadline:
        hashlib.pbkdf2_hmac("sha256", b"identitystore-harden", b"runtime", _SLICE_ROUNDS)
        slices += 1
    return slices


class PasswordHasher:
    """A ``Hasher`` over a libpass ``CryptContext``.

    Use a named profile: ``PasswordHasher.bcrypt()`` (the default, cost 10 like Auth0),
    ``PasswordHasher.argon2id()``, or ``PasswordHasher.fast_for_tests()`` for test suites.

    Args:
        schemes: libpass scheme names, preferred first (e.g. ``["bcrypt"]``).
        profile: a name shown in the repr.
        settings: libpass ``CryptContext`` settings such as ``bcrypt__rounds=10``.
    """

    def __init__(self, schemes: list[str], *, profile: str = "custom", **settings: Any) -> None:
        self._schemes = list(schemes)
        self._settings = settings
        self.profile = profile
        self._context: CryptContext | None = None
        self._dummy: str | None = None
        self._lock = threading.Lock()
        self._timings: deque[float] = deque(maxlen=_TIMINGS_KEPT)

    @classmethod
    def bcrypt(cls, *, rounds: int = 10) -> PasswordHasher:
        """bcrypt (``$2b$``) at cost ``rounds``; Auth0 hashes with bcrypt at cost 10."""
        if not 4 <= rounds <= 31:
            raise ValueError("bcrypt rounds must be between 4 and 31")
        return cls(["bcrypt", "argon2"], profile=f"bcrypt-{rounds}", bcrypt__rounds=rounds)

    @classmethod
    def argon2id(
        cls, *, time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 4
    ) -> PasswordHasher:
        """argon2id (needs ``pip install identitystore[argon2]``); bcrypt hashes still verify."""
        try:
            import argon2  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "argon2id hashing needs argon2-cffi: pip install 'identitystore[argon2]'"
            ) from exc
        return cls(
            ["argon2", "bcrypt"],
            profile="argon2id",
            argon2__type="ID",
            argon2__time_cost=time_cost,
            argon2__memory_cost=memory_cost,
            argon2__parallelism=parallelism,
            bcrypt__rounds=10,
        )

    @classmethod
    def fast_for_tests(cls) -> PasswordHasher:
        """bcrypt at the minimum cost (4), 64 times cheaper than 10: real hashes, for tests only.

        Its hashes verify under the production profiles and are reported ``needs_update`` there.
        """
        return cls(["bcrypt", "argon2"], profile="fast-for-tests", bcrypt__rounds=4)

    @property
    def context(self) -> CryptContext:
        """The libpass ``CryptContext`` (built on first use: importing libpass costs time)."""
        if self._context is None:
            with self._lock:
                if self._context is None:
                    from passlib.context import CryptContext

                    self._context = CryptContext(
                        schemes=self._schemes, deprecated="auto", **self._settings
                    )
        return self._context

    def hash(self, secret: bytes) -> str:
        """A new hash of ``secret`` (at most 72 bytes for bcrypt: the caller truncates)."""
        return str(self.context.hash(secret))

    def verify(self, secret: bytes, hashed: str) -> bool:
        """Whether ``secret`` matches ``hashed``; a malformed hash is a mismatch, not an error.

        ``hashed`` may also be a ``custom_password_hash`` imported from another system.

        A mismatch against an outdated hash (``needs_update``: another scheme, another cost,
        malformed, imported) is hardened, like Django's ``harden_runtime``: it lasts as long as a
        verify at the current settings (the median of the recent ones), spent hashing. A hash
        slower than the current settings cannot be verified faster; it is upgraded at the user's
        next sign-in.
        """
        started = perf_counter()
        matched = self._verify(secret, hashed)
        if not self.needs_update(hashed):
            with self._lock:
                self._timings.append(perf_counter() - started)
        elif not matched:
            self._harden(started)
        return matched

    def _verify(self, secret: bytes, hashed: str) -> bool:
        if _imported_hashes.is_imported(hashed):
            return _imported_hashes.verify(secret, hashed)
        try:
            return bool(self.context.verify(secret, hashed))
        except (ValueError, TypeError, UserWarning):  # a warning: where warnings are errors
            return False
        except RuntimeError as exc:  # passlib's MissingBackendError: e.g. argon2-cffi is absent
            raise ImportError(
                f"cannot verify this hash ({exc}); for argon2 hashes: "
                "pip install 'identitystore[argon2]'"
            ) from exc

    def _harden(self, started: float) -> None:
        """Make a mismatch begun at ``started`` last as long as a verify at the current settings."""
        with self._lock:
            typical = statistics.median(self._timings) if self._timings else None
        if typical is None:  # nothing measured yet: a real one measures it and spends the time
            self.dummy_verify()
        else:
            _work_until(started + typical)

    def needs_update(self, hashed: str) -> bool:
        """Whether ``hashed`` is of a non-preferred scheme or a different cost."""
        try:
            return bool(self.context.needs_update(hashed))
        except (ValueError, TypeError, UserWarning):  # a warning: where warnings are errors
            return True

    def dummy_verify(self) -> None:
        """Verify against a hash at the current settings, to equalise timing for unknown users."""
        if self._dummy is None:
            self._dummy = self.hash(b"identitystore-dummy-password")
        self.verify(b"not-the-password", self._dummy)

    def __repr__(self) -> str:
        return f"PasswordHasher(profile={self.profile!r})"
