"""The one error type users see: the command line prints its message, without a traceback."""


class BrainganError(Exception):
    """A problem with the user's input or files, explained in one line (exit code 2)."""
