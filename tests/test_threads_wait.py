"""OpenMP waiters sleep rather than spin (the contention fix), unless the user says."""

import os
import subprocess
import sys


def _policy(env: dict[str, str]) -> str:
    code = "import hdpmusic, os; print(os.environ['OMP_WAIT_POLICY'])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_import_sets_passive_wait_policy_before_torch_loads():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _policy(env) == "PASSIVE"
    assert _policy({**env, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
