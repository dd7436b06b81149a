"""One thread setting for every stage: torch, BLAS/OpenMP pools, worker processes."""

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from hdpmusic.cli import main
from hdpmusic.formats.representations import Representations
from hdpmusic.formats.taskdata import TaskData, write_task
from hdpmusic.runtime import threads
from hdpmusic.runtime.errors import ParameterError


@pytest.fixture
def restore(monkeypatch):
    """Put the environment, torch's and the BLAS pools' threads back afterwards."""
    for var in (*threads.ENV_VARS, "HDPMUSIC_THREADS"):
        monkeypatch.delenv(var, raising=False)
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_threads", None)
    yield
    threads.set_threads(before)
    for var in (*threads.ENV_VARS, "HDPMUSIC_THREADS"):
        monkeypatch.delenv(var, raising=False)   # undone by monkeypatch's own teardown


def pools():
    return {p["num_threads"] for p in threadpool_info()}


def test_default_follows_env_then_available_cpus(restore, monkeypatch):
    import joblib

    monkeypatch.setattr(joblib, "cpu_count", lambda: 3)
    assert threads.default_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.default_threads() == 2
    monkeypatch.setenv("HDPMUSIC_THREADS", "5")
    assert threads.default_threads() == 5
    assert threads.n_jobs(-1) == 5 and threads.n_jobs(2) == 2
    with pytest.raises(ParameterError):
        threads.set_threads(0)


def test_set_threads_sizes_every_pool(restore):
    assert threads.set_threads(1) == 1
    assert torch.get_num_threads() == 1 and pools() == {1}
    assert threads.thread_info()["torch_threads"] == 1
    import os

    assert os.environ["OMP_NUM_THREADS"] == "1"   # read by worker processes
    threads.set_threads(3)
    with threads.limit(1):
        assert torch.get_num_threads() == 1 and pools() == {1}
    assert torch.get_num_threads() == 3


def test_cli_threads_option_holds_inside_the_evaluation(restore, tmp_path, monkeypatch):
    from hdpmusic.evaluation import classification

    seen = []
    genre = classification.evaluate_genre

    def spy(*args, **kwargs):
        seen.append((torch.get_num_threads(), pools()))
        return genre(*args, **kwargs)

    monkeypatch.setattr(classification, "evaluate_genre", spy)
    rng = np.random.default_rng(0)
    ids = [f"s{j}" for j in range(24)]
    task = tmp_path / "task.h5"
    write_task(task, TaskData(ids, split=["train", "valid", "test"] * 8,
                              targets=["a", "b"] * 12))
    Representations(ids, rng.normal(size=(24, 2))).save(tmp_path / "r.h5")
    argv = ["evaluate", str(task), str(tmp_path / "r.h5"), "--runs", "1", "--n-iter", "1",
            "--device", "cpu"]
    assert main(["-q", "--threads", "3", *argv, "--out", str(tmp_path / "a")]) == 0
    monkeypatch.setenv("HDPMUSIC_THREADS", "1")
    assert main(["-q", *argv, "--out", str(tmp_path / "b")]) == 0
    assert seen == [(3, {3}), (1, {1})]


def test_small_tagging_fits_run_on_one_thread(restore, monkeypatch):
    from hdpmusic.evaluation import tagging

    seen = []
    fit = tagging.fit_logistic_torch

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return fit(*args, **kwargs)

    monkeypatch.setattr(tagging, "fit_logistic_torch", spy)
    threads.set_threads(2)
    rng = np.random.default_rng(0)
    tagging.evaluate_tagging(rng.normal(size=(30, 4)), rng.random((30, 3)) < 0.5,
                             np.array(["train", "valid", "test"] * 10), n_iter=2)
    assert set(seen) == {1} and torch.get_num_threads() == 2


def test_configure_leaves_an_unrestricted_machine_alone(restore, monkeypatch):
    import joblib

    monkeypatch.setattr(joblib, "cpu_count", lambda: 64)
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert threads.configure(None) is None
    monkeypatch.setattr(joblib, "cpu_count", lambda: 1)   # a quota of one CPU
    assert threads.configure(None) == 1 and torch.get_num_threads() == 1
