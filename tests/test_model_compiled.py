"""The local step compiled by torch.compile (``local_kernels="compiled"``) does what the
eager one does: the same song factors bucket by bucket, the same fit on planted truth,
and a backend that cannot build kernels fails in one line."""

from unittest import mock

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from cli_checks import TINY, one_line_error, tiny_fitted
from hdpmusic.cli import main
from hdpmusic.model.compiled import CompiledIteration, compiled_iteration
from hdpmusic.model.hdpgmm import HDPGMM
from hdpmusic.model.local import local_step
from hdpmusic.runtime.errors import ParameterError
from planted import SMALL_FIT, planted_hdp


def test_the_compiled_iteration_runs_the_local_step_as_the_eager_one():
    """Songs of several lengths (padding) converging at different iterations, so that the
    working set shrinks to fewer songs (other shapes for the compiled graphs)."""
    rng = np.random.default_rng(5)
    B, n, K, T = 12, 40, 9, 5
    lengths = rng.integers(10, n + 1, size=B)
    mask = torch.as_tensor(np.arange(n)[None, :] < lengths[:, None], dtype=torch.float64)
    centres = rng.normal(scale=4.0, size=(K, 2))
    x = rng.normal(size=(B, n, 2)) + centres[rng.integers(0, K, size=(B, 1))]
    L = torch.as_tensor(-0.5 * ((x[:, :, None] - centres) ** 2).sum(-1)) * mask[..., None]
    args = (L, mask, torch.log_softmax(torch.randn(K, dtype=torch.float64), 0),
            torch.tensor(1.5, dtype=torch.float64), torch.tensor(0.3, dtype=torch.float64), T)
    eager = local_step(*args, tol=1e-9, max_iter=60)
    fused = local_step(*args, tol=1e-9, max_iter=60, iteration=compiled_iteration())
    assert len(set(eager.n_iter.tolist())) > 2           # songs stopped at different times
    assert torch.equal(fused.n_iter, eager.n_iter)
    for name in ("phi", "a", "b", "bound"):
        torch.testing.assert_close(getattr(fused, name), getattr(eager, name), rtol=1e-9,
                                   atol=1e-9)


def test_a_compiled_fit_finds_the_planted_truth_as_the_eager_one():
    X, Z = planted_hdp(seed=2, songs=150)
    eager = HDPGMM(**SMALL_FIT).fit(X)
    fused = HDPGMM(**SMALL_FIT, local_kernels="compiled").fit(X)
    frames, truth = np.concatenate(X), np.concatenate(Z)
    assert adjusted_rand_score(truth, fused.predict(frames)) > 0.95
    assert len(fused.passes_) == len(eager.passes_)
    assert abs(fused.passes_[-1]["elbo_per_frame"]
               - eager.passes_[-1]["elbo_per_frame"]) < 1e-5
    assert (fused.predict(frames) == eager.predict(frames)).mean() > 0.999


def _backend_failure(*args, **kwargs):
    raise torch._dynamo.exc.BackendCompilerFailed(
        "inductor", RuntimeError("Cannot find a working triton installation\nmore"), None)


def test_a_backend_that_cannot_build_kernels_fails_in_one_line():
    iteration = CompiledIteration()
    with mock.patch.object(iteration, "_fn", side_effect=_backend_failure), \
            pytest.raises(ParameterError, match="local_kernels='eager'") as err:
        iteration(torch.zeros(1))
    assert "triton" in str(err.value) and "\n" not in str(err.value)


def test_the_cli_reports_a_backend_failure_as_one_line(tmp_path, capsys):
    corpus, _ = tiny_fitted(tmp_path)
    capsys.readouterr()                               # the fit's own warnings
    with mock.patch.object(compiled_iteration(), "_fn", side_effect=_backend_failure):
        code = main(["-q", "fit", str(corpus), "--out", str(tmp_path / "m.hdp"), *TINY,
                     "--local-kernels", "compiled"])
    assert code == 1
    one_line_error(capsys, "--local-kernels eager", "triton")
    assert not (tmp_path / "m.hdp").exists()
