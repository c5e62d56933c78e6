"""The event log in pages, as Auth0's ``GET /api/v2/logs`` serves it: search, sort, totals, the
``from``/``take`` checkpoint, one event by id, and events that surfaces record."""

from __future__ import annotations

import pytest

from identitystore import Event, IdentityStore, errors
from identitystore.testing.helpers import ManualClock

DB = "Username-Password-Authentication"
PW = "Correct-Horse-9"


def _history(store: IdentityStore, clock: ManualClock) -> list[Event]:
    """Signups, a failed and a good sign-in, a recorded API event: oldest first."""
    for n in range(3):
        store.create_user(DB, email=f"u{n}@x.io", password=PW)
        clock.advance(seconds=1)
    with pytest.raises(errors.WrongCredentialsError):
        store.authenticate(DB, "u0@x.io", "wrong", ip="10.0.0.1")
    clock.advance(seconds=1)
    store.authenticate(DB, "u1@x.io", PW, ip="10.0.0.2")
    clock.advance(seconds=1)
    store.record_event("sapi", description="Create a User", client_id="cli_1", details={"a": 1})
    return store.list_events()


def test_pages_are_newest_first_with_totals(store: IdentityStore, clock: ManualClock) -> None:
    log = _history(store, clock)
    assert [e.type for e in log] == ["ss", "ss", "ss", "fp", "s", "sapi"]
    page = store.search_events(per_page=2, include_totals=True)
    assert list(page) == log[::-1][:2]
    assert page.to_dict() == {
        "start": 0,
        "limit": 2,
        "length": 2,
        "total": 6,
        "logs": [e.to_dict() for e in log[::-1][:2]],
    }
    assert list(store.search_events(page=2, per_page=2)) == log[::-1][4:]
    assert list(store.search_events(page=3, per_page=2)) == []  # past the end: empty, no error
    assert list(store.search_events(sort="date:1", per_page=3)) == log[:3]
    assert store.search_events().to_dict() == [e.to_dict() for e in log[::-1]]


def test_search_by_type_user_and_date(store: IdentityStore, clock: ManualClock) -> None:
    log = _history(store, clock)
    user = store.get_users_by_email("u0@x.io")[0]
    assert [e.type for e in store.search_events('type:"ss"')] == ["ss"] * 3
    assert [e.type for e in store.search_events(user_id=user.user_id)] == ["fp", "ss"]
    assert [e.type for e in store.search_events("type:s*", sort="date:1")] == [
        *["ss"] * 3,
        "s",
        "sapi",
    ]
    since = log[3].date
    assert [e.type for e in store.search_events(f"date:[{since} TO *]")] == ["sapi", "s", "fp"]
    assert list(store.search_events("client_id:cli_1")) == [log[-1]]
    with pytest.raises(errors.InvalidQueryError):
        store.search_events("email:u0@x.io")  # not a field of the log
    with pytest.raises(errors.InvalidQueryError):
        store.search_events(sort="type:1")
    with pytest.raises(errors.InvalidPagingError):
        store.search_events(page=10, per_page=100)


def test_checkpoint_pages_follow_the_log(store: IdentityStore, clock: ManualClock) -> None:
    log = _history(store, clock)
    assert store.events_after(None, take=4) == log[:4]
    assert store.events_after(log[3].log_id, take=4) == log[4:]
    assert store.events_after(log[-1].log_id) == []
    assert store.events_after(None, q="type:ss") == log[:3]
    with pytest.raises(errors.InvalidQueryError):
        store.events_after(None, take=0)


def test_one_event_by_id(store: IdentityStore, clock: ManualClock) -> None:
    log = _history(store, clock)
    for event in log:
        assert store.get_event(event.log_id) == event
    with pytest.raises(errors.EventNotFoundError) as missing:
        store.get_event("0" * 24)
    assert missing.value.to_dict() == {
        "statusCode": 404,
        "error": "Not Found",
        "message": "Log not found.",
        "errorCode": "inexistent_log",
    }


def test_a_recorded_event_is_kept_as_given(store: IdentityStore) -> None:
    event = store.record_event(
        "seccft",
        description="Client Credentials for Access Token",
        client_id="abc",
        client_name="My App",
        connection=DB,
        ip="127.0.0.1",
        user_agent="curl/8",
        details={"audience": "https://x/api/v2/"},
    )
    assert store.get_event(event.log_id) == event
    assert event.connection == DB
    assert event.connection_id == store.get_connection(DB).id
    body = event.to_dict()
    assert body["client_id"] == "abc"
    assert body["user_agent"] == "curl/8"
    with pytest.raises(errors.BadRequestError):
        store.record_event("sapi", details={"x": "y" * 20_000})
    with pytest.raises(errors.BadRequestError):
        store.record_event("sapi", ip="a\x00b")
    with pytest.raises(errors.BadRequestError):
        store.record_event(5)  # type: ignore[arg-type]
