"""``python3 -m sdr.cli``: the ``wmbus`` command without installing the entry point."""

import sys

from sdr.cli import main

sys.exit(main())
