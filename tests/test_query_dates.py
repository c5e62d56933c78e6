"""Date bounds in ``list_users`` queries: any ISO date is a bound or an ``InvalidQueryError``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from identitystore import IdentityStore, PasswordHasher, errors

FAST = PasswordHasher.fast_for_tests()
DATE_FIELDS = ("created_at", "updated_at", "last_login")


@pytest.fixture(scope="module")
def store() -> IdentityStore:
    store = IdentityStore(":memory:", hasher=FAST)
    store.create_user("email", email="a@x.io")
    return store


@pytest.mark.parametrize("field", DATE_FIELDS)
@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:59+01:00"]
)
@pytest.mark.parametrize(
    "shape", ["{field}:{moment}", "{field}:[{moment} TO *]", "{field}:[* TO {moment}]"]
)
def test_a_moment_outside_the_utc_years_is_an_invalid_query(
    store: IdentityStore, field: str, moment: str, shape: str
) -> None:
    with pytest.raises(errors.InvalidQueryError) as caught:
        store.list_users(q=shape.format(field=field, moment=moment))
    assert caught.value.message == (
        f"{field} takes a date from 0001-01-01 to 9999-12-31 in UTC, not {moment}"
    )


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00Z", "0001-01-01T01:00:00+01:00", "9999-12-31T23:59:59Z"]
)
def test_the_first_and_last_utc_moments_are_bounds(store: IdentityStore, moment: str) -> None:
    everyone = store.list_users(q="created_at:[0001-01-01 TO 9999-12-31T23:59:59.999Z]")
    assert len(everyone.users) == 1
    assert store.list_users(q=f"created_at:{moment}").users == ()


_OFFSETS = st.timedeltas(
    min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59)
)


@given(
    moment=st.datetimes(timezones=st.builds(timezone, _OFFSETS) | st.none()),
    field=st.sampled_from(DATE_FIELDS),
    shape=st.sampled_from(["{f}:{m}", "{f}:[{m} TO *]", "{f}:{{* TO {m}}}", "NOT {f}:{m}"]),
    zulu=st.booleans(),
)
def test_any_iso_date_is_a_bound_or_an_invalid_query(
    store: IdentityStore, moment: datetime, field: str, shape: str, zulu: bool
) -> None:
    text = moment.isoformat()
    if zulu and moment.tzinfo is None:
        text += "Z"
    utc = moment.replace(tzinfo=moment.tzinfo or timezone.utc)
    try:
        utc.astimezone(timezone.utc)
    except OverflowError:  # no such year in UTC: refused
        with pytest.raises(errors.InvalidQueryError, match="takes a date from 0001-01-01 to 9999"):
            store.list_users(q=shape.format(f=field, m=text))
    else:  # a bound like any other
        assert len(store.list_users(q=shape.format(f=field, m=text)).users) <= 1
