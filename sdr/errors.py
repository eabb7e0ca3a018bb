"""Exceptions for caller mistakes that the command line turns into one-line messages."""


class UserError(Exception):
    """A mistake in the user's request (bad option, unreadable file): one line, no traceback."""
