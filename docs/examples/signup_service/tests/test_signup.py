"""The service's behaviour, against identitystore standing in for Auth0."""

from __future__ import annotations

from conftest import PASSWORD
from signup_service import SignupService

from identitystore.testing.helpers import ManualClock, Outbox

ADMIN = "auth0|64b7f0c2a1b2c3d4e5f60001"
NEWCOMER = "auth0|64b7f0c2a1b2c3d4e5f60002"


def test_sign_up_sends_a_verification_link(service: SignupService, identity_outbox: Outbox) -> None:
    status, body = service.sign_up("Jane@Example.com", PASSWORD)
    assert (status, body["email"], body["plan"]) == (201, "jane@example.com", "free")
    assert identity_outbox.verification_link(to="jane@example.com").startswith("https://")


def test_weak_passwords_get_auth0s_answer(service: SignupService) -> None:
    assert service.sign_up("jane@example.com", "password") == (
        400,
        {
            "statusCode": 400,
            "error": "Bad Request",
            "message": "PasswordStrengthError: Password is too weak",
        },
    )


def test_one_account_per_email(service: SignupService) -> None:
    service.sign_up("jane@example.com", PASSWORD)
    status, body = service.sign_up("JANE@example.com", PASSWORD)
    assert (status, body["message"]) == (409, "The user already exists.")


def test_pro_needs_a_verified_email(service: SignupService, identity_outbox: Outbox) -> None:
    _, body = service.sign_up("jane@example.com", PASSWORD)
    assert service.change_plan(body["user_id"], "pro") == (403, {"error": "email_not_verified"})
    ticket = identity_outbox.verification_ticket(to="jane@example.com")
    assert service.confirm_email(ticket)[0] == 200
    assert service.change_plan(body["user_id"], "pro") == (
        200,
        {"user_id": body["user_id"], "plan": "pro"},
    )


def test_the_link_expires_after_five_days(
    service: SignupService, identity_outbox: Outbox, identity_clock: ManualClock
) -> None:
    service.sign_up("jane@example.com", PASSWORD)
    identity_clock.advance(days=5, seconds=1)
    status, body = service.confirm_email(identity_outbox.verification_ticket(to="jane@example.com"))
    assert (status, body["errorCode"]) == (400, "invalid_ticket")


def test_sign_in_refusals_use_the_authentication_api_body(service: SignupService) -> None:
    service.sign_up("jane@example.com", PASSWORD)
    assert service.sign_in("jane@example.com", "wrong", ip="203.0.113.9") == (
        403,
        {"error": "invalid_grant", "error_description": "Wrong email or password."},
    )
    status, body = service.sign_in("jane@example.com", PASSWORD, ip="203.0.113.9")
    assert (status, body["plan"], body["logins"]) == (200, "free", 1)


def test_seeded_users(seeded_service: SignupService) -> None:
    assert seeded_service.sign_in("admin@example.com", PASSWORD, ip="10.0.0.1")[1]["plan"] == "pro"
    assert seeded_service.change_plan(NEWCOMER, "pro")[0] == 403
    assert seeded_service.close_account(NEWCOMER) == (204, {})


def test_each_test_gets_the_seed_back(seeded_service: SignupService) -> None:
    status, _ = seeded_service.change_plan(NEWCOMER, "free")
    assert status == 200  # deleted by the previous test, back here
    assert seeded_service.change_plan("auth0|nobody", "pro")[0] == 404
