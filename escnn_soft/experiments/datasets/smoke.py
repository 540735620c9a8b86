r"""The SMOKE benchmark: 2D smoke plumes simulated with PhiFlow, and their velocity fields.

SMOKE (Wang, Walters and Yu, 2022, *Approximately equivariant networks for imperfectly
symmetric dynamics*) asks a model to predict the velocity field of a rising smoke plume on a
:math:`64 \times 64` grid. Each simulation is labelled by a pair :math:`(k, j)`: the inflow
lies on side :math:`j \in \{0, 1, 2, 3\}` of a closed box :math:`[0, 64]^2` and the buoyancy
points away from it with a strength proportional to :math:`k \in \{1, \dots, 36\}` (in the
published data :math:`j = (k - 1) \bmod 4`). The sides break the rotation symmetry only
slightly, through the boundary and the buoyancy of side 2, which is 10% stronger:

.. math::
    c_j \in \{(32, 5),\ (59, 32),\ (32, 59),\ (5, 32)\}, \qquad
    d_j \in \{(0, 0.01),\ (-0.01, 0),\ (0, -0.011),\ (0.01, 0)\}

(inflow centres :math:`c_j` and buoyancy directions :math:`d_j` as :math:`(x, y)`). With the
smoke density :math:`s` (a cell-centred grid, zero-gradient boundary), the velocity :math:`u`
(a staggered grid, zero boundary) and the inflow :math:`I_j`, the indicator of the disc of
radius 5 around :math:`c_j`, one step (:math:`\Delta t = 1`) is

.. math::
    s &\leftarrow \mathcal{A}_{\text{MacCormack}}(s, u) + I_j, \\
    u &\leftarrow \mathcal{A}_{\text{semi-Lagrangian}}(u, u) + k\, d_j\, s, \\
    u &\leftarrow u - \nabla p, \quad \nabla^2 p = \nabla \cdot u
    \quad (\text{relative tolerance } 10^{-5}),

the force :math:`k\, d_j\, s` being resampled onto the staggered velocity grid. A simulation
runs :data:`SMOKE_STEPS` steps from rest; after each, the staggered velocity is recorded with
its two components padded to a common :math:`65 \times 65` grid, and the frames are stacked,
the first dropped and the grid cut to :math:`64 \times 64`. The result, a ``float32`` array of
shape :math:`(T, 2, 64, 64)` with :math:`T = 309`, has channel 0 = :math:`u_x`, channel 1 =
:math:`u_y`, and rows running along :math:`+y` (row index = :math:`y`); this is the layout of
the published files ``raw_data_{k}_{j}.pt``. :func:`smoke_to_escnn` flips the rows for escnn.

* :func:`simulate_smoke` runs one simulation (PhiFlow 3, ``float64``, numpy backend: CPU and
  deterministic);
* :func:`generate_smoke` fills a disk cache of ``raw_data_{k}_{j}.npy`` files with a checksummed
  ``manifest.json``;
* :func:`load_smoke_simulations` reads the cache or the published ``.pt`` files;
* :func:`write_smoke_fixture` writes a short, pooled ``float16`` simulation for tests.

The splits of the benchmark are :data:`SMOKE_TRAIN_SIMULATIONS` and
:data:`SMOKE_DOMAIN_SIMULATIONS` (the out-of-domain test set), and their reduced versions.

Why PhiFlow 3.4 (``pip install escnn_soft[smoke]`` pins ``phiflow==3.4.0``): the published data
were made with PhiFlow 2.0.1, which needs numpy 1.23 and a shim for ``collections.Callable``,
against the numpy 1.x that escnn's dependencies need; PhiFlow 2.5 in float32 is twice as slow;
PhiFlow 3.4 installs beside numpy 1.26, and in float64 its pressure solve (``'auto'``) converges
at every step, where in float32 it fails its tolerance at the first. One simulation of 310 steps
takes 1.5 to 4 minutes on one core. The flow is chaotic: any two PhiFlow versions agree for about
50 steps and have decorrelated by about step 100, so regenerated data are only statistically
equal to the published files. The simulation has no random input and the numpy backend is
deterministic: the same versions give the same bytes (the manifest records them).
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import numpy as np
import torch

from ...records import atomic_write, atomic_write_text
from .download import file_digest
from .mnist import cache_root

__all__ = [
    "SMOKE_BUOYANCY_DIRECTIONS",
    "SMOKE_DOMAIN_SIMULATIONS",
    "SMOKE_INFLOW_CENTERS",
    "SMOKE_INFLOW_RADIUS",
    "SMOKE_REDUCED_DOMAIN_SIMULATIONS",
    "SMOKE_REDUCED_TRAIN_SIMULATIONS",
    "SMOKE_RESOLUTION",
    "SMOKE_STEPS",
    "SMOKE_TRAIN_SIMULATIONS",
    "generate_smoke",
    "load_smoke_simulations",
    "simulate_smoke",
    "smoke_to_escnn",
    "write_smoke_fixture",
]

PathLike = Union[str, os.PathLike]
Simulation = Tuple[int, int]

SMOKE_STEPS: int = 310
r"""Steps of one simulation; the first recorded frame is dropped, leaving ``SMOKE_STEPS - 1``."""

SMOKE_RESOLUTION: int = 64
r"""Cells along each side of the square grid."""

SMOKE_INFLOW_RADIUS: float = 5.0
r"""Radius of the inflow disc."""

SMOKE_INFLOW_CENTERS: Tuple[Tuple[float, float], ...] = ((32.0, 5.0), (59.0, 32.0), (32.0, 59.0), (5.0, 32.0))
r"""Centre ``(x, y)`` of the inflow disc for each side ``j`` (bottom, right, top, left)."""

SMOKE_BUOYANCY_DIRECTIONS: Tuple[Tuple[float, float], ...] = ((0.0, 0.01), (-0.01, 0.0), (0.0, -0.011), (0.01, 0.0))
r"""Buoyancy per unit smoke ``(x, y)`` for each side ``j``, before scaling by ``k``."""

_TRAIN_K = (27, 33, 3, 28, 9, 12, 22, 8, 30, 25, 16, 11, 23, 29, 36, 26, 1, 35, 19, 34, 4, 2, 7, 31, 17)

SMOKE_TRAIN_SIMULATIONS: Tuple[Simulation, ...] = tuple((k, (k - 1) % 4) for k in _TRAIN_K)
r"""The 25 ``(k, j)`` pairs of the training set, ``j = (k - 1) % 4``."""

SMOKE_DOMAIN_SIMULATIONS: Tuple[Simulation, ...] = (
    (6, 1), (14, 1), (15, 2), (10, 1), (18, 1), (20, 3), (24, 3), (13, 0), (21, 0), (5, 0))
r"""The 10 ``(k, j)`` pairs of the out-of-domain test set, disjoint from the training set."""

SMOKE_REDUCED_TRAIN_SIMULATIONS: Tuple[Simulation, ...] = (
    (33, 0), (9, 0), (22, 1), (30, 1), (27, 2), (3, 2), (28, 3), (12, 3))
r"""Eight training pairs, two per side: a subset of :data:`SMOKE_TRAIN_SIMULATIONS`."""

SMOKE_REDUCED_DOMAIN_SIMULATIONS: Tuple[Simulation, ...] = ((13, 0), (6, 1), (15, 2), (20, 3))
r"""Four test pairs, one per side: a subset of :data:`SMOKE_DOMAIN_SIMULATIONS`."""

_DT = 1.0
_REL_TOL = 1e-5
_ABS_TOL = 0.0
_MANIFEST = "manifest.json"
_MANIFEST_FORMAT = 1
_PHIFLOW_HINT = "pip install escnn_soft[smoke]  (PhiFlow 3.4.0: pip install phiflow==3.4.0)"


def _parameters() -> Dict[str, Any]:
    # What a cached file was simulated with, as JSON would read it back.
    return {
        "resolution": SMOKE_RESOLUTION,
        "dt": _DT,
        "rel_tol": _REL_TOL,
        "abs_tol": _ABS_TOL,
        "precision": 64,
        "inflow_radius": SMOKE_INFLOW_RADIUS,
        "inflow_centers": [list(c) for c in SMOKE_INFLOW_CENTERS],
        "buoyancy_directions": [list(d) for d in SMOKE_BUOYANCY_DIRECTIONS],
        "smoke_advection": "mac_cormack",
        "velocity_advection": "semi_lagrangian",
    }


def _check_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    return int(value)


def _check_simulation(k: Any, j: Any) -> Simulation:
    k, j = _check_int("k (the buoyancy strength)", k), _check_int("j (the inflow side)", j)
    if k < 1:
        raise ValueError(f"k (the buoyancy strength) must be a positive integer, got k={k}")
    if not 0 <= j <= 3:
        raise ValueError(f"j (the inflow side) must be 0, 1, 2 or 3 (bottom, right, top, left), got j={j}")
    return k, j


def _check_steps(steps: Any) -> int:
    steps = _check_int("steps", steps)
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (the first frame is dropped), got steps={steps}")
    return steps


def _check_simulations(simulations: Iterable[Any]) -> List[Simulation]:
    if isinstance(simulations, (str, bytes)) or not isinstance(simulations, Iterable):
        raise TypeError(f"simulations must be a sequence of (k, j) pairs, got {simulations!r}")
    pairs: List[Simulation] = []
    for item in simulations:
        try:
            k, j = item
        except (TypeError, ValueError):
            raise TypeError(f"simulations must be a sequence of (k, j) pairs; {item!r} is not a pair. "
                            f"For a single simulation pass [(k, j)]") from None
        pair = _check_simulation(k, j)
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def _filename(k: int, j: int, suffix: str) -> str:
    return f"raw_data_{k}_{j}{suffix}"


def _array_sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _write_with(tmp: str, save, *args, **kwargs) -> None:
    # Through a file object, so that numpy does not append a suffix to the temporary name.
    with open(tmp, "wb") as f:
        save(f, *args, **kwargs)


def _phi():
    try:
        import phiml
        from phi import __version__ as phi_version
        from phi import flow
    except ImportError as e:
        raise ImportError(f"the SMOKE simulation needs PhiFlow, which could not be imported ({e}); "
                          f"install it with: {_PHIFLOW_HINT}") from e
    return flow, phi_version, phiml.__version__


def simulate_smoke(k: int, j: int, steps: int = SMOKE_STEPS, *, progress: bool = False) -> np.ndarray:
    r"""Simulate the smoke plume ``(k, j)`` and return its velocity frames.

    Runs ``steps`` steps of the simulation described in :mod:`~escnn_soft.experiments.datasets.smoke`
    with PhiFlow 3 in ``float64`` on the numpy backend (CPU, deterministic). PhiFlow's global
    precision is restored afterwards.

    Args:
        k (int): the buoyancy strength, a positive integer (1 to 36 in the benchmark).
        j (int): the inflow side, 0 (bottom), 1 (right), 2 (top) or 3 (left).
        steps (int): steps to simulate, at least 2.
        progress (bool): print the step count to standard error every 10 steps.

    Returns:
        a ``float32`` array of shape ``(steps - 1, 2, 64, 64)``: channel 0 is :math:`u_x`,
        channel 1 is :math:`u_y`, rows run along :math:`+y` (the layout of the published
        ``raw_data_{k}_{j}.pt`` files).

    Raises:
        TypeError, ValueError: for a bad ``k``, ``j`` or ``steps``.
        ImportError: if PhiFlow is not installed.
    """
    k, j = _check_simulation(k, j)
    steps = _check_steps(steps)
    flow, _, _ = _phi()
    math = flow.math
    n = SMOKE_RESOLUTION
    saved = math.get_precision()
    math.set_global_precision(64)
    try:
        with warnings.catch_warnings():
            # The pressure Poisson problem of a closed box is singular up to a constant; PhiFlow
            # warns about it (and about scipy's sparse format) on every step.
            warnings.filterwarnings("ignore", message=".*[Rr]ank deficiency.*")
            warnings.filterwarnings("ignore", message=".*spsolve requires.*")
            bounds = flow.Box(x=n, y=n)
            cx, cy = SMOKE_INFLOW_CENTERS[j]
            dx, dy = SMOKE_BUOYANCY_DIRECTIONS[j]
            smoke = flow.CenteredGrid(0, flow.extrapolation.BOUNDARY, x=n, y=n, bounds=bounds)
            velocity = flow.StaggeredGrid(0, flow.extrapolation.ZERO, x=n, y=n, bounds=bounds)
            inflow = flow.CenteredGrid(flow.Sphere(center=flow.vec(x=cx, y=cy), radius=SMOKE_INFLOW_RADIUS),
                                       flow.extrapolation.BOUNDARY, x=n, y=n, bounds=bounds)
            buoyancy = flow.vec(x=dx * k, y=dy * k)
            frames = np.empty((steps, 2, n + 1, n + 1), dtype=np.float64)
            for step in range(steps):
                smoke = flow.advect.mac_cormack(smoke, velocity, dt=_DT) + inflow
                force = flow.resample(smoke * buoyancy, to=velocity)
                velocity = flow.advect.semi_lagrangian(velocity, velocity, dt=_DT) + force
                velocity, _ = flow.fluid.make_incompressible(
                    velocity, (), flow.Solve("auto", _REL_TOL, _ABS_TOL, x0=None))
                frames[step] = velocity.staggered_tensor().numpy(["vector", "y", "x"])
                if progress and ((step + 1) % 10 == 0 or step + 1 == steps):
                    print(f"smoke k={k} j={j}: step {step + 1}/{steps}", file=sys.stderr, flush=True)
    finally:
        math.set_global_precision(saved)
    return np.ascontiguousarray(frames[1:, :, :n, :n], dtype=np.float32)


def _read_manifest(root: Path) -> Dict[str, Any]:
    path = root / _MANIFEST
    if not path.exists():
        return {"format": _MANIFEST_FORMAT, "files": {}}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"the SMOKE manifest {path} cannot be read ({e}); delete it together with the "
                         f"raw_data_*.npy files of {root} to regenerate them") from e
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ValueError(f"the SMOKE manifest {path} has no 'files' table; delete it together with the "
                         f"raw_data_*.npy files of {root} to regenerate them")
    return manifest


def _check_checksum(path: Path, entry: Dict[str, Any]) -> None:
    actual = file_digest(path, "sha256")
    if actual != entry.get("sha256"):
        raise ValueError(f"{path} does not match its checksum in {path.parent / _MANIFEST} (sha256 {actual}, "
                         f"manifest {entry.get('sha256')}): the file is corrupt or was changed. Delete it "
                         f"and call generate_smoke again to regenerate it")


def _one_thread() -> None:
    r"""Keep a worker process to one thread (the simulations are independent)."""
    torch.set_num_threads(1)


def _timed_simulation(k: int, j: int, steps: int, progress: bool) -> Tuple[np.ndarray, float]:
    start = time.perf_counter()
    frames = simulate_smoke(k, j, steps, progress=progress)
    return frames, time.perf_counter() - start


def generate_smoke(simulations: Iterable[Simulation], root: Optional[PathLike] = None, *,
                   steps: int = SMOKE_STEPS, progress: bool = False, jobs: int = 1) -> Path:
    r"""Simulate the ``(k, j)`` pairs that are not cached yet and write them to ``root``.

    Each simulation becomes ``root/raw_data_{k}_{j}.npy`` (the array of :func:`simulate_smoke`),
    written atomically, and an entry of ``root/manifest.json`` recording ``k``, ``j``, ``steps``,
    the shape and dtype, the sha256 of the file, the PhiFlow and phiml versions, the seconds the
    simulation took and the simulation parameters. The manifest is rewritten after each file, so
    an interrupted call keeps what it finished.

    A file cached with the same ``steps`` and parameters is not simulated again; its checksum is
    verified. A file with another ``steps`` or other parameters, or without a manifest entry
    (left by an interrupted call), is simulated again and replaced. The cache is not meant to be
    filled by two calls at once; one call simulates ``jobs`` pairs at a time in worker processes
    of one thread each, and writes every file and the manifest itself.

    Args:
        simulations (iterable of (int, int)): the ``(k, j)`` pairs, e.g.
            :data:`SMOKE_TRAIN_SIMULATIONS`.
        root (path-like, optional): the cache folder (created if missing); defaults to
            ``cache_root() / "smoke"``.
        steps (int): steps per simulation, at least 2.
        progress (bool): report each simulation (and its steps) on standard error.
        jobs (int): simulations run at once, each in its own process (1: in this one).

    Returns:
        the cache folder.

    Raises:
        TypeError, ValueError: for bad pairs or ``steps``.
        ValueError: if a cached file does not match its checksum (delete it to regenerate it) or
            the manifest cannot be read.
        ImportError: if a simulation is needed and PhiFlow is not installed.
    """
    pairs = _check_simulations(simulations)
    steps = _check_steps(steps)
    root = Path(root).expanduser() if root is not None else cache_root() / "smoke"
    root.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(root)
    files = manifest["files"]
    parameters = _parameters()
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    missing = []
    for k, j in pairs:
        name = _filename(k, j, ".npy")
        entry = files.get(name)
        if (root / name).exists() and entry is not None and entry.get("steps") == steps \
                and entry.get("parameters") == parameters:
            _check_checksum(root / name, entry)
        else:
            missing.append((k, j))
    if not missing:
        return root
    _, phi_version, phiml_version = _phi()

    def store(k: int, j: int, frames: np.ndarray, seconds: float) -> None:
        name = _filename(k, j, ".npy")
        path = root / name
        atomic_write(path, lambda tmp: _write_with(tmp, np.save, frames))
        files[name] = {
            "k": k,
            "j": j,
            "steps": steps,
            "shape": list(frames.shape),
            "dtype": str(frames.dtype),
            "sha256": file_digest(path, "sha256"),
            "phiflow_version": phi_version,
            "phiml_version": phiml_version,
            "seconds": round(seconds, 3),
            "parameters": parameters,
        }
        manifest["format"] = _MANIFEST_FORMAT
        atomic_write_text(root / _MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")

    if progress:
        print(f"smoke: simulating {len(missing)} pair(s) ({steps} steps each) into {root}, {jobs} at a time",
              file=sys.stderr, flush=True)
    if jobs == 1:
        for k, j in missing:
            frames, seconds = _timed_simulation(k, j, steps, progress)
            store(k, j, frames, seconds)
        return root
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=min(jobs, len(missing)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=_one_thread) as pool:
        futures = {pool.submit(_timed_simulation, k, j, steps, False): (k, j) for k, j in missing}
        for future in as_completed(futures):
            k, j = futures[future]
            frames, seconds = future.result()
            store(k, j, frames, seconds)
            if progress:
                print(f"smoke: k={k} j={j} done in {seconds:.0f} s", file=sys.stderr, flush=True)
    return root


def _check_frames(frames: np.ndarray, path: Path) -> np.ndarray:
    if frames.ndim != 4 or frames.shape[0] < 1 or frames.shape[1] != 2:
        raise ValueError(f"{path} holds an array of shape {tuple(frames.shape)}; a SMOKE simulation has shape "
                         f"(T, 2, H, W) with T >= 1 frames and the two velocity components")
    return np.ascontiguousarray(frames, dtype=np.float32)


def load_smoke_simulations(simulations: Iterable[Simulation], root: Optional[PathLike] = None
                           ) -> Dict[Simulation, np.ndarray]:
    r"""Read the velocity frames of the ``(k, j)`` pairs from a folder.

    For each pair the folder holds either ``raw_data_{k}_{j}.npy``, written by
    :func:`generate_smoke` (and checked against the sha256 of ``manifest.json`` where it has an
    entry), or ``raw_data_{k}_{j}.pt``, a published file (a torch tensor). The ``.npy`` file is
    read when both exist.

    Args:
        simulations (iterable of (int, int)): the ``(k, j)`` pairs.
        root (path-like, optional): the folder; defaults to ``cache_root() / "smoke"``, the
            default of :func:`generate_smoke`.

    Returns:
        a dict from ``(k, j)`` to a ``float32`` array of shape ``(T, 2, H, W)`` in the raw layout
        (channel 0 = :math:`u_x`, rows along :math:`+y`; see :func:`smoke_to_escnn`), in the order
        of ``simulations``.

    Raises:
        FileNotFoundError: listing the pairs without a file.
        ValueError: for a file of the wrong shape or one that does not match its checksum.
        TypeError, ValueError: for bad pairs.
    """
    pairs = _check_simulations(simulations)
    root = Path(root).expanduser() if root is not None else cache_root() / "smoke"
    missing = [(k, j) for k, j in pairs
               if not (root / _filename(k, j, ".npy")).is_file() and not (root / _filename(k, j, ".pt")).is_file()]
    if missing:
        listed = ", ".join(f"({k}, {j})" for k, j in missing)
        raise FileNotFoundError(
            f"no raw_data_{{k}}_{{j}}.npy or .pt file in {root} for (k, j) = {listed}. Simulate them with "
            f"generate_smoke({missing!r}, root) (needs PhiFlow: {_PHIFLOW_HINT}), or pass as root the folder "
            f"of the published raw_data_{{k}}_{{j}}.pt files")
    files = _read_manifest(root)["files"] if (root / _MANIFEST).exists() else {}
    result: Dict[Simulation, np.ndarray] = {}
    for k, j in pairs:
        npy = root / _filename(k, j, ".npy")
        if npy.is_file():
            if npy.name in files:
                _check_checksum(npy, files[npy.name])
            result[(k, j)] = _check_frames(np.load(npy, allow_pickle=False), npy)
            continue
        pt = root / _filename(k, j, ".pt")
        data = torch.load(pt, map_location="cpu", weights_only=True)
        if not isinstance(data, torch.Tensor):
            raise ValueError(f"{pt} holds a {type(data).__name__}, not the tensor of a SMOKE simulation")
        result[(k, j)] = _check_frames(data.detach().to(torch.float32).numpy(), pt)
    return result


def smoke_to_escnn(frames: Union[np.ndarray, torch.Tensor]) -> Union[np.ndarray, torch.Tensor]:
    r"""Flip the rows of SMOKE frames, so that they run down as escnn's ``rot2dOnR2`` expects.

    The simulations store row index = :math:`y`, rows running up along :math:`+y`, with the
    velocity components :math:`(u_x, u_y)` in that right-handed frame. escnn's
    :meth:`~escnn.nn.GeometricTensor.transform` for ``rot2dOnR2`` rotates the grid taking row 0 as
    the top, rows running down, while it rotates the vectors counter-clockwise in the
    :math:`(x, y)` frame with :math:`y` up. On the raw layout the two disagree: the grid turns one
    way and the vectors the other, which is not a rotation of the flow. Flipping the rows
    (:math:`y \mapsto H - 1 - y`) puts the grid the way escnn reads it, and the components need no
    change: :math:`u_y` is still the upward component. The flip is its own inverse.

    Args:
        frames (numpy.ndarray or torch.Tensor): shape ``(..., H, W)``, rows along :math:`+y`,
            typically ``(T, 2, H, W)``.

    Returns:
        the same type and shape, rows reversed along dim ``-2`` (a new array or tensor).

    Raises:
        TypeError: for anything but a numpy array or a torch tensor.
        ValueError: for fewer than two dimensions.
    """
    if isinstance(frames, torch.Tensor):
        if frames.dim() < 2:
            raise ValueError(f"smoke_to_escnn needs frames of shape (..., H, W), got shape {tuple(frames.shape)}")
        return torch.flip(frames, dims=(-2,))
    if isinstance(frames, np.ndarray):
        if frames.ndim < 2:
            raise ValueError(f"smoke_to_escnn needs frames of shape (..., H, W), got shape {frames.shape}")
        return np.ascontiguousarray(frames[..., ::-1, :])
    raise TypeError(f"smoke_to_escnn takes a numpy array or a torch tensor, got {type(frames).__name__}")


def write_smoke_fixture(k: int, j: int, path: PathLike, *, steps: int = 40, pool: int = 4) -> Path:
    r"""Simulate a short plume, average-pool it and write it as a small ``.npz`` fixture.

    The ``(steps - 1, 2, 64, 64)`` frames of :func:`simulate_smoke` are averaged over
    ``pool`` :math:`\times` ``pool`` blocks and stored as ``float16`` (about 40 KB for the
    defaults) in a compressed ``.npz`` with the keys

    * ``frames``: ``(steps - 1, 2, 64 / pool, 64 / pool)``, the raw layout (rows along :math:`+y`);
    * ``k``, ``j``, ``steps``, ``pool``: integers;
    * ``phiflow_version``, ``phiml_version``: strings;
    * ``sha256``: of the bytes of the ``float32`` simulation before pooling (C order).

    Args:
        k (int): the buoyancy strength, a positive integer.
        j (int): the inflow side, 0 to 3.
        path (path-like): the file to write (its folder is created if missing).
        steps (int): steps to simulate, at least 2.
        pool (int): the pooling size, a divisor of 64.

    Returns:
        the path of the file.

    Raises:
        TypeError, ValueError: for a bad ``k``, ``j``, ``steps`` or ``pool``.
        ImportError: if PhiFlow is not installed.
    """
    k, j = _check_simulation(k, j)
    steps = _check_steps(steps)
    pool = _check_int("pool", pool)
    if pool < 1 or SMOKE_RESOLUTION % pool:
        raise ValueError(f"pool must be a positive divisor of {SMOKE_RESOLUTION}, got pool={pool}")
    _, phi_version, phiml_version = _phi()
    frames = simulate_smoke(k, j, steps)
    t, c, n = frames.shape[0], frames.shape[1], SMOKE_RESOLUTION // pool
    pooled = frames.astype(np.float64).reshape(t, c, n, pool, n, pool).mean(axis=(3, 5)).astype(np.float16)
    arrays = {
        "frames": pooled,
        "k": np.int64(k),
        "j": np.int64(j),
        "steps": np.int64(steps),
        "pool": np.int64(pool),
        "phiflow_version": np.str_(phi_version),
        "phiml_version": np.str_(phiml_version),
        "sha256": np.str_(_array_sha256(frames)),
    }
    path = Path(path).expanduser()
    atomic_write(path, lambda tmp: _write_with(tmp, np.savez_compressed, **arrays))
    return path
