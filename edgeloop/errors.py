"""Errors a user can act on.

Anything raised as :class:`EdgeloopError` is the user's to fix (a missing file, a bad
recipe key, data of the wrong shape); the CLI prints its message as one line and exits
with status 2. Everything else is a bug and keeps its traceback.
"""


class EdgeloopError(Exception):
    """Bad input: reported as one line, exit status 2."""


class VerificationError(EdgeloopError):
    """A converted model failed a check (float op where int8 was asked, dynamic shape …)."""


def refuse_unknown_keys(given, valid, where: str | None = None, noun: str = "option") -> None:
    """Refuse keys of ``given`` that are not in ``valid``, listing the valid ones.

    The one wording of every options mapping (recipe top level, a step's options, the
    target, benchmark and search options): ``<where>: unknown option 'x'; valid options: …``.

    Args:
        given: the keys given (a mapping or any iterable of keys).
        valid: the valid keys, in the order to list them.
        where: names the place (``recipe.yaml: step 2 (prune)``); ``None``: no prefix.
        noun: what a key is called (``option``, ``key``, ``benchmark option``).

    Raises:
        EdgeloopError: some key is unknown.
    """
    valid = list(valid)
    unknown = sorted(set(given) - set(valid), key=str)
    if unknown:
        prefix = f"{where}: " if where else ""
        raise EdgeloopError(f"{prefix}unknown {noun} {', '.join(map(repr, unknown))}; "
                            f"valid {noun.split()[-1]}s: {', '.join(map(str, valid))}")
