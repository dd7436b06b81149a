"""The quick demo's HDPGMM fit alone and beside CPU-burning neighbours: the slowdown ratio.

A fair fit on a shared machine slows in proportion to its share of the cores: with
neighbours busy on half of them, about 2× (the goal is ≤ 2.5×). The fit runs in a fresh
process (the demo's settings: K 64, T 16, batch 16, 30 passes at most) with hdpmusic's
default threads, first on an idle machine, then beside ``cpu_count / 2`` busy-looping
processes; ``--wait-policy ACTIVE`` repeats it with spinning OpenMP waiters (the setting
before the fix) for contrast. Prints one JSON line.

    python benchmarks/bench_contention.py [--corpus GENRE.h5] [--wait-policy ACTIVE]

Without ``--corpus`` the quick demo's collection is built first (``hdpmusic demo --quick``
in a temporary folder, about a minute).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_FIT = """
import sys, time, warnings
warnings.simplefilter("ignore")
from hdpmusic import HDPGMM, Corpus
corpus = Corpus.open(sys.argv[1])
start = time.perf_counter()
HDPGMM(n_components=64, n_song_components=16, batch_size=16, max_epochs=30, eta0=0.0,
       local_max_iter=50, device="cpu", verbose=False).fit(corpus)
print(time.perf_counter() - start)
"""


def _burn(stop: float) -> None:
    while time.time() < stop:
        pass


def fit_seconds(corpus: Path, policy: str | None) -> float:
    """Seconds of one fit in a fresh process (``OMP_WAIT_POLICY=policy`` when given)."""
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    done = subprocess.run([sys.executable, "-c", _FIT, str(corpus)], env=env, check=True,
                          capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def busy_fit_seconds(corpus: Path, policy: str | None, neighbours: int) -> float:
    """Seconds of one fit beside ``neighbours`` busy-looping processes."""
    stop = time.time() + 3600
    burners = [mp.Process(target=_burn, args=(stop,), daemon=True) for _ in range(neighbours)]
    for p in burners:
        p.start()
    try:
        return fit_seconds(corpus, policy)
    finally:
        for p in burners:
            p.terminate()
            p.join()


def demo_corpus(folder: Path) -> Path:
    """The quick demo's genre corpus, built in ``folder``."""
    subprocess.run([sys.executable, "-m", "hdpmusic", "-q", "demo", "--quick", "--out",
                    str(folder)], check=True, capture_output=True)
    return folder / "quick" / "tasks" / "genre.h5"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--wait-policy", default=None,
                        help="also time with this OMP_WAIT_POLICY (e.g. ACTIVE)")
    args = parser.parse_args()
    neighbours = max(1, (os.cpu_count() or 2) // 2)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = args.corpus or demo_corpus(Path(tmp))
        figures = {"benchmark": "contention", "cpus": os.cpu_count(), "neighbours": neighbours}
        for label, policy in [("default", None), *([(args.wait_policy, args.wait_policy)]
                                                   if args.wait_policy else [])]:
            idle = fit_seconds(corpus, policy)
            busy = busy_fit_seconds(corpus, policy, neighbours)
            figures[label] = {"idle_s": round(idle, 1), "busy_s": round(busy, 1),
                              "ratio": round(busy / idle, 2)}
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
