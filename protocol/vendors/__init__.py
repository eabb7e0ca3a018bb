"""The vendor layer: readings of meter families, after the generic layers (docs/meters.md).

``spec`` says how a family is declared, ``oms`` holds the standard record readings, one module
per family group declares ``FAMILIES``, and ``registry`` lists the modules and is the decoder's
step (``add_readings``).
"""
