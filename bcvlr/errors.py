"""User errors: a bad command line, config, dataset, expert or folder. `bcvlr` (and every other
command of the suite, through ``report_user_errors``) prints any of them (and any OSError) as
one line and exits 2; every other exception is a bug and keeps its traceback. A module raising
a user error subclasses ``UserError`` beside its usual base."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


class UserError(Exception):
    """A problem the user can fix; its message names it and, where there is one, the fix."""


class CliError(UserError):
    """A bad command-line value or combination of them."""


def report_user_errors(prog: str, call: Callable[[], object]) -> int:
    """Run a command's ``call``: 0 when it returns; a user error or an OSError (a full disk, a
    read-only or missing folder) as one line on stderr and 2; a closed pipe (``| head``) 1."""
    try:
        call()
    except UserError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as e:
        print(f"{prog}: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    return 0
