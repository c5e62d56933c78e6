"""Hypothesis strategies for identity data: create-user bodies, valid and invalid, and their parts.

Needs Hypothesis: ``pip install identitystore[hypothesis]``.

Written from Auth0's ``POST /api/v2/users`` contract, not from identitystore's validation code:
valid values are valid *by construction* (Auth0's schema, validator.js's ``email`` /
``strict-uri`` formats, the connection's username, phone and password rules), and every invalid
body carries the exact error Auth0 answers with (or identitystore's documented choice where Auth0
is silent). The small oracles used to keep generation honest (UTF-16 lengths, JS whitespace,
character classes, the "no personal info" containment) are re-implemented here on purpose, so a
test built on these strategies does not ask the code under test what is valid. Only field names,
limits and descriptions come from :mod:`identitystore.limits`, and password rules are read from a
:class:`~identitystore.PasswordPolicy`'s public ``rules``.

Strategies:

* :func:`create_user_bodies`: bodies a connection accepts;
* :func:`invalid_create_user_bodies`: :class:`InvalidBody` values, one violation each, paired with
  the error it must produce;
* building blocks :func:`emails`, :func:`phone_numbers`, :func:`passwords`, :func:`usernames`,
  :func:`user_ids`, :func:`picture_urls`, :func:`metadata`, and :func:`users` (users persisted in
  a store);
* for bodies of your own: :func:`schema_breakers` (a value that breaks one property, with its
  sentence), :func:`payload_error` (a ``Payload validation error`` sentence), and the text and
  JSON values they are made of (:data:`TEXT_CHARS`, :data:`JSON_SCALARS`, :data:`JSON_VALUES`,
  :data:`METADATA_KEYS`).

The private modules follow the building blocks: ``_oracles`` (the independent checks), ``_text``,
``_contacts`` (emails, phone numbers), ``_fields`` (usernames, ids, pictures, metadata),
``_passwords``, ``_bodies`` (connections and valid bodies), ``_schema`` (one broken property),
``_violations`` (one violation per body) and ``_users``.
"""

from ._bodies import create_user_bodies
from ._contacts import emails, phone_numbers
from ._fields import (
    JSON_SCALARS,
    JSON_VALUES,
    METADATA_KEYS,
    metadata,
    picture_urls,
    user_ids,
    usernames,
)
from ._oracles import payload_error
from ._passwords import passwords
from ._schema import schema_breakers
from ._text import TEXT_CHARS
from ._users import users
from ._violations import VIOLATIONS, InvalidBody, invalid_create_user_bodies

__all__ = [
    "JSON_SCALARS",
    "JSON_VALUES",
    "METADATA_KEYS",
    "TEXT_CHARS",
    "VIOLATIONS",
    "InvalidBody",
    "create_user_bodies",
    "emails",
    "invalid_create_user_bodies",
    "metadata",
    "passwords",
    "payload_error",
    "phone_numbers",
    "picture_urls",
    "schema_breakers",
    "user_ids",
    "usernames",
    "users",
]
