"""Fuzzing the pickle readers: thousands of byte-level mutations of valid PYSKL (2D with
scores, 3D with two persons, the writer's own form) and InfActPrimitive pickles, read with the
readers. Each read gives a MotionSet or a DataError, never another exception or a crash.

The loop runs in a child process (tests/pickle_fuzz.py), so a crash of the interpreter fails
this test instead of killing pytest; it is seeded and bounded in count and in time."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from reader_fixtures import child_env
from timeouts import scaled

WORKER = Path(__file__).resolve().parent / "pickle_fuzz.py"
SEED, COUNT, SECONDS = 20240611, 4000, 8.0


def test_mutated_pickles_give_a_motionset_or_a_data_error():
    r = subprocess.run([sys.executable, str(WORKER), "--seed", str(SEED), "--count", str(COUNT),
                        "--seconds", str(SECONDS)], capture_output=True, text=True, timeout=scaled(120), env=child_env())
    last = r.stderr.strip().splitlines()[-1:] or ["(none)"]
    assert r.returncode >= 0, (f"the reader crashed (signal {-r.returncode}) at {last[0]}; rerun it with "
                               f"python tests/pickle_fuzz.py --seed {SEED} --{last[0]}")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    summary = r.stdout.splitlines()[0]
    assert summary.startswith("fuzz: ") and " 0 other" in summary, r.stdout[-4000:]
    done = int(summary.split()[1])
    assert done >= min(COUNT, 300), summary  # the time bound must leave a meaningful number of cases
    print(summary)
