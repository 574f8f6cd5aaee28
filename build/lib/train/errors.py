"""The one base class of every error a user can cause.

The CLIs catch ``UserError`` alone and print its message as one line (exit 2): a bad config, a missing corpus
or checkpoint, a fleet that cannot be analysed, an output folder that cannot be written. Any other exception is
a bug and keeps its traceback. Subclasses also derive from the builtin they replace (ValueError, RuntimeError),
so code that caught those still does.
"""

from __future__ import annotations

import errno
import sys
from typing import Callable


class UserError(Exception):
    """Something the user did or can fix; the message says what to do. ``label`` starts its line and
    ``exit_code`` is the CLI's status (2: a usage error)."""

    label, exit_code = "error", 2


class OutputError(UserError, OSError):
    """An output path cannot be written (read-only, no space left); the message names the path."""


WRITE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}


def as_output_error(err: OSError) -> OutputError | None:
    """An OSError raised while writing outputs, as one line naming the path; None for any other OSError."""
    if err.errno not in WRITE_ERRNOS:
        return None
    where = err.filename or "an output file"
    return OutputError(f"cannot write {where}: {err.strerror}; choose another --out or free some space "
                       f"(anything written there is incomplete)")


def run_command(command: Callable[[], int]) -> int:
    """Run one CLI command: a ``UserError``, or an OSError while writing an output, prints one line and returns
    its exit code; so does Ctrl-C (exit 130, as a shell reports SIGINT). Anything else is a bug and raises with
    its traceback."""
    try:
        return command()
    except KeyboardInterrupt:
        print("interrupted: stopped by Ctrl-C; what had finished is kept, and the same command reuses it",
              file=sys.stderr)
        return 130
    except UserError as err:
        print(f"{err.label}: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:
        if (output := as_output_error(err)) is None:
            raise
        print(f"{output.label}: {output}", file=sys.stderr)
        return output.exit_code
