"""Sample blocks flowing from sources into the receiver."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class IQChunk:
    """Consecutive complex baseband samples; ``start_sample`` counts from the stream start.

    A stream's chunks follow each other without overlap; a chunk that starts after the previous
    one ended follows a gap (samples a live source dropped), which stages treat as the end of one
    stretch of signal and the start of the next, keeping the absolute numbering."""

    samples: np.ndarray  # complex64, 1-D
    start_sample: int
    sample_rate_hz: float
    center_freq_hz: float

    @property
    def end_sample(self) -> int:
        return self.start_sample + len(self.samples)
