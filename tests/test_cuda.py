"""The GPU path gives the CPU's answers (skipped without CUDA; `benchmarks/gpu_check.sh`
runs these on a lent GPU): the fit on planted truth, the streamed corpus against the one
held in GPU memory, the baselines' representations, a checkpoint moved between them, and
the 16-bit and compiled local steps against the full eager one."""

from unittest import mock

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from hdpmusic.baselines.g1 import G1
from hdpmusic.baselines.vq import VQCodebook
from hdpmusic.formats.corpus import Corpus
from hdpmusic.model.hdpgmm import HDPGMM
from planted import planted_hdp

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

SETTINGS = {"n_components": 30, "n_song_components": 8, "batch_size": 64, "max_epochs": 40,
            "eta0": 0.0, "random_state": 0, "verbose": False}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    X, Z = planted_hdp(seed=3)
    path = tmp_path_factory.mktemp("cuda") / "planted.h5"
    Corpus.from_arrays(X).save(path)
    return path, np.concatenate(Z)


def _ari(model, corpus, truth):
    frames = np.concatenate([corpus[j] for j in range(len(corpus))])
    return adjusted_rand_score(truth, model.predict(frames))


def test_the_gpu_fit_finds_the_planted_truth_as_the_cpu_does(planted):
    path, truth = planted
    corpus = Corpus.open(path)
    cpu = HDPGMM(**SETTINGS, device="cpu").fit(corpus)
    gpu = HDPGMM(**SETTINGS, device="cuda").fit(corpus)
    assert _ari(gpu, corpus, truth) > 0.99 and _ari(cpu, corpus, truth) > 0.99
    assert gpu.n_active_components_ == cpu.n_active_components_
    assert abs(gpu.passes_[-1]["elbo_per_frame"] - cpu.passes_[-1]["elbo_per_frame"]) < 1e-3


def test_streaming_from_the_file_equals_holding_the_corpus_on_the_gpu(planted):
    path, _ = planted
    settings = {**SETTINGS, "max_epochs": 3, "tol": 0.0}
    held = HDPGMM(**settings, device="cuda").fit(Corpus.open(path))
    with mock.patch("hdpmusic.model.hdpgmm.hold_on_gpu", lambda corpus, device: corpus):
        streamed = HDPGMM(**settings, device="cuda").fit(Corpus.open(path))
    for name, value in held.stats_.tensors().items():
        torch.testing.assert_close(streamed.stats_.tensors()[name], value, rtol=1e-6,
                                   atol=1e-8, msg=name)


def test_baselines_on_the_gpu_equal_the_cpu(planted):
    corpus = Corpus.open(planted[0])
    np.testing.assert_allclose(G1(device="cuda").fit(corpus).transform(corpus),
                               G1(device="cpu").fit(corpus).transform(corpus),
                               rtol=1e-4, atol=1e-5)
    vq = VQCodebook(n_clusters=20, max_epochs=5, device="cuda", verbose=False).fit(corpus)
    labels = vq.predict(np.concatenate([corpus[j] for j in range(len(corpus))]))
    assert np.bincount(labels, minlength=20).min() > 0


def test_a_gpu_checkpoint_loads_on_the_cpu(planted, tmp_path):
    corpus = Corpus.open(planted[0])
    gpu = HDPGMM(**{**SETTINGS, "max_epochs": 2}, device="cuda").fit(corpus)
    gpu.save(tmp_path / "m.hdp")
    cpu = HDPGMM.load(tmp_path / "m.hdp", device="cpu")
    np.testing.assert_allclose(cpu.transform(corpus), gpu.transform(corpus), rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize("precision", ["float16", "bfloat16"])
def test_the_16_bit_local_step_keeps_the_fit(planted, precision):
    """The accuracy guard of the low-precision local step (issue 20, goal 1)."""
    path, truth = planted
    corpus = Corpus.open(path)
    full = HDPGMM(**SETTINGS, device="cuda").fit(corpus)
    low = HDPGMM(**SETTINGS, device="cuda", local_precision=precision).fit(corpus)
    assert _ari(low, corpus, truth) > 0.99
    assert abs(low.passes_[-1]["elbo_per_frame"] - full.passes_[-1]["elbo_per_frame"]) < 1e-3


def test_the_compiled_local_step_keeps_the_fit(planted):
    """local_kernels="compiled" (Triton kernels on the GPU) fits as the eager local step."""
    path, truth = planted
    corpus = Corpus.open(path)
    eager = HDPGMM(**SETTINGS, device="cuda").fit(corpus)
    fused = HDPGMM(**SETTINGS, device="cuda", local_kernels="compiled").fit(corpus)
    assert _ari(fused, corpus, truth) > 0.99
    assert len(fused.passes_) == len(eager.passes_)
    assert abs(fused.passes_[-1]["elbo_per_frame"] - eager.passes_[-1]["elbo_per_frame"]) < 1e-5
