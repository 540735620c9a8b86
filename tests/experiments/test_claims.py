r"""Claims on run folders: one process trains a run, and the claims of gone processes are cleared."""

import json
import os
import socket

from escnn_soft.experiments import claims


def test_claims_are_exclusive_and_stale_ones_are_cleared(tmp_path):
    run = tmp_path / "run"
    held = claims.claim(run, {"model": "cnn"})
    assert held is not None and claims.claim(run) is None          # held by this process: not stale
    info = claims.holder(run)
    assert (info["host"], info["pid"], info["run"]) == (socket.gethostname(), os.getpid(), {"model": "cnn"})
    assert set(claims.held_runs(tmp_path)) == {"run"}
    held.release()
    assert claims.holder(run) is None and not (run / claims.CLAIM_FILE).exists()
    # a claim of a process that is gone, and one without heartbeat for too long
    dead = json.loads(json.dumps(info))
    dead.update(pid=2 ** 22 + 12345, token="dead", job=None)
    (run / claims.CLAIM_FILE).write_text(json.dumps(dead))
    assert "is gone" in claims.stale_reason(dead, age=0.0)
    assert claims.claim(run) is not None
    far = {**dead, "host": "elsewhere", "token": "far"}
    assert claims.stale_reason(far, age=10.0) is None and "no heartbeat" in claims.stale_reason(far, age=1e4)
