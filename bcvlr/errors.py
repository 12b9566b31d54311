"""User errors: a bad command line, config, dataset, expert or folder. `bcvlr` prints any of them
(and any OSError) as one line and exits 2; every other exception is a bug and keeps its
traceback. A module raising a user error subclasses ``UserError`` beside its usual base."""


class UserError(Exception):
    """A problem the user can fix; its message names it and, where there is one, the fix."""


class CliError(UserError):
    """A bad command-line value or combination of them."""
