"""Exceptions for caller mistakes that the command line turns into one-line messages."""


class UserError(Exception):
    """A mistake in what the user asked for (bad option, unreadable file); shown without traceback."""
