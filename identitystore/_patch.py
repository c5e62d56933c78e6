"""Auth0's PATCH rules for a user: fields that cannot change together, the metadata merge, and
the defaults re-derived when a field is unset."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._models import User, derived_profile
from .errors import ConflictingFieldsError
from .passwords import ProfileData

__all__ = ["check_exclusive", "merge_metadata", "patch_columns", "profile_after"]

#: Field pairs one PATCH may not change together (Auth0's rule).
_EXCLUSIVE_FIELDS = (
    ("password", "email"),
    ("password", "email_verified"),
    ("username", "email"),
    ("username", "email_verified"),
    ("username", "password"),
)


def check_exclusive(fields: Mapping[str, Any]) -> None:
    """Raise ``ConflictingFieldsError`` for the first pair of fields Auth0 will not change in one
    PATCH."""
    for first, second in _EXCLUSIVE_FIELDS:
        if first in fields and second in fields:
            raise ConflictingFieldsError(first, second)


def merge_metadata(
    current: Mapping[str, Any] | None, patch: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Metadata after a PATCH: top-level keys replaced, a key set to None removed; an empty patch
    (or nothing left) removes the whole object."""
    if not patch:
        return None
    merged = dict(current or {})
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged or None


def patch_columns(user: User, changes: Mapping[str, Any], stamp: str) -> dict[str, Any]:
    """Column values for a PATCH of ``user`` at ``stamp``: metadata merged, and ``name``,
    ``nickname`` or ``picture`` set to None re-derived as a new user's would be."""
    columns: dict[str, Any] = {"updated_at": stamp}
    for key, value in changes.items():
        if key in ("user_metadata", "app_metadata"):
            columns[key] = merge_metadata(getattr(user, key), value)
        else:
            columns[key] = value
    defaults = derived_profile(
        local_id=user.identity_user_id,
        email=columns.get("email", user.email),
        phone_number=columns.get("phone_number", user.phone_number),
        username=columns.get("username", user.username),
        name=columns.get("name", user.name),
        nickname=columns.get("nickname", user.nickname),
        picture=columns.get("picture", user.picture),
    )
    for key, value in zip(("name", "nickname", "picture"), defaults, strict=True):
        if key in columns:
            columns[key] = value
    return columns


def profile_after(user: User, changes: Mapping[str, Any]) -> ProfileData:
    """The profile a new password is checked against: ``user`` with ``changes`` applied."""
    metadata = dict(user.user_metadata or {})
    metadata.update(changes.get("user_metadata") or {})

    def field(name: str) -> object:
        if name == "user_metadata":
            return metadata
        return changes.get(name, getattr(user, name))

    return ProfileData.of(field)
