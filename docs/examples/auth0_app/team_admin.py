"""The admin module of a small app: invite teammates, list and remove them, through Auth0.

It is ordinary Auth0 code: auth0-python's ``ManagementClient`` configured from the environment
(``AUTH0_DOMAIN``, ``AUTH0_CLIENT_ID``, ``AUTH0_CLIENT_SECRET``), nothing test-specific. Its tests
point it at identitystore's emulator instead of a tenant.
"""

from __future__ import annotations

import os

from auth0.management import ManagementClient
from auth0.management.core.api_error import ApiError

CONNECTION = "Username-Password-Authentication"


class AuthUnavailable(Exception):
    """Auth0 did not answer after the SDK's retries."""


class TeamAdmin:
    """Teammates of one team, kept as users with ``app_metadata.team``."""

    def __init__(self, team: str) -> None:
        self.team = team
        self.auth0 = ManagementClient(
            domain=os.environ["AUTH0_DOMAIN"],
            client_id=os.environ["AUTH0_CLIENT_ID"],
            client_secret=os.environ["AUTH0_CLIENT_SECRET"],
        )

    def invite(self, email: str, temporary_password: str) -> str:
        """The teammate's user id: an existing user of that email joins the team, else one is
        created and sent a verification email."""
        try:
            existing = self.auth0.users.list_users_by_email(email=email)
            if existing:
                user_id = str(existing[0].user_id)
                self.auth0.users.update(user_id, app_metadata={"team": self.team})
                return user_id
            user = self.auth0.users.create(
                connection=CONNECTION,
                email=email,
                password=temporary_password,
                app_metadata={"team": self.team},
            )
            self.auth0.jobs.verification_email.create(user_id=str(user.user_id))
            return str(user.user_id)
        except ApiError as exc:
            if exc.status_code is not None and exc.status_code >= 500:
                raise AuthUnavailable(str(exc.body)) from exc
            raise

    def members(self) -> list[str]:
        """The teammates' emails, sorted."""
        found = self.auth0.users.list(q=f'app_metadata.team:"{self.team}"', search_engine="v3")
        return sorted(str(user.email) for user in found)

    def remove(self, email: str) -> None:
        """Delete the teammate's user."""
        for user in self.auth0.users.list_users_by_email(email=email):
            self.auth0.users.delete(str(user.user_id))
