"""Stage times of ``hdpmusic demo`` as a first run: empty folder, numba and music21 caches.

Each mode runs in a fresh process whose numba cache and temporary folder (where music21
keeps the scores it has parsed: a second render of the default collection takes about
half the time of the first) are empty. Prints one JSON line per mode: seconds of every
stage (render, extract, tasks, each model's fit and transform, each model × task
evaluation, report, components), the total, the thread setting, and the scores (mean, SD,
chance per model and task). The README's demo times are these figures.

    python benchmarks/bench_demo.py [--mode quick|default|both] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

_CHILD = """
import json, sys, time
from hdpmusic.pipeline.demo import run_demo
from hdpmusic.evaluation.protocol import summarise
from hdpmusic.runtime.threads import configure, thread_info
configure(None if sys.argv[3] == "0" else int(sys.argv[3]))
start = time.perf_counter()
outcome = run_demo(sys.argv[1], quick=sys.argv[2] == "quick", device="cpu", progress=False)
total = time.perf_counter() - start
print(json.dumps({"benchmark": "demo", "mode": sys.argv[2], "total_seconds": round(total, 1),
                  "threads": thread_info()["threads"],
                  "stages": {k: round(v, 2) for k, v in outcome.timings.items()},
                  "scores": {f"{s['model']} {s['task']}": [round(s["mean"], 4),
                                                           round(s["sd"], 4),
                                                           round(s["chance"], 4)]
                             for s in summarise(outcome.results)}}))
"""


def run_mode(mode: str, threads: int) -> dict:
    """One demo run in a fresh process, folder, numba cache and temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        scratch = os.path.join(tmp, "tmp")
        os.mkdir(scratch)
        env = {**os.environ, "NUMBA_CACHE_DIR": os.path.join(tmp, "numba"), "TMPDIR": scratch}
        done = subprocess.run([sys.executable, "-c", _CHILD, os.path.join(tmp, "demo"), mode,
                               str(threads)], env=env, check=True, stdout=subprocess.PIPE,
                              text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["quick", "default", "both"], default="both")
    parser.add_argument("--threads", type=int, default=0,
                        help="thread setting (0: hdpmusic's default)")
    args = parser.parse_args()
    for mode in ("quick", "default") if args.mode == "both" else (args.mode,):
        print(json.dumps(run_mode(mode, args.threads)), flush=True)


if __name__ == "__main__":
    main()
