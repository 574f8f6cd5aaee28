"""The one base class of every error a user can cause (STYLE 8).

The CLIs catch ``UserError`` alone and print its message as one line (exit 2): a bad config, a missing corpus
or checkpoint, a fleet that cannot be analysed, an output folder that cannot be written. Any other exception is
a bug and keeps its traceback. Subclasses also derive from the builtin they replace (ValueError, RuntimeError),
so code that caught those still does.
"""

from __future__ import annotations

import errno


class UserError(Exception):
    """Something the user did or can fix; the message says what to do."""


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
