"""``python -m identitystore``: the command line."""

from .cli import main

main()
