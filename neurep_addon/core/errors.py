"""Exceptions of the core. Front ends catch these and show their message as it is."""


class NeuRepError(Exception):
    """Base class: a problem the user can act on, with a message that says what to do."""


class InputError(NeuRepError):
    """The input geometry or file cannot be used (missing, unreadable, degenerate)."""


class PriorError(NeuRepError):
    """A prior file is missing, corrupt, or does not match the requested network."""


class FitCancelled(NeuRepError):
    """The user cancelled a fit; nothing was produced."""
