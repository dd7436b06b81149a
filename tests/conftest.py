"""Fixtures shared by the test modules."""

import logging

import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module (``pytestmark = pytest.mark.usefixtures(...)``):
    tiny networks run many times faster so on a loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def hdpmusic_log_level():
    """Start every test with the ``hdpmusic`` logger as importing left it (NOTSET: the
    root's level rules). An in-process CLI call (``main([...])``, in a test or a module
    fixture) sets it, WARNING with ``-q``, and a later test's INFO records vanished
    whenever the test order put such a call before it. Reset before the test, after
    any module fixture."""
    logging.getLogger("hdpmusic").setLevel(logging.NOTSET)
    yield
