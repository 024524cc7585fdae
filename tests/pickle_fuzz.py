"""Byte-level fuzzing of the pickle readers (run by tests/test_pickle_fuzz.py in a subprocess).

Valid pickles of every kind the readers take (PYSKL annotation files with 2D keypoints and
scores and with 3D keypoints, InfActPrimitive clips; pickle protocols 2, 4 and 5 and the
PYSKL writer's own form) are mutated (bytes flipped, inserted, deleted, duplicated, the
file truncated, an opcode swapped for another) and read with the readers. A read must give
a MotionSet or a DataError; any other exception is a failure, printed with the case that
made it; a crash kills this process (the test sees the signal).

    python tests/pickle_fuzz.py --seed 0 --count 3000 --seconds 8   # a run
    python tests/pickle_fuzz.py --seed 0 --case 1234                 # one case again
"""
from __future__ import annotations

import argparse
import io
import os
import pickle
import pickletools
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reader_fixtures import infact_clips, pyskl_doc  # noqa: E402

from infagenc.data import DataError  # noqa: E402
from infagenc.data.demo import make_demo  # noqa: E402
from infagenc.data.readers.infact import read_infact  # noqa: E402
from infagenc.data.readers.pyskl import _PortablePickler, read_pyskl  # noqa: E402

_OPCODES = [op.code.encode("latin-1") for op in pickletools.opcodes]


def corpus() -> list[tuple[str, bytes]]:
    """(kind, pickle bytes): small valid files of every supported kind."""
    out = []
    for proto in (2, 4, 5):
        out.append(("pyskl", pickle.dumps(pyskl_doc(3, v=17, c=2, score=True, t=4), protocol=proto)))
        out.append(("pyskl", pickle.dumps(pyskl_doc(3, v=25, c=3, persons=2, t=4), protocol=proto)))
        out.append(("infact", pickle.dumps(infact_clips(3, t=4), protocol=proto)))
    ms = make_demo(num_subjects=1, per_class=1, seed=0, rep="xyz", min_len=3, max_len=4)
    from infagenc.data.readers.pyskl import write_pyskl

    with tempfile.TemporaryDirectory() as d:
        written = write_pyskl(ms, Path(d) / "w.pkl").read_bytes()
    out.append(("pyskl", written))
    buf = io.BytesIO()
    _PortablePickler(buf, protocol=2).dump(pyskl_doc(2, v=25, t=3))
    out.append(("pyskl", buf.getvalue()))
    return out


def _opcode_starts(data: bytes) -> list[int]:
    try:
        return [pos for _, _, pos in pickletools.genops(data)]
    except Exception:  # noqa: BLE001 - a mutated pickle: fall back to any position
        return []


def mutate(data: bytes, rng: np.random.Generator, starts: list[int]) -> bytes:
    """One to three random byte-level mutations."""
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        if not b:
            break
        op = int(rng.integers(0, 7))
        i = int(rng.integers(0, len(b)))
        if op == 0:  # flip bits
            b[i] ^= 1 << int(rng.integers(0, 8))
        elif op == 1:  # random byte
            b[i] = int(rng.integers(0, 256))
        elif op == 2:  # insert
            b[i:i] = bytes(rng.integers(0, 256, size=int(rng.integers(1, 5)), dtype=np.uint8))
        elif op == 3:  # delete
            del b[i:i + int(rng.integers(1, 9))]
        elif op == 4:  # truncate
            del b[i:]
        elif op == 5 and starts:  # swap an opcode for another
            j = starts[int(rng.integers(0, len(starts)))]
            if j < len(b):
                b[j] = _OPCODES[int(rng.integers(0, len(_OPCODES)))][0]
        else:  # duplicate a slice elsewhere
            n = int(rng.integers(1, 33))
            k = int(rng.integers(0, len(b)))
            b[k:k] = b[i:i + n]
    return bytes(b)


def read_case(kind: str, path: Path, k: int) -> None:
    on_bad = ("error", "skip")[k % 2]
    if kind == "pyskl":
        read_pyskl(path, on_bad=on_bad, progress=False)
    else:
        read_infact(path, field=("pose", "keypoint")[(k // 2) % 2], on_bad=on_bad, progress=False)


def run(seed: int, count: int, seconds: float, only: int | None = None) -> int:
    items = corpus()
    starts = [_opcode_starts(data) for _, data in items]
    failures, done, ok = [], 0, 0
    t0 = time.monotonic()
    shm = Path("/dev/shm")  # a memory file system where there is one: the loop writes a file per case
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None) as d:
        path = Path(d) / "fuzz.pkl"
        for k in range(count if only is None else only + 1):
            rng = np.random.default_rng([seed, k])
            j = int(rng.integers(0, len(items)))
            data = mutate(items[j][1], rng, starts[j])
            if only is not None and k != only:
                continue
            if only is None and time.monotonic() - t0 > seconds:
                break
            print(f"case {k}", file=sys.stderr, flush=True)  # the last line names a crashing case
            path.write_bytes(data)
            try:
                read_case(items[j][0], path, k)
                ok += 1
            except DataError:
                pass
            except Exception:  # noqa: BLE001 - what the test is looking for
                failures.append(f"case {k} ({items[j][0]}):\n{traceback.format_exc(limit=4)}")
            done += 1
    print(f"fuzz: {done} cases, {ok} read, {done - ok - len(failures)} DataError, {len(failures)} other "
          f"({time.monotonic() - t0:.1f} s)")
    for f in failures[:10]:
        print(f)
    return 1 if failures else 0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--count", type=int, default=3000)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--case", type=int, default=None, help="run only this case")
    a = p.parse_args()
    return run(a.seed, a.count, a.seconds, a.case)


if __name__ == "__main__":
    sys.exit(main())
