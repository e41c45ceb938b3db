"""Exceptions of the core, one type per cause. Front ends catch ``NeuRepError`` and show the message.

A ``ConfigError`` names the setting by its core name (``steps``, ``device``, ...). The core's messages
never name a command-line flag or a Blender field: each front end turns ``setting`` into its own words
with ``ConfigError.describe``.
"""


class NeuRepError(Exception):
    """Base class: a problem the user can act on, with a message that says what to do."""


class InputError(NeuRepError):
    """The input geometry or file cannot be used (missing, unreadable, degenerate)."""


class OutputError(NeuRepError):
    """A result cannot be written where it was asked to go (missing folder, not writable, same as input)."""


class ConfigError(NeuRepError, ValueError):
    """A setting has an invalid value.

    setting: the core's name of the setting (a ``FitConfig``/``NetworkConfig`` field, ``device``, ``seed``,
             ``preset``, ``prior``...); problem: what is wrong, phrased to follow the setting's name.
    """

    def __init__(self, setting: str, problem: str) -> None:
        self.setting, self.problem = setting, problem
        super().__init__(f"{setting} {problem}")

    def describe(self, name: str) -> str:
        """The message with the setting called ``name`` (a flag such as ``--steps``, or a field label)."""
        return f"{name} {self.problem}"

    def __reduce__(self):
        """Pickled as its setting and problem (it crosses from a fit's process to the front end)."""
        return _config_error, (type(self), self.setting, self.problem)


def _config_error(cls: type, setting: str, problem: str) -> ConfigError:
    error = Exception.__new__(cls)
    ConfigError.__init__(error, setting, problem)
    return error


class DeviceError(ConfigError):
    """The requested compute device is not available on this machine."""

    def __init__(self, problem: str) -> None:
        super().__init__("device", problem)


class PriorError(NeuRepError):
    """A prior file is missing, corrupt, or does not match the requested network."""


class FitError(NeuRepError):
    """The fit ran but produced no usable surface (empty level set, non-finite weights)."""


class FitCancelled(NeuRepError):
    """The user cancelled a fit; nothing was produced."""
