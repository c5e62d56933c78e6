"""Properties of the service over generated input, with identitystore's Hypothesis strategies."""

from __future__ import annotations

from collections.abc import Callable

from conftest import PASSWORD
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from signup_service import CONNECTION, SignupService

from identitystore import IdentityStore, PasswordPolicy
from identitystore.strategies import emails, passwords

#: The policy of the connection the service signs users up in (the default one: "good").
POLICY = PasswordPolicy.from_options({"passwordPolicy": "good"})
#: The factory fixture is function-scoped on purpose: each example makes its own store with it.
SHARED_FIXTURE = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
Factory = Callable[..., IdentityStore]


@SHARED_FIXTURE
@given(email=emails(), password=passwords(POLICY))
def test_anyone_auth0_accepts_can_sign_up_and_in(
    identity_store_factory: Factory, email: str, password: str
) -> None:
    service = SignupService(identity_store_factory())  # a fresh store per example
    status, body = service.sign_up(email, password)
    assert (status, body["email"]) == (201, email.lower())
    assert service.sign_in(email, password, ip="10.0.0.1")[0] == 200


@SHARED_FIXTURE
@given(password=passwords(POLICY, valid=False))
def test_passwords_auth0_refuses_get_auth0s_answer(
    identity_store_factory: Factory, password: str
) -> None:
    service = SignupService(identity_store_factory())
    status, body = service.sign_up("jane@example.com", password)
    assert (status, body["statusCode"]) == (400, 400)
    assert body["message"].startswith(("PasswordStrengthError", "Payload validation error"))
    assert service.sign_in("jane@example.com", password, ip="10.0.0.1")[0] == 403


@SHARED_FIXTURE
@given(plan=st.text(max_size=10))
def test_only_known_plans(identity_store_factory: Factory, plan: str) -> None:
    service = SignupService(identity_store_factory())
    _, body = service.sign_up("jane@example.com", PASSWORD)
    status, _ = service.change_plan(body["user_id"], plan)
    assert status == {"free": 200, "pro": 403}.get(plan, 400)


def test_the_connection_is_the_default_one(identity_store: IdentityStore) -> None:
    options = identity_store.get_connection(CONNECTION).options
    assert PasswordPolicy.from_options(options) == POLICY
