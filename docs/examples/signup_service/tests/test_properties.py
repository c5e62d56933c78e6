"""Properties of the service over many generated inputs (Hypothesis)."""

from __future__ import annotations

from collections.abc import Callable

from conftest import PASSWORD
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from signup_service import SignupService

from identitystore import IdentityStore

SHARED_FIXTURE = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SHARED_FIXTURE
@given(password=st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=30))
def test_sign_up_either_creates_or_answers_like_auth0(
    identity_store_factory: Callable[..., IdentityStore], password: str
) -> None:
    service = SignupService(identity_store_factory())  # a fresh store per example
    status, body = service.sign_up("jane@example.com", password)
    if status == 201:
        assert service.sign_in("jane@example.com", password, ip="10.0.0.1")[0] == 200
    else:
        assert status == 400
        assert body["statusCode"] == 400
        assert service.sign_in("jane@example.com", password, ip="10.0.0.1")[0] == 403


@SHARED_FIXTURE
@given(plan=st.text(max_size=10))
def test_only_known_plans(identity_store_factory: Callable[..., IdentityStore], plan: str) -> None:
    service = SignupService(identity_store_factory())
    _, body = service.sign_up("jane@example.com", PASSWORD)
    status, _ = service.change_plan(body["user_id"], plan)
    assert status == {"free": 200, "pro": 403}.get(plan, 400)
