"""The one error type users see: the command line prints its message, without a traceback."""


class BrainganError(Exception):
    """A problem with the user's input or files, explained in one line (exit code 2)."""


def shown(path: object) -> str:
    """``path`` as text safe for a terminal or a log line: as it is when every character prints,
    else quoted and escaped (repr), so a file name with a newline or an ANSI escape cannot forge
    or recolour the lines around it."""
    text = str(path)
    return text if text.isprintable() else repr(text)
