"""Password policies: Auth0's legacy levels and its Flexible Password Policy (password-sheriff)."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from identitystore.errors import (
    PasswordDictionaryError,
    PasswordNoUserInfoError,
    PasswordPolicyError,
    PasswordStrengthError,
)
from identitystore.passwords import PasswordPolicy, PasswordRule, ProfileData

SPECIALS = " " + string.punctuation
GOOD_MESSAGE = (
    "Contain at least 3 of the following 4 types of characters: lower case letters (a-z), "
    "upper case letters (A-Z), numbers (i.e. 0-9), special characters (e.g. !@#$%^&*)"
)


def legacy(level: str | None, **options: object) -> PasswordPolicy:
    return PasswordPolicy.from_options({"passwordPolicy": level, **options})


def flexible(**complexity: object) -> PasswordPolicy:
    return PasswordPolicy.from_options({"password_options": {"complexity": complexity}})


def codes(
    policy: PasswordPolicy, password: object, profile: ProfileData | None = None
) -> list[str]:
    return [rule.code for rule in policy.missing(password, profile)]


# -- legacy levels ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "password", "expected"),
    [
        ("none", "", ["nonEmpty"]),
        ("none", "a", []),
        ("none", " ", []),
        ("low", "abcde", ["lengthAtLeast"]),
        ("low", "abcdef", []),
        ("low", "abcd😀", []),  # the emoji is 2 UTF-16 code units: length 6
        ("low", "abcdé", ["lengthAtLeast"]),
        ("fair", "Abcdefg1", []),
        ("fair", "Abcdef1", ["lengthAtLeast"]),
        ("fair", "abcdefg1", ["shouldContain"]),
        ("fair", "ABCDEFG1", ["shouldContain"]),
        ("fair", "Abcdefgh", ["shouldContain"]),
        ("fair", "Abcdefg!", ["shouldContain"]),  # specials do not replace the digit
        ("fair", "", ["lengthAtLeast", "shouldContain"]),
        ("good", "abcdefgh", ["containsAtLeast"]),
        ("good", "abcdEFGH", ["containsAtLeast"]),
        ("good", "abcdEF12", []),
        ("good", "abcd EF!", []),  # space is special
        ("good", "abcd12!~", []),
        ("good", "ABCD12{}", []),
        ("good", "abcdéÉ12", ["containsAtLeast"]),  # non-ASCII letters are in no class
        ("good", "abcdEF1", ["lengthAtLeast"]),
        ("good", "ab٣٤EF€€", ["containsAtLeast"]),  # non-ASCII digits and symbols neither
        ("excellent", "abcdEF12!x", []),
        ("excellent", "abcdEF12!", ["lengthAtLeast"]),
        ("excellent", "aaaBCD12!x", ["identicalChars"]),
        ("excellent", "aabBCD12!x", []),
        ("excellent", "abcDEF1!!!", ["identicalChars"]),
        ("excellent", "aaaa", ["lengthAtLeast", "containsAtLeast", "identicalChars"]),
        ("excellent", "", ["lengthAtLeast", "containsAtLeast"]),
        ("excellent", "😀😀😀Abc12", []),  # runs compare UTF-16 code units: no 3 equal in a row
        ("excellent", "\ud83d\ud83d\ud83dAbc1234", ["identicalChars"]),
    ],
)
def test_legacy_levels(level: str, password: str, expected: list[str]) -> None:
    assert codes(legacy(level), password) == expected


@pytest.mark.parametrize("level", [None, "unknown", "", "Good", 3])
def test_unknown_or_missing_level_is_none(level: object) -> None:
    policy = PasswordPolicy.from_options({"passwordPolicy": level})
    assert (policy.mode, policy.level, [r.code for r in policy.rules]) == (
        "legacy",
        "none",
        ["nonEmpty"],
    )
    assert PasswordPolicy.from_options({}).level == "none"


def test_rule_messages_and_params() -> None:
    assert [(r.code, r.message, dict(r.params)) for r in legacy("excellent").rules] == [
        ("lengthAtLeast", "At least 10 characters in length", {"min_length": 10}),
        (
            "containsAtLeast",
            GOOD_MESSAGE,
            {"at_least": 3, "character_types": ("lowercase", "uppercase", "number", "special")},
        ),
        (
            "identicalChars",
            'No more than 2 identical characters in a row (e.g., "aaa" not allowed)',
            {"max": 2},
        ),
    ]
    assert legacy("none").rules[0].message == "Non-empty password required"
    assert legacy("fair").rules[1].message == (
        "Should contain: lower case letters (a-z), upper case letters (A-Z), numbers (i.e. 0-9)"
    )
    assert all(rule.error is PasswordStrengthError for rule in legacy("excellent").rules)


def test_min_length_supersedes_the_level() -> None:
    policy = legacy("good", password_complexity_options={"min_length": 12})
    assert codes(policy, "abcdEF12!xyz") == []
    assert codes(policy, "abcdEF12!xy") == ["lengthAtLeast"]
    assert codes(policy, "abcdefghijkl") == ["containsAtLeast"]
    assert codes(legacy("excellent", password_complexity_options={"min_length": 4}), "aB1!") == []
    low_one = legacy("low", password_complexity_options={"min_length": 1})
    assert [r.code for r in low_one.rules] == ["nonEmpty"]
    for odd in (None, {}, {"min_length": None}, {"min_length": "9"}, {"min_length": True}):
        assert legacy("low", password_complexity_options=odd).rules[0].params == {"min_length": 6}


def test_legacy_always_truncates() -> None:
    policy = legacy("excellent")
    long = "aB1!" + "x1" * 60
    assert policy.truncates
    assert policy.check(long)
    assert policy.secret_for_hashing(long) == long.encode()[:72]


# -- dictionary --------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["password", "Password", "PASSWORD", "123456", "qwerty"])
def test_default_dictionary(password: str) -> None:
    policy = legacy("none", password_dictionary={"enable": True})
    assert codes(policy, password) == ["dictionary"]
    with pytest.raises(PasswordDictionaryError) as info:
        policy.enforce(password)
    assert str(info.value) == "PasswordDictionaryError: Password is too common"
    assert info.value.rules == ("dictionary",)


def test_dictionary_is_a_whole_password_match() -> None:
    policy = legacy("none", password_dictionary={"enable": True, "dictionary": ["Acme2024"]})
    assert codes(policy, "ACME2024") == ["dictionary"]
    assert codes(policy, "password!x") == []
    assert codes(policy, "my-acme2024") == []
    assert policy.rules[-1].error is PasswordDictionaryError


def test_dictionary_disabled_or_absent() -> None:
    settings: list[object] = [
        None,
        {"enable": False, "dictionary": ["password"]},
        {"dictionary": []},
    ]
    for setting in settings:
        assert legacy("none", password_dictionary=setting).check("password")
    assert PasswordPolicy.from_options({}).check("password")


def test_strength_is_enforced_before_the_dictionary() -> None:
    policy = legacy("fair", password_dictionary={"enable": True})
    with pytest.raises(PasswordStrengthError) as info:
        policy.enforce("password")
    assert info.value.rules == ("shouldContain",)
    assert codes(policy, "password") == ["shouldContain", "dictionary"]


# -- personal info -----------------------------------------------------------------------------

PROFILE = ProfileData(
    email="john.smith@example.com",
    username="jsmith",
    name="Alice Liddell",
    nickname="Al",
    user_metadata={"first": "Bartholomew", "last": 42, "name": "Xo"},
    extra={"phone_number": "5550100"},
)
NO_INFO = {"password_no_personal_info": {"enable": True}}


@pytest.mark.parametrize(
    ("password", "fails"),
    [
        ("xJohn.Smith1", True),  # email local part, any case
        ("example.com!", False),  # the domain is not looked for
        ("ALICE LIDDELL!", True),
        ("xx-jsmith-xx", True),
        ("bartholomew99", True),  # user_metadata.first
        ("Al-42-Xo-ok!", False),  # short and non-string values are ignored
        ("call 5550100", False),  # extra fields only when blocked_fields names them
        ("nothing here", False),
    ],
)
def test_personal_info(password: str, fails: bool) -> None:
    policy = legacy("none", **NO_INFO)
    assert codes(policy, password, PROFILE) == (["personalInfo"] if fails else [])
    assert policy.check(password)
    assert codes(policy, password, ProfileData()) == []


def test_personal_info_error_and_email_edge_cases() -> None:
    policy = legacy("none", **NO_INFO)
    with pytest.raises(PasswordNoUserInfoError) as info:
        policy.enforce("xJohn.Smith1", PROFILE)
    assert str(info.value) == "PasswordNoUserInfoError: Password contains user information"
    assert info.value.rules == ("personalInfo",)
    assert not policy.check("xa@bx", ProfileData(email="a@b@example.com"))  # before the last @
    assert policy.check("xabcx", ProfileData(email="a@b@example.com"))
    assert legacy("none").check("xJohn.Smith1", PROFILE)  # rule off


# -- flexible policy ---------------------------------------------------------------------------


def test_flexible_defaults_are_least_strict() -> None:
    variants: list[dict[str, object]] = [{}, {"complexity": None}, {"complexity": {}}]
    for options in variants:
        policy = PasswordPolicy.from_options(
            {"password_options": options, "passwordPolicy": "good"}
        )
        assert (policy.mode, policy.level, policy.history_size) == ("flexible", None, 0)
        assert [r.code for r in policy.rules] == ["nonEmpty"]
        assert policy.truncates
    assert PasswordPolicy.from_options({"password_options": None}).mode == "legacy"


def test_flexible_character_types_all() -> None:
    policy = flexible(min_length=12, character_types=["special", "number"])
    assert codes(policy, "abcdefghij1!") == []
    assert codes(policy, "abcdefghijk1") == ["shouldContain"]
    assert codes(policy, "abc1!") == ["lengthAtLeast"]
    assert policy.rules[1].message == (
        "Should contain: numbers (i.e. 0-9), special characters (e.g. !@#$%^&*)"
    )
    one = flexible(character_types=["uppercase"], character_type_rule="all")
    assert codes(one, "abc") == ["shouldContain"]
    assert codes(one, "aBc") == []


def test_flexible_three_of_four() -> None:
    kinds = ["uppercase", "lowercase", "number", "special"]
    policy = flexible(min_length=8, character_types=kinds, character_type_rule="three_of_four")
    assert policy.rules[1].message == GOOD_MESSAGE
    assert codes(policy, "abcdEF12") == []
    assert codes(policy, "abcd!!12") == []
    assert codes(policy, "abcdefgh1") == ["containsAtLeast"]


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("abc", False),
        ("321", False),
        ("XYZ", False),
        ("cba", False),
        ("ab", True),
        ("abd", True),
        ("aba", True),  # the direction changes: a new run of 2
        ("a-bc", True),
        ("ab-c", True),
        ("ab1", True),
        ("9:;", True),  # ':' and ';' are not alphanumeric
        ("/01", False),  # quirk: '0' continues from '/' (0x2F), a non-alphanumeric
        ("@AB", False),  # quirk: '@' is 0x40, just before 'A'
        ("x`ab", False),  # quirk: '`' is 0x60, just before 'a'
        ("[ZY", False),  # quirk: descending from '[' (0x5B)
        ("{zy", False),  # quirk: descending from '{' (0x7B)
        ("x@BC", True),  # '@' resets; 'B' is 2 after '@': a run of 1
        ("a", True),
        ("-", True),
        ("", False),  # password-sheriff fails an empty password
        ("P4ssw0rd-9-Zz", True),
    ],
)
def test_flexible_sequential_block(password: str, ok: bool) -> None:
    rule = flexible(sequential_characters="block").rules[-1]
    assert rule.code == "sequentialChars"
    assert rule.message == (
        'No more than 2 sequential alphanumeric characters (e.g., "abc" not allowed)'
    )
    assert rule.passes(password) is ok


def test_flexible_identical_block_and_allow() -> None:
    policy = flexible(identical_characters="block")
    assert codes(policy, "000") == ["identicalChars"]
    assert codes(policy, "a00b00") == []
    assert (
        codes(flexible(identical_characters="allow", sequential_characters="allow"), "000abc") == []
    )


def test_flexible_max_length_error_and_truncate() -> None:
    strict = flexible(max_length_exceeded="error")
    assert not strict.truncates
    assert codes(strict, "a" * 72) == []
    assert codes(strict, "é" * 36) == []
    assert codes(strict, "a" * 73) == ["maxLength"]
    assert codes(strict, "é" * 36 + "a") == ["maxLength"]
    assert strict.rules[-1].message == "Maximum password length exceeded"
    with pytest.raises(PasswordStrengthError) as info:
        strict.enforce("a" * 73)
    assert info.value.rules == ("maxLength",)
    assert strict.secret_for_hashing("a" * 73) == b"a" * 73
    loose = flexible(max_length_exceeded="truncate")
    assert loose.truncates
    assert loose.check("a" * 73)
    assert loose.secret_for_hashing("a" * 73) == b"a" * 72


def test_flexible_dictionary_profile_data_history() -> None:
    policy = PasswordPolicy.from_options(
        {
            "password_options": {
                "dictionary": {"active": True, "custom": ["Tenant-Name"], "default": "en_100k"},
                "profile_data": {"active": True, "blocked_fields": ["phone_number"]},
                "history": {"active": True, "size": 10},
            }
        }
    )
    assert [r.code for r in policy.rules] == ["nonEmpty", "dictionary", "personalInfo"]
    assert codes(policy, "tenant-name") == ["dictionary"]
    assert codes(policy, "Password") == ["dictionary"]  # en_100k falls back to the 10k list
    assert codes(policy, "call 5550100", PROFILE) == ["personalInfo"]
    assert codes(policy, "jsmith!", PROFILE) == ["personalInfo"]
    assert policy.history_size == 10
    off = PasswordPolicy.from_options({"password_options": {"dictionary": {"active": False}}})
    assert off.check("password")


@pytest.mark.parametrize(
    ("options", "size"),
    [
        ({}, 0),
        ({"password_history": {"enable": True, "size": 3}}, 3),
        ({"password_history": {"enable": False, "size": 3}}, 0),
        ({"password_history": {"enable": True}}, 5),
        ({"password_history": None}, 0),
        ({"password_options": {"history": {"active": True, "size": 24}}}, 24),
        ({"password_options": {"history": {"active": False, "size": 24}}}, 0),
        ({"password_options": {}, "password_history": {"enable": True, "size": 3}}, 0),
    ],
)
def test_history_size(options: Mapping[str, object], size: int) -> None:
    assert PasswordPolicy.from_options(options).history_size == size


# -- enforce, hashing, robustness --------------------------------------------------------------


def test_enforce_raises_the_first_error_class_with_its_codes() -> None:
    policy = legacy("excellent", password_dictionary={"enable": True}, **NO_INFO)
    with pytest.raises(PasswordStrengthError) as info:
        policy.enforce("aaaa", PROFILE)
    assert str(info.value) == "PasswordStrengthError: Password is too weak"
    assert info.value.rules == ("lengthAtLeast", "containsAtLeast", "identicalChars")
    assert info.value.to_dict() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "PasswordStrengthError: Password is too weak",
    }
    policy.enforce("Tr0ub4dor&3", PROFILE)
    with pytest.raises(PasswordNoUserInfoError):
        policy.enforce("Bartholomew1!", PROFILE)


@pytest.mark.parametrize("password", [None, 12345678, b"Tr0ub4dor&3", ["x"]])
def test_non_string_passwords_fail_every_rule(password: object) -> None:
    policy = legacy("good", password_dictionary={"enable": True}, **NO_INFO)
    assert not policy.check(password)
    assert policy.missing(password) == list(policy.rules)
    with pytest.raises(PasswordStrengthError) as info:
        policy.enforce(password)
    assert info.value.rules == ("lengthAtLeast", "containsAtLeast")


@pytest.mark.parametrize(
    ("password", "secret"),
    [
        ("short", b"short"),
        ("a" * 72, b"a" * 72),
        ("a" * 100, b"a" * 72),
        ("a" * 71 + "é", b"a" * 71 + b"\xc3"),  # raw bytes are cut, like bcrypt
        ("a" * 70 + "😀", b"a" * 70 + b"\xf0\x9f"),
        ("\ud83d\ude00", "😀".encode()),  # a surrogate pair is one character, as in JS
        ("a\udc00", b"a\xef\xbf\xbd"),  # a lone surrogate becomes U+FFFD, as in Node
    ],
)
def test_secret_for_hashing(password: str, secret: bytes) -> None:
    assert legacy("none").secret_for_hashing(password) == secret


def test_odd_options_do_not_crash() -> None:
    odd: list[Mapping[str, object]] = [
        {"passwordPolicy": None, "password_dictionary": None, "password_no_personal_info": None},
        {"password_dictionary": {"enable": True, "dictionary": "password"}},
        {"password_dictionary": {"enable": True, "dictionary": [1, None, "x"]}},
        {"password_options": {"complexity": {"character_types": "special", "min_length": 0}}},
        {"password_options": {"complexity": {"character_types": ["emoji", 3]}}},
        {"password_options": {"profile_data": {"active": True, "blocked_fields": None}}},
        {"password_history": {"enable": True, "size": -4}},
    ]
    for options in odd:
        policy = PasswordPolicy.from_options(options)
        assert policy.check("Tr0ub4dor&3")
        assert not policy.check("")
    assert PasswordPolicy.from_options(None).check("x")


def test_rules_are_values() -> None:
    assert legacy("good").rules == legacy("good").rules
    assert hash(legacy("good").rules[0]) == hash(legacy("good").rules[0])
    rule = PasswordRule("lengthAtLeast", "At least 4 characters in length", {"min_length": 4})
    assert rule.passes("abcd")
    assert not rule.passes("abc")
    assert rule.error is PasswordStrengthError
    with pytest.raises(ValueError, match="unknown password rule"):
        PasswordRule("nope", "Nope")


def test_password_never_appears_in_reprs() -> None:
    secret = "Zq9-sentinel-Ωmega-aaa"
    policy = legacy("excellent", password_dictionary={"enable": True}, **NO_INFO)
    strict = flexible(min_length=72, max_length_exceeded="error")
    for p in (policy, strict):
        before = repr(p)
        missing = p.missing(secret, PROFILE)
        with pytest.raises(PasswordPolicyError) as info:
            p.enforce(secret, PROFILE)
        texts = [repr(p), repr(missing), repr(info.value), str(info.value), repr(info.value.args)]
        assert all(secret not in text for text in texts)
        assert repr(p) == before


# -- properties --------------------------------------------------------------------------------

any_char = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),  # lone surrogates, as JSON "\ud800" gives
    st.sampled_from("aAzZ09!~ -@`[{/:é😀"),
)
passwords = st.text(any_char, max_size=90)
profiles = st.none() | st.builds(
    ProfileData,
    email=st.none() | st.emails(),
    username=st.none() | st.text(max_size=8),
    name=st.none() | st.text(max_size=12),
    nickname=st.none() | st.text(max_size=8),
    user_metadata=st.none()
    | st.dictionaries(st.sampled_from(["first", "last", "name"]), st.text()),
    extra=st.dictionaries(st.sampled_from(["phone_number", "city"]), st.text(max_size=8)),
)
legacy_options = st.fixed_dictionaries(
    {"passwordPolicy": st.sampled_from([None, "none", "low", "fair", "good", "excellent", "x"])},
    optional={
        "password_complexity_options": st.none()
        | st.fixed_dictionaries({"min_length": st.integers(1, 128)}),
        "password_dictionary": st.fixed_dictionaries(
            {"enable": st.booleans(), "dictionary": st.lists(st.text(max_size=10), max_size=3)}
        ),
        "password_no_personal_info": st.fixed_dictionaries({"enable": st.booleans()}),
    },
)
flexible_options = st.fixed_dictionaries(
    {
        "password_options": st.fixed_dictionaries(
            {},
            optional={
                "complexity": st.fixed_dictionaries(
                    {},
                    optional={
                        "min_length": st.integers(1, 72),
                        "character_types": st.lists(
                            st.sampled_from(["uppercase", "lowercase", "number", "special"]),
                            unique=True,
                        ),
                        "character_type_rule": st.sampled_from(["all", "three_of_four"]),
                        "identical_characters": st.sampled_from(["allow", "block"]),
                        "sequential_characters": st.sampled_from(["allow", "block"]),
                        "max_length_exceeded": st.sampled_from(["truncate", "error"]),
                    },
                ),
                "dictionary": st.fixed_dictionaries(
                    {"active": st.booleans(), "custom": st.lists(st.text(max_size=10), max_size=3)}
                ),
                "profile_data": st.fixed_dictionaries(
                    {"active": st.booleans(), "blocked_fields": st.just(["phone_number"])}
                ),
            },
        )
    }
)
policies = st.builds(PasswordPolicy.from_options, legacy_options | flexible_options)


@given(policies, st.one_of(passwords, st.none(), st.integers()), profiles)
def test_check_missing_and_enforce_agree(
    policy: PasswordPolicy, password: object, profile: ProfileData | None
) -> None:
    missing = policy.missing(password, profile)
    assert policy.check(password, profile) == (missing == [])
    if not missing:
        policy.enforce(password, profile)
        return
    with pytest.raises(PasswordPolicyError) as info:
        policy.enforce(password, profile)
    assert type(info.value) is missing[0].error
    assert info.value.rules == tuple(r.code for r in missing if r.error is missing[0].error)


@given(policies, passwords, profiles)
def test_arbitrary_text_never_crashes_or_leaks(
    policy: PasswordPolicy, password: str, profile: ProfileData | None
) -> None:
    before = repr(policy)
    if policy.missing(password, profile):
        with pytest.raises(PasswordPolicyError) as info:
            policy.enforce(password, profile)
        exc = info.value
        assert repr(exc) == repr(type(exc)(rules=exc.rules))  # nothing of the password in it
        assert str(exc) == type(exc).default_message
    else:
        policy.enforce(password, profile)
    assert repr(policy) == before
    secret = policy.secret_for_hashing(password)
    assert isinstance(secret, bytes)
    if policy.truncates:
        assert len(secret) <= 72


@st.composite
def excellent_passwords(draw: st.DrawFn) -> str:
    """At least 3 of the 4 classes, 10+ code units, no 3 identical characters in a row."""
    classes = [string.ascii_lowercase, string.ascii_uppercase, string.digits, SPECIALS]
    chosen = draw(st.permutations(classes))[: draw(st.integers(3, 4))]
    parts = [draw(st.sampled_from(chars)) for chars in chosen]
    filler = draw(st.lists(st.sampled_from(string.printable[:95] + "é😀"), min_size=10))
    password = "".join(draw(st.permutations(parts + filler)))
    password = re.sub(r"(.)\1\1+", r"\1\1", password)
    assume(len(password.encode("utf-16-le")) // 2 >= 10)
    return password


@given(excellent_passwords())
def test_built_excellent_passwords_pass(password: str) -> None:
    assert legacy("excellent").missing(password) == []
    legacy("excellent").enforce(password)
