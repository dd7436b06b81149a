"""Data-parallel fitting with torch.distributed (gloo, CPU): equality and failure."""

import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from hdpmusic import HDPGMM, Corpus
from hdpmusic.cli import main
from hdpmusic.model.distributed import shard
from planted import planted_hdp

ARGS = ["--n-components", "10", "--n-song-components", "4", "--batch-size", "16",
        "--epochs", "2", "--seed", "5", "--eta0", "0.05", "--dtype", "float64"]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    X, _ = planted_hdp(seed=6, n_true=5, d=3, songs=40, frames=(15, 35))
    path = tmp_path_factory.mktemp("dist") / "corpus.h5"
    Corpus.from_arrays(X).save(path)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_shards_are_disjoint_and_cover_the_batch():
    batch = np.arange(17)
    parts = [shard(batch, r, 3) for r in range(3)]
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), batch)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert len(shard(np.arange(1), 1, 2)) == 0


@pytest.mark.parametrize("extra, steps", [
    ([], 6),
    (["--early-stopping", "on", "--validation-fraction", "0.25"], 4),   # 30 songs kept
])
def test_two_gloo_ranks_equal_one_process(corpus_file, tmp_path, extra, steps):
    """The same fit, and with early stopping the same held-out scores, which the two
    ranks compute from half of the held-out songs each."""
    one, two = tmp_path / "one.hdp", tmp_path / "two.hdp"
    assert main(["-q", "fit", str(corpus_file), "--out", str(one), *ARGS, *extra]) == 0
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
           "-m", "hdpmusic", "-q", "fit", str(corpus_file), "--out", str(two), *ARGS, *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = HDPGMM.load(one), HDPGMM.load(two)
    assert a.n_steps_ == b.n_steps_ == steps
    for name, value in a.stats_.tensors().items():
        torch.testing.assert_close(b.stats_.tensors()[name], value, rtol=1e-7, atol=1e-9)
    scores = [[p.get("validation_score") for p in m.passes_] for m in (a, b)]
    assert all(s is not None for s in scores[0]) == bool(extra)
    np.testing.assert_allclose(np.array(scores[1], float), np.array(scores[0], float),
                               rtol=1e-9)


DYING = textwrap.dedent("""
    import os, sys
    import numpy as np
    from hdpmusic import HDPGMM, Corpus
    from hdpmusic.model import distributed
    distributed.init_from_env("cpu", timeout_s=30)
    rank = int(os.environ["RANK"])
    real = HDPGMM._step
    def step(self, *a, **kw):
        if rank == 1 and self.n_steps_ == 1:
            os._exit(3)
        return real(self, *a, **kw)
    HDPGMM._step = step
    try:
        HDPGMM(n_components=8, n_song_components=3, batch_size=10, max_epochs=3,
               verbose=False).fit(Corpus.open(sys.argv[1]))
    except Exception as err:
        print("FAILED:", err, flush=True)
        sys.exit(2)
""")


def test_a_dead_rank_fails_the_run_instead_of_hanging(corpus_file, tmp_path):
    script = tmp_path / "dying.py"
    script.write_text(DYING)
    env = {**os.environ, "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(free_port())}
    procs = [subprocess.Popen([sys.executable, str(script), str(corpus_file)],
                              env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in range(2)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert procs[1].returncode == 3
    assert procs[0].returncode == 2, outputs[0][-2000:]
    assert "peer process died or timed out" in outputs[0]
