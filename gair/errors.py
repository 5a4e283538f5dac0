"""Errors that reach the user as one line, without a traceback."""


class GairError(Exception):
    """Base class: the command line prints ``error: <message>`` and exits with status 2."""


class ConfigError(GairError, ValueError):
    """A setting has the wrong name, type or range."""


class DataError(GairError):
    """A dataset is unknown or its files are missing."""


class CheckpointError(GairError):
    """A checkpoint is missing, truncated, corrupt or unsafe."""


class TrainingDiverged(GairError):
    """The loss became NaN or infinite."""
