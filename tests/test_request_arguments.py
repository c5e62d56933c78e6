"""Whatever values a request's arguments hold, a store answers with an ``IdentityStoreError``
(Auth0's body) or a result: never ``TypeError``, ``ValueError`` or ``OverflowError``.

Lookups by a value nothing stored can have find nothing (404 or an empty list); arguments that
shape the call (``ip``, ``limit``, ``page``, ``send``, ``ttl_sec``) are 400s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from identitystore import IdentityStore, IdentityStoreError, errors

DB = "Username-Password-Authentication"
PW = "Correct-Horse-9"

#: Values a caller (or a JSON body, a query string, a header) may pass where a string is expected.
ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["a\x00b", "\ud800", "", " ", DB, "sms", "email", "x" * 300]),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        pytest.param(
            lambda s: s.authenticate(DB, "a@x.io", PW, ip="a\x00b"),
            errors.BadRequestError,
            id="ip-nul",
        ),
        pytest.param(
            lambda s: s.authenticate(DB, "a@x.io", PW, ip=5), errors.BadRequestError, id="ip-int"
        ),
        pytest.param(
            lambda s: s.authenticate(DB, "a@x.io", PW, ip="\ud800"),
            errors.BadRequestError,
            id="ip-surrogate",
        ),
        pytest.param(
            lambda s: s.start_passwordless("email", email="a@x.io", ip=5),
            errors.BadRequestError,
            id="start-ip",
        ),
        pytest.param(
            lambda s: s.verify_passwordless(
                "sms", phone_number="+14155550100", code="1", ip="\ud800"
            ),
            errors.BadRequestError,
            id="verify-ip",
        ),
        pytest.param(lambda s: s.list_events(limit="10"), errors.InvalidQueryError, id="limit-str"),
        pytest.param(
            lambda s: s.list_events(limit=-1), errors.InvalidQueryError, id="limit-negative"
        ),
        pytest.param(lambda s: s.get_user(1), errors.UserNotFoundError, id="get-user-int"),
    ],
)
def test_issue_examples(
    identity_store: IdentityStore, call: Callable[[IdentityStore], Any], error: type[Exception]
) -> None:
    identity_store.create_user(DB, email="a@x.io", password=PW)
    with pytest.raises(error) as raised:
        call(identity_store)
    assert raised.value.to_dict()["statusCode"] in (400, 404)  # type: ignore[attr-defined]


def test_a_lookup_by_a_value_no_email_has_finds_nobody(identity_store: IdentityStore) -> None:
    identity_store.create_user(DB, email="a@x.io", password=PW)
    assert identity_store.get_users_by_email(1) == []  # type: ignore[arg-type]
    assert identity_store.get_users_by_email("A@X.IO")[0].email == "a@x.io"


def test_a_huge_limit_means_every_event(identity_store: IdentityStore) -> None:
    identity_store.create_user(DB, email="a@x.io", password=PW)
    assert [e.type for e in identity_store.list_events(limit=2**63)] == ["ss"]
    assert identity_store.list_events(limit=10**30) == identity_store.list_events()


REQUESTS: dict[str, Callable[[IdentityStore, Any, Any], Any]] = {
    "get_user": lambda s, a, b: s.get_user(a),
    "get_users_by_email": lambda s, a, b: s.get_users_by_email(a),
    "list_users": lambda s, a, b: s.list_users(connection=a, q=b),
    "list_users_paging": lambda s, a, b: s.list_users(page=a, per_page=b),
    "list_users_sort": lambda s, a, b: s.list_users(sort=a, include_totals=bool(b)),
    "update_user": lambda s, a, b: s.update_user(a, name=b),
    "delete_user": lambda s, a, b: s.delete_user(a),
    "authenticate": lambda s, a, b: s.authenticate(DB, a, b),
    "authenticate_connection": lambda s, a, b: s.authenticate(a, "a@x.io", PW, ip=b),
    "start_passwordless": lambda s, a, b: s.start_passwordless("email", email=a, send=b),
    "start_passwordless_sms": lambda s, a, b: s.start_passwordless(a, phone_number=b),
    "verify_passwordless": lambda s, a, b: s.verify_passwordless("sms", phone_number=a, code=b),
    "ticket": lambda s, a, b: s.create_email_verification_ticket(a, ttl_sec=b),
    "verify_email": lambda s, a, b: s.verify_email(a),
    "list_events": lambda s, a, b: s.list_events(type=a, limit=b),
    "list_events_user": lambda s, a, b: s.list_events(user_id=a),
    "get_connection": lambda s, a, b: s.get_connection(a),
    "create_user_from_body": lambda s, a, b: s.create_user_from_body({"connection": a, "email": b}),
    "create_user_from_anything": lambda s, a, b: s.create_user_from_body(a),
}


@pytest.mark.parametrize("request_name", sorted(REQUESTS))
def test_any_argument_gets_an_identitystore_error_or_a_result(
    identity_store_factory: Callable[..., IdentityStore], request_name: str
) -> None:
    store = identity_store_factory(":memory:")
    store.create_user(DB, email="a@x.io", password=PW)
    call = REQUESTS[request_name]

    @given(a=ANYTHING, b=ANYTHING)
    def check(a: Any, b: Any) -> None:
        try:
            call(store, a, b)
        except IdentityStoreError as exc:
            status = exc.to_dict()["statusCode"]
        else:
            status = 200
        assert isinstance(status, int)
        assert status < 500

    check()
