"""An embeddable identity store with Auth0's user semantics."""

from . import errors
from ._async import AsyncIdentityStore
from ._models import (
    Connection,
    Event,
    EventsPage,
    ImportResult,
    Ticket,
    User,
    UserBlock,
    UsersPage,
)
from ._store import IdentityStore
from .errors import IdentityStoreError
from .hashing import Hasher, PasswordHasher
from .notify import InMemoryNotifier, Message, Notifier
from .passwords import PasswordPolicy

__version__ = "0.1.0"

__all__ = [
    "AsyncIdentityStore",
    "Connection",
    "Event",
    "EventsPage",
    "Hasher",
    "IdentityStore",
    "IdentityStoreError",
    "ImportResult",
    "InMemoryNotifier",
    "Message",
    "Notifier",
    "PasswordHasher",
    "PasswordPolicy",
    "Ticket",
    "User",
    "UserBlock",
    "UsersPage",
    "__version__",
    "errors",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
