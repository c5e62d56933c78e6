"""``identitystore.strategies`` against the store itself: valid bodies are created and round-trip,
each invalid body is refused with exactly its paired error and writes nothing, and the building
blocks produce what they claim (checked with ``phonenumbers`` and independent predicates)."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from typing import Any

import phonenumbers
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from identitystore import (
    Connection,
    IdentityStore,
    IdentityStoreError,
    PasswordPolicy,
    User,
    errors,
)
from identitystore import strategies as ist
from identitystore.limits import METADATA_MAX_BYTES

from .conftest import FAST
from .fuzz_bodies import COMMON, COMMON_OPTIONS

#: Connections with unusual options, created in every store of this module.
EXTRA: dict[str, tuple[str, dict[str, Any]]] = {
    "Strict-Members": (
        "auth0",
        {
            "requires_username": True,
            "passwordPolicy": "excellent",
            "password_dictionary": {"enable": True, "dictionary": ["Correct-Horse-9"]},
            "password_no_personal_info": {"enable": True},
        },
    ),
    "Flexible": (
        "auth0",
        {
            "requires_username": True,
            "validation": {"username": {"min": 3, "max": 20}},
            "attributes": {"phone_number": {"identifier": {"active": False}}},
            "phone_number_validation": "valid",
            "password_options": {
                "complexity": {
                    "min_length": 12,
                    "character_types": ["lowercase", "uppercase", "number", "special"],
                    "character_type_rule": "three_of_four",
                    "identical_characters": "block",
                    "sequential_characters": "block",
                    "max_length_exceeded": "error",
                },
                "dictionary": {"active": True, "custom": ["Acme-Rocket-2026!"]},
                "profile_data": {"active": True, "blocked_fields": ["given_name"]},
            },
        },
    ),
    "Fair-Six": (
        "auth0",
        {
            "passwordPolicy": "fair",
            "requires_username": True,
            "validation": {"username": {"min": 6, "max": 6}},
        },
    ),
    "Sms-Real": ("sms", {"phone_number_validation": "valid"}),
    # a common word passes every rule but the dictionary: dictionary-password's easy case
    COMMON: ("auth0", COMMON_OPTIONS),
}
DEFAULTS = ("Username-Password-Authentication", "email", "sms")
NAMES = (*DEFAULTS, *EXTRA)


def new_store() -> IdentityStore:
    store = IdentityStore(":memory:", hasher=FAST)
    for name, (strategy, options) in EXTRA.items():
        store.create_connection(name, strategy=strategy, options=options)
    return store


@pytest.fixture(scope="module")
def connections() -> Iterator[dict[str, Connection]]:
    with new_store() as store:
        yield {name: store.get_connection(name) for name in NAMES}


def _connection(name: str) -> Connection | str:
    """Default connections by name, the others as Connection objects (both forms are accepted)."""
    if name in DEFAULTS:
        return name
    strategy, options = EXTRA[name]
    return Connection(id=f"con_{name}", name=name, strategy=strategy, options=options)


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_valid_bodies_are_created_and_round_trip(name: str, data: st.DataObject) -> None:
    body = data.draw(ist.create_user_bodies(_connection(name)), label="body")
    with new_store() as store:
        user = store.create_user(name, **body)
        assert store.get_user(user.user_id) == user
        assert user.connection == name
        for key in ("given_name", "family_name", "user_metadata", "app_metadata", "blocked"):
            if key in body:
                assert getattr(user, key) == body[key]
        if "email" in body:
            assert user.email == body["email"].lower()
        if "password" in body and not body.get("blocked"):
            login = body.get("username") or body["email"]
            assert store.authenticate(name, login, body["password"]).user_id == user.user_id


def _families(name: str) -> list[str]:
    found = []
    for family in ist.VIOLATIONS:
        try:
            ist.invalid_create_user_bodies(_connection(name), violations=[family])
        except InvalidArgument:
            continue
        found.append(family)
    return found


#: Violation family -> the connections it applies to.
FAMILIES = {
    family: [name for name in NAMES if family in _families(name)] for family in ist.VIOLATIONS
}


def test_every_family_applies_to_some_connection() -> None:
    assert all(FAMILIES.values())


@pytest.mark.parametrize("family", ist.VIOLATIONS)
@given(data=st.data())
def test_invalid_body_is_refused_with_its_error(family: str, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(FAMILIES[family]), label="connection")
    strategy = ist.invalid_create_user_bodies(_connection(name), violations=[family])
    case = data.draw(strategy, label="case")
    assert case.violation == family
    with new_store() as store:
        for body in case.setup:
            store.create_user(name, **body)
        count = store.backend.count_users()
        outbox = list(store.outbox)
        with pytest.raises(IdentityStoreError) as caught:
            store.create_user(case.connection, **case.body)
        error = caught.value
        assert type(error) is case.error
        assert (error.status_code, error.error_code, error.message) == (
            case.status_code,
            case.error_code,
            case.message,
        )
        assert store.backend.count_users() == count
        assert store.outbox == outbox


@given(number=ist.phone_numbers(region="GB"))
def test_region_numbers_are_valid_numbers_of_that_region(number: str) -> None:
    parsed = phonenumbers.parse(number, None)
    assert phonenumbers.is_valid_number(parsed)
    assert phonenumbers.region_code_for_number(parsed) == "GB"
    assert number == phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@given(number=ist.phone_numbers(real=True))
def test_real_numbers_are_valid(number: str) -> None:
    assert phonenumbers.is_valid_number(phonenumbers.parse(number, None))


@given(number=ist.phone_numbers())
def test_phone_numbers_match_auth0s_pattern(number: str) -> None:
    assert number.startswith("+")
    assert number[1:].isdigit()
    assert number[1:].isascii()
    assert 1 <= len(number) - 1 <= 15


POLICIES = {name: PasswordPolicy.from_options(EXTRA[name][1]) for name in ("Strict-Members",)}
POLICIES |= {
    "good": PasswordPolicy.from_options({"passwordPolicy": "good"}),
    "none": PasswordPolicy.from_options({}),
    "flexible": PasswordPolicy.from_options(EXTRA["Flexible"][1]),
}


@pytest.mark.parametrize("policy", POLICIES.values(), ids=list(POLICIES))
@given(data=st.data())
def test_passwords_meet_or_break_their_policy(policy: PasswordPolicy, data: st.DataObject) -> None:
    good = data.draw(ist.passwords(policy), label="valid")
    assert policy.check(good)
    bad = data.draw(ist.passwords(policy, valid=False), label="invalid")
    assert not policy.check(bad)


def test_passwords_reach_the_boundaries() -> None:
    """Exactly the minimum length and exactly 72 UTF-8 bytes both come up."""
    policy = POLICIES["flexible"]
    seen: set[str] = set()

    @settings(max_examples=300, database=None)  # each edge is one draw in five, or so
    @given(ist.passwords(policy))
    def collect(password: str) -> None:
        if len(password) == 12:
            seen.add("min")
        if len(password.encode()) == 72:
            seen.add("72")

    collect()
    assert seen == {"min", "72"}


@given(data=st.data())
def test_usernames_follow_the_connection_range(data: st.DataObject) -> None:
    low = data.draw(st.integers(1, 20))
    high = data.draw(st.integers(low, 128))
    name = data.draw(ist.usernames({"validation": {"username": {"min": low, "max": high}}}))
    assert low <= len(name) <= high
    assert set(name) <= set(string.ascii_letters + string.digits + "@^$.!`-#+'~_")


@given(value=ist.metadata(app=True))
def test_metadata_is_json_within_the_limits(value: dict[str, Any]) -> None:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert len(text.encode()) <= METADATA_MAX_BYTES
    assert json.loads(text) == value


def test_arguments_are_checked_eagerly() -> None:
    with pytest.raises(InvalidArgument):
        ist.phone_numbers(region="XX")
    with pytest.raises(InvalidArgument):
        ist.create_user_bodies("No-Such-Connection")
    with pytest.raises(InvalidArgument):
        ist.create_user_bodies({"passwordPolicy": "good"})
    with pytest.raises(InvalidArgument):
        ist.invalid_create_user_bodies("email", violations=["weak-password"])
    with pytest.raises(InvalidArgument):
        ist.usernames({"validation": {"username": {"min": 9, "max": 3}}})


@given(data=st.data())
def test_users_are_persisted(data: st.DataObject) -> None:
    with new_store() as store:
        drawn = data.draw(st.lists(ist.users(store, "Strict-Members"), min_size=1, max_size=3))
        assert all(isinstance(u, User) for u in drawn)
        assert store.backend.count_users() == len(drawn)
        for user in drawn:
            assert store.get_user(user.user_id) == user


# -- the dictionary, where a common word passes every other rule -----------------------------------

#: Connections whose strength rules thousands of common words pass (a 10k-list word or a custom
#: one is refused for being common, nothing else), with and without the personal-info rule.
COMMON_WORD_OPTIONS: dict[str, dict[str, Any]] = {
    "low": {"passwordPolicy": "low", "password_dictionary": {"enable": True}},
    "good-personal": {
        "passwordPolicy": "good",
        "password_dictionary": {"enable": True, "dictionary": ["Correct-Horse-9"]},
        "password_no_personal_info": {"enable": True},
    },
    "flexible": {
        "password_options": {
            "complexity": {"min_length": 8, "character_types": ["lowercase", "number"]},
            "dictionary": {"active": True, "custom": ["acme2026"]},
        }
    },
}
COMMON_BODY = {
    "statusCode": 400,
    "error": "Bad Request",
    "message": "PasswordDictionaryError: Password is too common",
}


@pytest.mark.parametrize("options", COMMON_WORD_OPTIONS.values(), ids=list(COMMON_WORD_OPTIONS))
@given(data=st.data())
def test_invalid_passwords_from_the_dictionary_break_the_dictionary_only(
    options: dict[str, Any], data: st.DataObject
) -> None:
    """``passwords(valid=False)``'s common words pass the strength rules, so a connection refuses
    them with ``PasswordDictionaryError`` (not a strength error that hides the dictionary)."""
    policy = PasswordPolicy.from_options(options)
    password = data.draw(ist.passwords(policy, valid=False), label="password")
    broken = [rule.code for rule in policy.missing(password)]
    assert broken
    if "dictionary" not in broken:
        return
    assert broken == ["dictionary"]
    with IdentityStore(":memory:", hasher=FAST) as store:
        store.create_connection("Common", strategy="auth0", options=options)
        with pytest.raises(errors.PasswordDictionaryError) as caught:
            store.create_user("Common", email="x@example.com", password=password)
        assert caught.value.to_dict() == COMMON_BODY
        assert store.backend.count_users() == 0


@pytest.mark.parametrize("options", COMMON_WORD_OPTIONS.values(), ids=list(COMMON_WORD_OPTIONS))
def test_dictionary_family_is_drawn_and_refused_as_common(options: dict[str, Any]) -> None:
    """Among every family, ``dictionary-password`` comes up within 300 examples (1 in ~18 each)
    and its body is refused with exactly ``PasswordDictionaryError``'s body, writing nothing."""
    every_family = ist.invalid_create_user_bodies(options, strategy="auth0")
    case = find(
        every_family,
        lambda c: c.violation == "dictionary-password",
        settings=settings(max_examples=300, phases=[Phase.generate], database=None),
    )
    assert (case.error, case.status_code, case.error_code) == (
        errors.PasswordDictionaryError,
        400,
        None,
    )
    assert case.message == COMMON_BODY["message"]
    with IdentityStore(":memory:", hasher=FAST) as store:
        store.create_connection("Common", strategy="auth0", options=options)
        with pytest.raises(errors.PasswordDictionaryError) as caught:
            store.create_user("Common", **case.body)
        assert caught.value.to_dict() == COMMON_BODY
        assert store.backend.count_users() == 0
