"""Synthetic signals with their truth, made with the project's modulator.

- ``telegrams``: realistic random meter telegrams
- ``stream``: bursts rendered into a noisy stream at a stated Ec/N0 (tests and benchmarks)
- ``recording``: one recording file plus its truth file (``wmbus simulate``)
- ``scenario``: a building described in TOML: meters, schedules, receiver locations
- ``building``: a scenario rendered into one recording per location plus ``truth.json``
"""
