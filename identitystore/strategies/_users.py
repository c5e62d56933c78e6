"""Users persisted in a store as they are drawn."""

from __future__ import annotations

from hypothesis import reject
from hypothesis import strategies as st

from .. import IdentityStore, User, errors
from ._bodies import DB, create_user_bodies
from ._oracles import Strategy


def users(store: IdentityStore, connection: str = DB) -> Strategy[User]:
    """Users created in ``store`` (in ``connection``) as they are drawn.

    Every draw writes to ``store``, which Hypothesis does not reset between examples: make the
    store inside the test and draw with ``st.data()`` (see docs/strategies.md). A drawn body that
    collides with an existing user is drawn again.

    Raises:
        UnknownConnectionError: ``connection`` is not in ``store`` (when drawing).
    """

    @st.composite
    def created(draw: st.DrawFn) -> User:
        found = store.get_connection(connection)
        bodies = create_user_bodies(found)
        for _ in range(10):
            try:
                return store.create_user(connection, **draw(bodies))
            except (errors.UserExistsError, errors.UsernameInUseError):
                continue
        reject()  # pragma: no cover - ten collisions in a row

    return created()
