"""Deterministic benchmark payloads.

Usage: make_payload.py single PATH MIB
       make_payload.py multi DIR TOTAL_MIB FILES

`single` writes one file of MIB MiB of random bytes. `multi` writes FILES
files of varied sizes (none a multiple of 16 KiB, so neither 1 MiB pieces nor
blocks divide them) in nested folders, about TOTAL_MIB MiB in all. The sizes
and layout come from a fixed seed; the contents are random.
"""
import os
import random
import sys

CHUNK = 4 << 20


def write_random(path, size):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(CHUNK, left)
            f.write(os.urandom(n))
            left -= n


def multi_layout(total, files, seed=20261122):
    """(relative path, size) for each file: sizes spread over two orders of
    magnitude, scaled to about `total` bytes, each nudged off any power of
    two; paths one to three folders deep."""
    rng = random.Random(seed)
    weights = [rng.lognormvariate(0, 1.2) for _ in range(files)]
    scale = total / sum(weights)
    layout = []
    for i, w in enumerate(weights):
        size = max(1, int(w * scale))
        if size % (16 * 1024) == 0:
            size += rng.randint(1, 16 * 1024 - 1)
        depth = rng.randint(0, 2)
        dirs = [f"dir{rng.randint(0, 3)}" for _ in range(depth)]
        layout.append((os.path.join(*dirs, f"file{i:02}.bin"), size))
    return layout


def main(argv):
    if len(argv) == 3 and argv[0] == "single":
        write_random(argv[1], int(argv[2]) << 20)
    elif len(argv) == 4 and argv[0] == "multi":
        for rel, size in multi_layout(int(argv[2]) << 20, int(argv[3])):
            write_random(os.path.join(argv[1], rel), size)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
