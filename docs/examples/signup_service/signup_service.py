"""A small sign-up and sign-in service on identitystore: the auth module of an app.

Each method answers like an HTTP handler would: a status code and a JSON body, Auth0's error
bodies included, so the app's own tests can assert on what its clients would see.
"""

from __future__ import annotations

from typing import Any

from identitystore import IdentityStore, errors

CONNECTION = "Username-Password-Authentication"
PLANS = ("free", "pro")

Response = tuple[int, dict[str, Any]]


class SignupService:
    """Sign-up with email and password, email verification, sign-in, and paid plans.

    The app's own rule: only users with a verified email may move to the ``pro`` plan.
    """

    def __init__(self, store: IdentityStore) -> None:
        self.store = store

    def sign_up(self, email: str, password: str) -> Response:
        """Create the account; the store emails a verification link."""
        try:
            user = self.store.create_user(
                CONNECTION, email=email, password=password, app_metadata={"plan": "free"}
            )
        except errors.IdentityStoreError as exc:
            return exc.status_code, exc.to_dict()
        return 201, {"user_id": user.user_id, "email": user.email, "plan": "free"}

    def confirm_email(self, ticket: str) -> Response:
        """Follow the emailed link."""
        try:
            user = self.store.verify_email(ticket)
        except errors.InvalidTicketError as exc:
            return exc.status_code, exc.to_dict()
        return 200, {"user_id": user.user_id, "email_verified": True}

    def sign_in(self, email: str, password: str, *, ip: str) -> Response:
        """Check the password; refusals carry the Authentication API's error body."""
        try:
            user = self.store.authenticate(CONNECTION, email, password, ip=ip)
        except errors.AuthenticationError as exc:
            return exc.status_code, exc.to_oauth_dict()
        plan = (user.app_metadata or {}).get("plan", "free")
        return 200, {"user_id": user.user_id, "plan": plan, "logins": user.logins_count}

    def change_plan(self, user_id: str, plan: str) -> Response:
        """Move a user to another plan; ``pro`` needs a verified email."""
        if plan not in PLANS:
            return 400, {"error": "unknown_plan", "plans": list(PLANS)}
        try:
            user = self.store.get_user(user_id)
        except errors.UserNotFoundError as exc:
            return exc.status_code, exc.to_dict()
        if plan == "pro" and not user.email_verified:
            return 403, {"error": "email_not_verified"}
        user = self.store.update_user(user_id, app_metadata={"plan": plan})
        return 200, {"user_id": user.user_id, "plan": plan}

    def close_account(self, user_id: str) -> Response:
        """Delete the user (idempotent, like Auth0)."""
        self.store.delete_user(user_id)
        return 204, {}
