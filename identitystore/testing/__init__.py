"""Tools for testing with identitystore and for testing identitystore's extension points.

* ``identitystore.testing.backend_suite``: the conformance tests a storage backend must pass.
* ``identitystore.testing.stateful``: ``IdentityStoreMachine``, a Hypothesis state machine to
  subclass (needs ``identitystore[hypothesis]``).
* ``identitystore.testing.plugin``: the pytest plugin (fixtures ``identity_store`` and friends),
  registered through the ``pytest11`` entry point.
* ``identitystore.testing.helpers``: what the fixtures are made of, usable without pytest:
  ``ManualClock``, ``Outbox``, ``seed_users`` and ``Snapshot``.

Nothing here is imported by the store itself.
"""
