"""The one error type users see: a message, no traceback, exit code 2."""


class UserError(Exception):
    """Bad input from the user (a file, an option, a missing tool). The CLI prints it and exits 2."""
