"""A fit, an extraction and the quick demo alone and beside CPU-burning neighbours: the
slowdown ratio of each.

A fair program on a shared machine slows in proportion to its share of the cores: with
neighbours busy on half of them, about 2× (the goal is ≤ 2.5×). Each stage runs in a fresh
process with hdpmusic's default threads and jobs, first on an idle machine, then beside
``cpu_count / 2`` busy-looping processes:

* ``fit``: the quick demo's HDPGMM fit (K 64, T 16, batch 16, 30 passes at most);
* ``extract``: ``hdpmusic extract`` of the quick demo's audio (a fresh cache each time);
* ``demo``: ``hdpmusic demo --quick`` from scratch (rendering, extraction, fits,
  evaluation, report).

``--wait-policy ACTIVE`` repeats the fit with spinning OpenMP waiters (the setting before
the fix) for contrast. Prints one JSON line.

    python benchmarks/bench_contention.py [--demo DIR] [--stages fit,extract,demo]
                                          [--wait-policy ACTIVE]

Without ``--demo`` (the output folder of an earlier ``hdpmusic demo --quick``) the quick
demo's collection is built first in a temporary folder (about a minute).
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


def stage_command(stage: str, demo: Path, scratch: Path) -> list[str]:
    """The command line of one stage (its outputs go to a fresh folder in ``scratch``)."""
    out = Path(tempfile.mkdtemp(dir=scratch))
    if stage == "fit":
        return [sys.executable, "-c", _FIT, str(demo / "quick" / "tasks" / "genre.h5")]
    if stage == "extract":
        return [sys.executable, "-m", "hdpmusic", "-q", "extract",
                str(demo / "quick" / "data" / "audio"), "--out", str(out / "c.h5"),
                "--cache", str(out / "cache")]
    return [sys.executable, "-m", "hdpmusic", "-q", "demo", "--quick", "--out", str(out)]


def seconds(command: list[str], policy: str | None) -> float:
    """Wall seconds of one command in a fresh process (``OMP_WAIT_POLICY=policy`` when
    given; the fit reports its own, without the imports)."""
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    start = time.perf_counter()
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    return float(done.stdout.strip().splitlines()[-1]) if command[1] == "-c" else wall


def busy_seconds(command: list[str], policy: str | None, neighbours: int) -> float:
    """Seconds of one command beside ``neighbours`` busy-looping processes."""
    stop = time.time() + 3600
    burners = [mp.Process(target=_burn, args=(stop,), daemon=True) for _ in range(neighbours)]
    for p in burners:
        p.start()
    try:
        return seconds(command, policy)
    finally:
        for p in burners:
            p.terminate()
            p.join()


def build_demo(folder: Path) -> Path:
    """The quick demo's output folder, built in ``folder``."""
    subprocess.run([sys.executable, "-m", "hdpmusic", "-q", "demo", "--quick", "--out",
                    str(folder)], check=True, capture_output=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=None,
                        help="output folder of an earlier `hdpmusic demo --quick`")
    parser.add_argument("--stages", default="fit,extract,demo")
    parser.add_argument("--wait-policy", default=None,
                        help="also time the fit with this OMP_WAIT_POLICY (e.g. ACTIVE)")
    args = parser.parse_args()
    neighbours = max(1, (os.cpu_count() or 2) // 2)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        demo = args.demo or build_demo(scratch / "built")
        figures = {"benchmark": "contention", "cpus": os.cpu_count(), "neighbours": neighbours}
        runs = [(stage, stage, None) for stage in stages]
        if args.wait_policy and "fit" in stages:
            runs.append((f"fit {args.wait_policy}", "fit", args.wait_policy))
        for label, stage, policy in runs:
            idle = seconds(stage_command(stage, demo, scratch), policy)
            busy = busy_seconds(stage_command(stage, demo, scratch), policy, neighbours)
            figures[label] = {"idle_s": round(idle, 1), "busy_s": round(busy, 1),
                              "ratio": round(busy / idle, 2)}
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
