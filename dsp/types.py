"""Sample blocks flowing from sources into the receiver."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class IQChunk:
    """Consecutive complex baseband samples; ``start_sample`` counts from the stream start."""

    samples: np.ndarray  # complex64, 1-D
    start_sample: int
    sample_rate_hz: float
    center_freq_hz: float

    @property
    def end_sample(self) -> int:
        return self.start_sample + len(self.samples)
