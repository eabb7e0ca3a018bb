"""IQ signal processing: channelizer, FSK demodulation, sync search, clock recovery."""
