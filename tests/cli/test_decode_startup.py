"""``wmbus decode`` starts without the heavy parts of scipy (issue 15: start-up CPU).

Importing ``scipy.signal``, ``scipy.ndimage``, ``scipy.stats`` or ``scipy.special`` costs a
tenth to half a second each, more than decoding a short capture; the receiver has numpy
stand-ins for what it used of them (tests/dsp/test_scipy_equivalents.py). How long start-up
takes is measured in ``benchmarks/speed.py``; this test checks what a real decode loads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import RECORDINGS, REPO

HEAVY = ("scipy.signal", "scipy.ndimage", "scipy.stats", "scipy.special")
# T1, C1 and S1 telegrams: every channel of the receiver and its per-burst work runs.
MIXED = RECORDINGS / "sim_mixed_868.625M_2400k.cu8"


def test_decoding_a_capture_loads_no_heavy_scipy_module(tmp_path: Path) -> None:
    loaded = tmp_path / "modules.json"
    probe = (
        "import json, sys\n"
        "from sdr.cli import main\n"
        f"code = main(['decode', {str(MIXED)!r}, '--json'])\n"
        f"json.dump(sorted(sys.modules), open({str(loaded)!r}, 'w'))\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    telegrams = [json.loads(line) for line in done.stdout.splitlines()]
    expected = json.loads(MIXED.with_suffix(".json").read_text())["telegrams"]
    # The decode really ran: every telegram of the recording came out.
    assert len(telegrams) == len(expected)
    modules = json.loads(loaded.read_text())
    assert "dsp.receiver" in modules
    assert [m for m in modules if m.split(".")[:2] in [h.split(".") for h in HEAVY]] == []
