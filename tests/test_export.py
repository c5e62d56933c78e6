"""``IdentityStore.export_users``: Auth0's export files (newline-delimited JSON, CSV with a
header), fields with ``export_as``, limits, gzip, hashes only when asked, options Auth0 refuses."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest

from identitystore import IdentityStore, errors
from identitystore.testing.helpers import ManualClock
from tests.test_import import BCRYPT
from tests.test_import import MD5 as IMPORTED_MD5

DB = "Username-Password-Authentication"
#: Stored as imported: the object with its keys sorted.
MD5 = json.loads(json.dumps(IMPORTED_MD5, sort_keys=True))


def lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode().splitlines()]


def export(store: IdentityStore, **options: Any) -> bytes:
    out = io.BytesIO()
    store.export_users(out, **options)
    return out.getvalue()


@pytest.fixture
def populated(store: IdentityStore, clock: ManualClock) -> IdentityStore:
    store.import_users(
        DB,
        [
            {
                "email": "ann@example.com",
                "user_id": "ann",
                "given_name": 'Ann "The" Admin, =1+1',
                "password_hash": BCRYPT,
                "app_metadata": {"plan": "gold", "seats": 3},
                "user_metadata": {"consent": {"given": True}, "tags": ["a", "b"]},
                "blocked": False,
                "logins_count": 4,
            },
            {"email": "bob@example.com", "user_id": "bob", "custom_password_hash": MD5},
        ],
    )
    clock.advance(seconds=1)
    store.create_user("email", email="carl@example.com", user_id="carl")
    return store


def test_json_is_one_object_a_line_with_the_default_fields(populated: IdentityStore) -> None:
    data = export(populated)
    assert data.endswith(b"\n")
    got = lines(data)
    assert [line["user_id"] for line in got] == ["auth0|ann", "auth0|bob", "email|carl"]
    assert list(got[0]) == [  # Auth0's normalized profile fields that the user has, in order
        "user_id",
        "email",
        "email_verified",
        "name",
        "nickname",
        "given_name",
        "picture",
        "blocked",
        "created_at",
        "updated_at",
        "logins_count",
        "app_metadata",
        "user_metadata",
    ]
    assert got[0]["user_metadata"] == {"consent": {"given": True}, "tags": ["a", "b"]}
    assert all("password_hash" not in line and "custom_password_hash" not in line for line in got)


def test_one_connection_and_a_limit(populated: IdentityStore) -> None:
    assert [line["user_id"] for line in lines(export(populated, connection="email"))] == [
        "email|carl"
    ]
    assert [line["user_id"] for line in lines(export(populated, limit=2))] == [
        "auth0|ann",
        "auth0|bob",
    ]
    with pytest.raises(errors.UnknownConnectionError):
        export(populated, connection="nope")
    assert populated.export_users(io.BytesIO(), connection=DB) == 2


def test_fields_with_export_as_paths_and_whole_objects(populated: IdentityStore) -> None:
    fields = [
        {"name": "user_id", "export_as": "Id"},
        {"name": "identities[0].connection", "export_as": "Connection"},
        "user_metadata.consent.given",
        {"name": "app_metadata"},
        "user_metadata.tags[1]",
        "no_such_field",
    ]
    got = lines(export(populated, fields=fields, connection=DB))
    assert got == [
        {
            "Id": "auth0|ann",
            "Connection": DB,
            "user_metadata.consent.given": True,
            "app_metadata": {"plan": "gold", "seats": 3},
            "user_metadata.tags[1]": "b",
        },
        {"Id": "auth0|bob", "Connection": DB},
    ]


def test_csv_has_a_header_and_auth0s_guard_against_csv_injection(
    populated: IdentityStore,
) -> None:
    fields = [
        "user_id",
        {"name": "given_name", "export_as": "Given, Name"},
        "email_verified",
        "logins_count",
        "created_at",
        "user_metadata.consent",
        "app_metadata.plan",
    ]
    data = export(populated, format="csv", fields=fields, limit=2).decode()
    ann = populated.get_user("auth0|ann")
    bob = populated.get_user("auth0|bob")
    assert data.split("\n") == [
        'user_id,"Given, Name",email_verified,logins_count,created_at,user_metadata.consent,'
        "app_metadata.plan",
        f'"\'auth0|ann","\'Ann ""The"" Admin, =1+1",false,4,{ann.created_at},'
        '"\'{""given"":true}","\'gold"',
        f'"\'auth0|bob",,false,,{bob.created_at},,',
        "",
    ]


def test_csv_by_default_leaves_out_the_metadata_objects(populated: IdentityStore) -> None:
    header = export(populated, format="csv").decode().split("\n")[0]
    assert header == (
        "user_id,email,email_verified,username,phone_number,phone_verified,name,nickname,"
        "given_name,family_name,picture,blocked,created_at,updated_at,last_login,last_ip,"
        "logins_count,last_password_reset"
    )


def test_password_hashes_only_when_asked_in_the_form_import_takes(
    populated: IdentityStore,
) -> None:
    got = lines(export(populated, include_password_hashes=True, connection=DB))
    assert got[0]["password_hash"] == BCRYPT
    assert got[1]["custom_password_hash"] == MD5
    carl = lines(export(populated, include_password_hashes=True, connection="email"))[0]
    assert "password_hash" not in carl
    assert "custom_password_hash" not in carl  # a passwordless user has none


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (
            {"format": "xml"},
            errors.PayloadValidationError,
            "Payload validation error: 'No enum match for: xml' on property format (Format of the "
            "file. Must be `json` or `csv`).",
        ),
        (
            {"limit": 0},
            errors.PayloadValidationError,
            "Payload validation error: 'Value 0 is less than minimum 1' on property limit (Limit "
            "the number of records).",
        ),
        (
            {"fields": [{"name": "email", "as": "x"}]},
            errors.PayloadValidationError,
            "Payload validation error: 'Additional properties not allowed: as' on property "
            "fields[0].",
        ),
        (
            {"fields": [{"name": "x" * 101}]},
            errors.PayloadValidationError,
            "Payload validation error: 'String is too long (101 chars), maximum 100' on property "
            "fields[0].name (Name of the field in the profile).",
        ),
        ({"fields": []}, errors.BadRequestError, "An export needs at least one field."),
        ({"fields": ["a..b"]}, errors.BadRequestError, "Not a field name: a..b"),
        (
            {"format": "csv", "fields": [f"user_metadata.k{n}" for n in range(31)]},
            errors.BadRequestError,
            "A CSV export takes at most 30 fields.",
        ),
        (
            {"format": "csv", "fields": ["email", "app_metadata"]},
            errors.BadRequestError,
            "A CSV export cannot hold the whole app_metadata object: name its fields, like "
            "app_metadata.plan.",
        ),
        (
            {"format": "csv", "include_password_hashes": True},
            errors.BadRequestError,
            "Password hashes are exported in the json format only.",
        ),
    ],
)
def test_options_auth0_refuses_write_nothing(
    populated: IdentityStore,
    tmp_path: Path,
    options: dict[str, Any],
    error: type[errors.IdentityStoreError],
    message: str,
) -> None:
    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / "out.json"
    with pytest.raises(error) as caught:
        populated.export_users(path, **options)
    assert caught.value.message == message
    assert list(path.parent.iterdir()) == []


def test_a_path_ending_in_gz_is_gzip_and_written_whole(
    populated: IdentityStore, tmp_path: Path
) -> None:
    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / "users.ndjson.gz"
    assert populated.export_users(path) == 3
    assert [line["user_id"] for line in lines(gzip.decompress(path.read_bytes()))] == [
        "auth0|ann",
        "auth0|bob",
        "email|carl",
    ]
    assert sorted(p.name for p in path.parent.iterdir()) == ["users.ndjson.gz"]
    plain = tmp_path / "out" / "users.csv"
    populated.export_users(plain, format="csv")
    assert plain.read_bytes().startswith(b"user_id,")


def test_a_failed_export_leaves_no_file(populated: IdentityStore, tmp_path: Path) -> None:
    def fail(done: int, total: int | None) -> None:
        raise KeyboardInterrupt

    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / "users.json"
    path.write_text("the previous export")
    with pytest.raises(KeyboardInterrupt):
        populated.export_users(path, progress=fail)
    assert path.read_text() == "the previous export"
    assert sorted(p.name for p in path.parent.iterdir()) == ["users.json"]


def test_progress_counts_the_users_written(populated: IdentityStore) -> None:
    calls: list[tuple[int, int | None]] = []
    populated.export_users(io.BytesIO(), progress=lambda d, t: calls.append((d, t)))
    assert calls == [(3, 3)]
