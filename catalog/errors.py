"""livecat's error hierarchy.

Every error a user can cause or fix is a :class:`LivecatError`; its message says what was
wrong, where (file, row, column, value), what was expected and what to try. The CLI turns
these into one ``Error: ...`` line on stderr and exit code 1. Programming errors are not
LivecatErrors and keep their traceback.
"""


class LivecatError(Exception):
    """Base class of every error livecat reports to a user without a traceback."""


class InputError(LivecatError):
    """The user's input (argument, file, row, value) is invalid."""


class SourceError(LivecatError):
    """A remote service or an input file could not be read as expected."""


class ConfigError(LivecatError):
    """Configuration or environment problem: unreachable database, bad setting."""


class ConflictError(LivecatError):
    """A concurrent change or a state that contradicts the requested action."""
