r"""Claims on runs: two workers, on one machine or on a cluster's nodes, never train the same run.

A worker claims a run by creating ``claim.json`` in its directory, atomically: the
file is written under a unique name and hard-linked to ``claim.json``, which fails if
the file exists, on local disks as on NFS and Lustre. It holds the worker's host, pid,
the start time of that process, the scheduler's job id (``SLURM_JOB_ID``, or submitit's
local job id) and a random token; while the claim is held a thread touches the file
every :data:`HEARTBEAT_SECONDS`. The claim is released (deleted) when the run finishes
or fails, and when the worker exits on a signal Python can catch.

A claim left by a worker that is gone is *stale* and is cleared by the next worker that
wants the run:

* same host, and the pid no longer runs (or runs another process, started at another time);
* the same scheduler job id, from another process: a requeued job's previous life;
* any host, no heartbeat for ``stale_after`` seconds (:data:`STALE_SECONDS` by default;
  the only test possible for a worker on another node, so the clocks of the nodes and
  the file server must agree to within it).

Clearing is serialised by a second file, ``claim.json.break``, made with ``O_EXCL``, so
that of two workers that both found a claim stale only one replaces it.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Optional, Union

__all__ = ["CLAIM_FILE", "HEARTBEAT_SECONDS", "STALE_SECONDS", "Claim", "claim", "holder", "held_runs", "stale_reason"]

CLAIM_FILE = "claim.json"
HEARTBEAT_SECONDS: float = 30.0
r"""How often a held claim's file is touched."""
STALE_SECONDS: float = 600.0
r"""A claim whose file was not touched for this long is stale, wherever its worker ran."""
_BREAK_STALE_SECONDS = 60.0

PathLike = Union[str, os.PathLike]


def _process_start(pid: int) -> Optional[str]:
    r"""The start time of process ``pid`` in clock ticks since boot (``/proc``), or ``None``."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _job_id() -> Optional[str]:
    return os.environ.get("SLURM_JOB_ID") or os.environ.get("SUBMITIT_LOCAL_JOB_ID")


def _worker() -> Dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "process_start": _process_start(os.getpid()),
            "job": _job_id(), "claimed": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _read(path: Path) -> Optional[Dict[str, Any]]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _age(path: Path) -> Optional[float]:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return None


def stale_reason(info: Dict[str, Any], age: float, stale_after: float = STALE_SECONDS) -> Optional[str]:
    r"""Why the claim ``info``, last touched ``age`` seconds ago, is stale, or ``None`` if its worker may still run."""
    me = _worker()
    same_process = info.get("host") == me["host"] and info.get("pid") == me["pid"]
    if info.get("host") == me["host"] and not same_process:
        pid = int(info.get("pid", -1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return f"its process {pid} on {me['host']} is gone"
        except PermissionError:
            pass
        started = _process_start(pid)
        if started is not None and info.get("process_start") not in (None, started):
            return f"its pid {pid} now belongs to another process"
    if info.get("job") is not None and info.get("job") == me["job"] and not same_process:
        return f"it is an earlier run of this job ({me['job']}), which was requeued"
    if age > stale_after:
        return f"no heartbeat for {age:.0f} s"
    return None


class Claim:
    r"""A held claim on a run (see the module documentation); a context manager that keeps its
    heartbeat while inside and releases it on exit."""

    def __init__(self, path: Path, info: Dict[str, Any]):
        self.path = path
        self.info = info
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                os.utime(self.path)
            except OSError:
                pass

    def __enter__(self) -> "Claim":
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {self.path.parent.name}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def release(self) -> None:
        r"""Stop the heartbeat and delete the claim, if it is still this one."""
        self._stop.set()
        current = _read(self.path)
        if current is not None and current.get("token") == self.info["token"]:
            self.path.unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"Claim({self.path.parent.name}, host={self.info['host']}, pid={self.info['pid']})"


def holder(run_dir: PathLike, stale_after: float = STALE_SECONDS) -> Optional[Dict[str, Any]]:
    r"""The claim on ``run_dir`` (its host, pid, job id and start time) if it is held and not stale, else ``None``."""
    path = Path(run_dir) / CLAIM_FILE
    info, age = _read(path), _age(path)
    if info is None or age is None or stale_reason(info, age, stale_after) is not None:
        return None
    return info


def _create(path: Path, info: Dict[str, Any]) -> bool:
    tmp = path.with_name(f"{path.name}.{info['token']}.tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def _clear_if_stale(path: Path, seen: Dict[str, Any], stale_after: float) -> None:
    r"""Delete the claim at ``path`` if it is still the stale claim ``seen``, holding the break lock."""
    lock = path.with_name(path.name + ".break")
    age = _age(lock)
    if age is not None and age > _BREAK_STALE_SECONDS:
        lock.unlink(missing_ok=True)        # left by a worker killed while it cleared a claim
    try:
        os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    try:
        info, age = _read(path), _age(path)
        if (info is not None and age is not None and info.get("token") == seen.get("token")
                and stale_reason(info, age, stale_after) is not None):
            path.unlink(missing_ok=True)
    finally:
        lock.unlink(missing_ok=True)


def claim(run_dir: PathLike, run: Optional[Dict[str, Any]] = None, stale_after: float = STALE_SECONDS
          ) -> Optional[Claim]:
    r"""Claim the run in ``run_dir`` (created if missing) for this process; ``None`` if another
    worker holds it. A stale claim (see the module documentation) is cleared and taken over.
    ``run`` (the run's settings) is recorded in the claim, for :func:`held_runs`.

    Use the claim as a context manager around the training, so that its heartbeat runs
    and it is released at the end::

        held = claim(run_dir)
        if held is not None:
            with held:
                train_run(...)
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / CLAIM_FILE
    info = {**_worker(), "token": secrets.token_hex(8), "run": run}
    for _ in range(3):
        if _create(path, info):
            return Claim(path, info)
        seen, age = _read(path), _age(path)
        if seen is None:
            if age is not None and age > stale_after:
                path.unlink(missing_ok=True)     # unreadable and untouched: no worker holds it
            elif age is not None:
                return None                      # unreadable for now: leave it to its worker
            continue
        if stale_reason(seen, age, stale_after) is None:
            return None
        _clear_if_stale(path, seen, stale_after)
    return None


def held_runs(runs_dir: PathLike, stale_after: float = STALE_SECONDS) -> Dict[str, Dict[str, Any]]:
    r"""The live claims under ``runs_dir`` (one folder per run), by run folder name."""
    found = {}
    for path in sorted(Path(runs_dir).glob(f"*/{CLAIM_FILE}")):
        info = holder(path.parent, stale_after)
        if info is not None:
            found[path.parent.name] = info
    return found
