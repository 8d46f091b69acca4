"""Errors a user can act on.

Anything raised as :class:`EdgeloopError` is the user's to fix (a missing file, a bad
recipe key, data of the wrong shape); the CLI prints its message as one line and exits
with status 2. Everything else is a bug and keeps its traceback.
"""


class EdgeloopError(Exception):
    """Bad input: reported as one line, exit status 2."""


class VerificationError(EdgeloopError):
    """A converted model failed a check (float op where int8 was asked, dynamic shape …)."""
