"""Auth0's Management API over HTTP(S), backed by an ``IdentityStore`` (docs/emulator.md).

Unmodified Auth0 SDKs (auth0-python, Node's ``auth0``) point at it instead of a tenant::

    from identitystore.emulator import Emulator

    with Emulator(tls=True) as emu:
        ...  # ManagementClient(domain=emu.domain, client_id=emu.client_id, ...)

Needs the ``emulator`` extra (``pip install 'identitystore[emulator]'``); ``import identitystore``
never loads it.
"""

from ._app import EmulatorApp, create_app
from ._controls import OffsetClock
from ._server import Emulator

__all__ = ["Emulator", "EmulatorApp", "OffsetClock", "create_app"]
