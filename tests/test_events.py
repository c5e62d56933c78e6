"""The event log: what each operation logs, in order, filters and limits, the shape of an
event, and no password in it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from identitystore import IdentityStore, errors

from .fixtures import DB, HOUR, OTHER_PW, PW, all_events, stamp

# -- events --------------------------------------------------------------------------------------


def test_lifecycle_events_in_order(store: IdentityStore, clock: Any) -> None:
    moments = []
    user = store.create_user(DB, email="ev@example.com", password=PW)
    moments.append(stamp(clock.now))
    clock.now += HOUR
    store.update_user(user.user_id, name="Eve")
    moments.append(stamp(clock.now))
    clock.now += HOUR
    store.update_user(user.user_id, password=OTHER_PW)
    moments += [stamp(clock.now)] * 2
    clock.now += HOUR
    store.delete_user(user.user_id)
    moments.append(stamp(clock.now))
    events = store.list_events(user_id=user.user_id)
    assert [e.type for e in events] == ["ss", "sapi", "scp", "sapi", "sdu"]
    assert [e.date for e in events] == moments
    assert {e.user_id for e in events} == {user.user_id}
    assert {e.connection for e in events} == {DB}
    assert len({e.log_id for e in events}) == len(events)


def test_event_filters_and_limit(store: IdentityStore, clock: Any) -> None:
    a = store.create_user(DB, email="a@example.com", password=PW)
    clock.now += HOUR
    b = store.create_user("email", email="b@example.com")
    clock.now += HOUR
    store.update_user(a.user_id, nickname="a")
    store.update_user(b.user_id, nickname="b")
    everything = store.list_events()
    assert [(e.type, e.user_id) for e in everything] == [
        ("ss", a.user_id),
        ("ss", b.user_id),
        ("sapi", a.user_id),
        ("sapi", b.user_id),
    ]
    assert store.list_events(type="ss") == everything[:2]
    assert store.list_events(user_id=b.user_id) == [everything[1], everything[3]]
    assert store.list_events(type="sapi", user_id=a.user_id) == [everything[2]]
    assert store.list_events(type="sdu") == []
    assert store.list_events(user_id="auth0|ghost") == []
    assert store.list_events(limit=2) == everything[2:]
    assert store.list_events(limit=1, type="ss") == [everything[1]]
    assert store.list_events(limit=0) == []


def test_event_to_dict_shape(store: IdentityStore, clock: Any) -> None:
    user = store.create_user(DB, email="shape@example.com", password=PW)
    connection = store.get_connection(DB)
    (event,) = store.list_events()
    body = event.to_dict()
    assert body == {
        "date": stamp(clock.now),
        "type": "ss",
        "connection": DB,
        "connection_id": connection.id,
        "user_id": user.user_id,
        "user_name": "shape@example.com",
        "_id": event.log_id,
        "log_id": event.log_id,
    }
    assert list(body) == [
        "date",
        "type",
        "connection",
        "connection_id",
        "user_id",
        "user_name",
        "_id",
        "log_id",
    ]
    assert len(event.log_id) == 24
    clock.now += HOUR
    store.delete_user(user.user_id)
    (deleted,) = store.list_events(type="sdu")
    assert deleted.to_dict() == {
        "date": stamp(clock.now),
        "type": "sdu",
        "description": "Delete a user",
        "connection": DB,
        "connection_id": connection.id,
        "user_id": user.user_id,
        "user_name": "shape@example.com",
        "_id": deleted.log_id,
        "log_id": deleted.log_id,
    }


def test_no_password_ever_appears_in_events(store: IdentityStore) -> None:
    secrets = [PW, OTHER_PW, "Third-Pass-33", "weak", "Wrong-Guess-9"]
    store.create_connection(
        "Vault",
        strategy="auth0",
        options={"passwordPolicy": "good", "password_history": {"enable": True, "size": 3}},
    )
    user = store.create_user("Vault", email="sec@example.com", password=PW)
    store.update_user(user.user_id, password=OTHER_PW)
    store.update_user(user.user_id, password="Third-Pass-33", name="Renamed")
    for refused in ("weak", PW):
        with pytest.raises(errors.PasswordPolicyError):
            store.update_user(user.user_id, password=refused)
    store.authenticate("Vault", "sec@example.com", "Third-Pass-33")
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate("Vault", "sec@example.com", "Wrong-Guess-9")
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate("Vault", "nobody@example.com", PW)
    store.delete_user(user.user_id)
    events = all_events(store)
    assert {"ss", "scp", "sapi", "s", "fp", "fu", "sdu"} <= {e.type for e in events}
    text = json.dumps([e.to_dict() for e in events]) + repr(events)
    for secret in secrets:
        assert secret not in text
