"""The ``with`` protocol for the writers and displays of ``sdr`` that own something to close."""

from __future__ import annotations

from typing import Self


class Closing:
    """Base for objects with ``close()``: ``with Thing(...) as thing:`` closes it on the way out."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
