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
    """Give every test the ``hdpmusic`` logger's level it found: an in-process CLI call
    (``main([...])``) sets it (WARNING with ``-q``), which hid a later test's INFO
    records whenever the test order put such a call before it."""
    logger = logging.getLogger("hdpmusic")
    level = logger.level
    yield
    logger.setLevel(level)
