"""Reading a small file a user names (key file, password file, TLS certificate) without trusting
it: at most a stated size (``/dev/zero`` is not read to its end), pipes such as
``<(pass show meters)`` included, one-line errors naming the option, and a warning when a file
holding secrets is open to group or others."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from sdr.errors import UserError

SHARED_MODE_BITS = 0o077  # permission bits of group and others


def _size(max_bytes: int) -> str:
    return f"{max_bytes >> 20} MiB" if max_bytes >= 1 << 20 else f"{max_bytes >> 10} KiB"


def read_limited(
    option: str,
    path: str,
    max_bytes: int,
    what: str,
    *,
    warn_shared: Callable[[str], None] | None = None,
) -> bytes:
    """The bytes of ``path`` (``option`` names where it came from, ``what`` what it should be,
    e.g. "a key file"); ``warn_shared`` is told when a regular file is readable by others."""
    try:
        with open(path, "rb") as stream:
            mode = os.fstat(stream.fileno()).st_mode
            data = stream.read(max_bytes + 1)
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot read ({exc.strerror})") from None
    if len(data) > max_bytes:
        raise UserError(f"{option} {path}: larger than {_size(max_bytes)}, not {what}")
    # Only a regular file's permissions mean anything; a pipe or device is the user's business.
    if warn_shared is not None and stat.S_ISREG(mode) and mode & SHARED_MODE_BITS:
        warn_shared(
            f"{option} {path}: group or others may read it (mode {stat.S_IMODE(mode):04o}); "
            "chmod 600 it"
        )
    return data
