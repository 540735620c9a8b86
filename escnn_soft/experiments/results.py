r"""Finished runs: load them, select them by their settings, score them.

A run is one folder of a comparison's ``runs/``, named by its settings
(:func:`run_name`), holding the run's ``result.json`` once it has finished or diverged.
This module reads those results and nothing else; it loads neither torch nor the tasks.

* **Load.** :func:`load_result` reads one run folder; :func:`find_runs` the folders of
  given run settings, as training and ``escnn-soft compare --report-only`` both find them
  (a folder is trusted only if its ``result.json`` records the settings its name stands
  for, :class:`RunFolderError` otherwise); :func:`load_runs` every run under a comparison's
  folder.
* **Select.** :func:`select` keeps the runs with given settings (of the run's ``config`` or
  of its hyperparameters), sorted by seed. Runs that diverged (:func:`is_diverged`: their
  training loss was not finite, so they have no scores) are selected apart, with
  ``diverged=True``, and never mixed with finished ones. :func:`group_by` groups runs by
  settings, :func:`nearest` picks the run whose value is closest to a target,
  :func:`plan_progress` counts the finished runs of each entry of a plan and
  :func:`progress_totals` sums those counts up.
* **Score.** A run is scored at its best-validation epoch (:func:`best_epoch_index`,
  :func:`at_best`), over the whole history or within a budget of its first ``within``
  epochs: what a shorter protocol would have selected, read from the same history.
  :func:`score_at_best` gives one score, :func:`scores` those of several runs,
  :func:`scores_by_test_set` those on every test set, :func:`best_scores` every score of a
  run as the reports name them; :func:`epoch_values` reads one entry of a given epoch for
  several runs, :func:`history_value` one (nested) entry of one run's epoch, and
  :func:`means_by` the mean of a value over the runs of each group of settings.

A budget of compute enters the same way: it is the number of epochs whose cumulative
cost fits it, passed as ``within``. Means and standard deviations over seeds are
:func:`~escnn_soft.records.mean_std`.

* **Verdicts.** :func:`soft_verdicts` answers whether soft pays on one task and group: the soft
  setting (:func:`by_settings`) with the best mean validation score (:func:`best_by_validation`)
  against the best setting of the reference model and of the strict models, at equal epochs and at
  equal compute (:func:`compare_at_equal_cost`, Welch's test by :func:`mean_difference`). The
  training FLOPs per epoch come from a table counted once (:func:`load_flops`, :func:`flops_of`;
  :func:`~escnn_soft.experiments.compute.flops_entry` counts an entry), so reading it needs no torch.

Example:
    >>> run = {"config": {"group": "C4", "model": "soft", "seed": 1, "hyperparameters": {"lam": 0.1}},
    ...        "history": [{"val_score": 0.5, "test_score": 0.4}, {"val_score": 0.7, "test_score": 0.6},
    ...                    {"val_score": 0.6, "test_score": 0.7}]}
    >>> [r["config"]["seed"] for r in select([run], model="soft", lam=0.1)], select([run], lam=1.0)
    ([1], [])
    >>> score_at_best(run), score_at_best(run, within=1)
    (0.6, 0.4)
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..records import mean_std

if TYPE_CHECKING:
    from .runner import RunConfig

__all__ = ["RunFolderError", "settings_key", "settings_digest", "run_name", "settings_differences", "load_result",
           "finished_run", "find_runs", "load_runs", "is_diverged", "setting", "select", "group_by", "nearest",
           "shared_setting", "best_epoch_index", "at_best", "score_at_best", "scores", "scores_by_test_set",
           "epoch_values", "best_scores", "mean_difference", "plan_progress", "epochs_within_compute", "history_value",
           "means_by", "progress_totals", "best_so_far", "FLOPS_LEFT_OUT", "planned_budget", "check_budget",
           "fits_one_epoch", "FLOPS_SETTINGS", "flops_settings", "MissingFlops", "load_flops", "flops_of",
           "by_settings", "best_by_validation", "compare_at_equal_cost", "soft_verdicts"]

PathLike = Union[str, Path]
Result = Dict[str, Any]


class RunFolderError(RuntimeError):
    r"""A run folder that cannot be trusted or read: a ``result.json`` or ``checkpoint.pt`` that
    cannot be read, or that belongs to other settings than the run's. The message names the
    file and what to do (one line)."""


def settings_key(settings: Mapping[str, Any]) -> str:
    r"""Run settings (:meth:`~escnn_soft.experiments.runner.RunConfig.to_dict`, or as a ``result.json``
    records them) as the text their key hashes: JSON with sorted keys.

    Example:
        >>> settings_key({"seed": 0, "model": "cnn"})
        '{"model": "cnn", "seed": 0}'
    """
    return json.dumps(settings, sort_keys=True)


def settings_digest(settings: Mapping[str, Any]) -> str:
    r"""A short hash of :func:`settings_key`: its SHA-256, first 10 hexadecimal digits."""
    return hashlib.sha256(settings_key(settings).encode()).hexdigest()[:10]


def run_name(settings: Mapping[str, Any]) -> str:
    r"""The folder name of the run with ``settings``: readable settings, then :func:`settings_digest`."""
    return (f"{settings['task']}-{settings['group']}-{settings['model']}-seed{settings['seed']}-"
            f"{settings_digest(settings)}")


def settings_differences(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> Tuple[str, str]:
    r"""The settings in which two runs differ, as ``"key=value, ..."`` for each side
    (hyperparameters as ``hyperparameters.name``; ``no key`` where one side lacks it).

    Example:
        >>> settings_differences({"epochs": 3, "hyperparameters": {"lr": 0.1}}, {"epochs": 2, "hyperparameters": {}})
        ('epochs=3, hyperparameters.lr=0.1', 'epochs=2, no hyperparameters.lr')
    """
    def flat(settings: Mapping[str, Any]) -> Dict[str, Any]:
        found = {k: v for k, v in settings.items() if k != "hyperparameters"}
        found.update({f"hyperparameters.{k}": v for k, v in dict(settings.get("hyperparameters") or {}).items()})
        return found

    a, b = flat(ours), flat(theirs)
    keys = [k for k in dict.fromkeys([*a, *b]) if json.dumps(a.get(k), sort_keys=True) != json.dumps(
        b.get(k), sort_keys=True) or (k in a) != (k in b)]

    def show(side: Mapping[str, Any]) -> str:
        return ", ".join(f"{k}={json.dumps(side[k], sort_keys=True)}" if k in side else f"no {k}" for k in keys)

    return show(a), show(b)


def _foreign_result(path: Path, ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> RunFolderError:
    folder, recorded = settings_differences(ours, theirs)
    return RunFolderError(f"{path} records other settings than its run folder {path.parent}: the folder is for "
                          f"{folder}, the file has {recorded}; delete or move the folder {path.parent} (its run is "
                          f"then trained again)")


def load_result(run_dir: PathLike) -> Optional[Result]:
    r"""The ``result.json`` of a finished or diverged run, or ``None`` if there is none.

    Raises:
        RunFolderError: if it cannot be read, is empty, is not JSON or records no settings.
    """
    path = Path(run_dir) / "result.json"
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
        result = json.loads(text)
        problem = None if isinstance(result, dict) and isinstance(result.get("config"), dict) else "no run settings"
    except (OSError, UnicodeDecodeError) as e:
        problem = f"{type(e).__name__}: {e}"
    except ValueError as e:
        problem = "the file is empty" if not text.strip() else f"not JSON: {e}"
    if problem is not None:
        raise RunFolderError(f"{path} cannot be read as a run result ({problem}): delete or move the folder "
                             f"{path.parent} (its run is then trained again)")
    return result


def finished_run(run_dir: PathLike, config: "RunConfig") -> Optional[Result]:
    r"""The result of the run ``config`` in ``run_dir`` (finished or diverged), or ``None`` if it has none.

    Raises:
        RunFolderError: if its ``result.json`` cannot be read (:func:`load_result`) or records
            other settings than ``config`` (copied in by hand, say), naming the settings that differ.
    """
    result = load_result(run_dir)
    if result is not None and settings_key(result["config"]) != settings_key(config.to_dict()):
        raise _foreign_result(Path(run_dir) / "result.json", config.to_dict(), result["config"])
    return result


def _check_folder(folder: Path, result: Optional[Result], config: "RunConfig") -> None:
    r"""Raise a :class:`RunFolderError` unless ``result`` (read from ``folder``, a folder whose name
    starts as ``config``'s) is missing or records the settings the folder's name stands for; it
    names the settings that differ when the folder is that of ``config`` (up to the data)."""
    if result is None or run_name(result["config"]) == folder.name:
        return
    for stands_for in (config, replace(config, data=result["config"].get("data", config.data))):
        if stands_for.name() == folder.name:
            raise _foreign_result(folder / "result.json", stands_for.to_dict(), result["config"])
    raise RunFolderError(f"{folder / 'result.json'} records the settings of the run {run_name(result['config'])}, "
                         f"not those of its folder {folder.name}; delete or move the folder {folder} (its run is "
                         f"then trained again)")


def find_runs(runs_dir: PathLike, configs: Sequence["RunConfig"], *, match_data: bool = True
              ) -> List[List[Result]]:
    r"""The finished or diverged runs of ``configs`` in ``runs_dir`` (one folder per run), as the
    command line's training and its ``--report-only`` both find them.

    A run folder is read if its name starts as that of a run of ``configs`` (its task, group,
    model and seed) and is trusted only if its ``result.json`` records the settings its name
    stands for. A run is found where those settings are ``config``'s; with ``match_data``
    false, up to the data (``RunConfig.data``), so that runs are found without their data.

    Returns:
        for each config, the results found: at most one with ``match_data``; with it false,
        one per data the run was trained on.

    Raises:
        RunFolderError: for a folder whose ``result.json`` cannot be read or records other
            settings than its name's; when the name is that of a config, the message names the
            settings that differ.
    """
    runs_dir = Path(runs_dir)
    folders = sorted(p for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []
    results: Dict[Path, Optional[Result]] = {}
    found = []
    for config in configs:
        ours = config.to_dict()
        if not match_data:
            ours.pop("data")
        prefix = f"{config.task}-{config.group}-{config.model}-seed{config.seed}-"  # as run_name begins
        matches = []
        for folder in (f for f in folders if f.name.startswith(prefix)):
            if folder not in results:
                results[folder] = load_result(folder)
            result = results[folder]
            _check_folder(folder, result, config)
            theirs = None if result is None else dict(result["config"])
            if theirs is not None and not match_data:
                theirs.pop("data", None)
            if theirs is not None and settings_key(theirs) == settings_key(ours):
                matches.append(result)
        found.append(matches)
    return found


def load_runs(folder: PathLike) -> List[Result]:
    r"""Every run result of the comparison in ``folder`` (its ``runs/*/result.json``, diverged runs
    included), in the order of their folders' names; none if it has no ``runs/``.

    Raises:
        RunFolderError: for a ``result.json`` that cannot be read (:func:`load_result`).
    """
    return [r for p in sorted(Path(folder).glob("runs/*/result.json")) if (r := load_result(p.parent)) is not None]


def is_diverged(result: Mapping[str, Any]) -> bool:
    r"""Whether the run of ``result`` diverged: an epoch's training loss was not finite, so the
    run stopped there without scores (``result["diverged_at_epoch"]``).

    Example:
        >>> is_diverged({"diverged_at_epoch": 3}), is_diverged({"diverged_at_epoch": None}), is_diverged({})
        (True, False, False)
    """
    return result.get("diverged_at_epoch") is not None


_MISSING = object()


def setting(result: Mapping[str, Any], name: str, default: Any = _MISSING) -> Any:
    r"""The setting ``name`` of a run: an entry of its ``config``, else of its hyperparameters,
    else ``default``.

    Example:
        >>> run = {"config": {"model": "soft", "hyperparameters": {"lam": 0.1}}}
        >>> setting(run, "model"), setting(run, "lam"), setting(run, "l2", None)
        ('soft', 0.1, None)

    Raises:
        KeyError: for a setting the run does not record and no ``default``, naming it.
    """
    config = result["config"]
    if name in config:
        return config[name]
    hyperparameters = config.get("hyperparameters") or {}
    if name in hyperparameters:
        return hyperparameters[name]
    if default is _MISSING:
        raise KeyError(f"the run {result.get('name', '')!r} records no setting {name!r}: give select() a default "
                       f"for it (defaults={{{name!r}: ...}})")
    return default


def select(results: Sequence[Result], *, diverged: bool = False, defaults: Optional[Mapping[str, Any]] = None,
           where: Optional[Callable[[Result], bool]] = None, by_seed: bool = True, **settings: Any) -> List[Result]:
    r"""The runs of ``results`` with the given ``settings`` (:func:`setting`; a setting a run does not
    record takes its value in ``defaults``, and matches nothing without one), for which ``where``
    holds, sorted by seed (in their order in ``results`` unless ``by_seed``).

    Args:
        results: run results (:func:`load_runs`).
        diverged: select the runs that diverged (:func:`is_diverged`) instead of the finished
            ones: the two are never selected together, so that no mean includes a run without scores.
        defaults: the values of settings for the runs that do not record them.
        where: a further condition on a run.
        by_seed: sort the runs by seed (stably); otherwise keep their order.
        **settings: the settings to match, e.g. ``group="C4", model="soft", lam=0.1``.

    Example:
        >>> runs = [{"config": {"model": "cnn", "seed": s, "hyperparameters": {}}} for s in (2, 0)]
        >>> runs.append({"config": {"model": "cnn", "seed": 1, "hyperparameters": {}}, "diverged_at_epoch": 4})
        >>> [r["config"]["seed"] for r in select(runs, model="cnn")], len(select(runs, diverged=True))
        ([0, 2], 1)
    """
    defaults = dict(defaults or {})
    chosen = [r for r in results if is_diverged(r) == diverged
              and all(setting(r, k, defaults.get(k)) == v for k, v in settings.items())
              and (where is None or where(r))]
    return sorted(chosen, key=lambda r: r["config"]["seed"]) if by_seed else chosen


def group_by(results: Sequence[Result], names: Sequence[str],
             defaults: Optional[Mapping[str, Any]] = None) -> Dict[Tuple[Any, ...], List[Result]]:
    r"""The runs of ``results`` grouped by their values of the settings ``names`` (:func:`setting`; a
    setting a run does not record takes its value in ``defaults``), keyed by those values in the order
    of ``names``; groups and the runs in each keep their order in ``results``.

    Example:
        >>> runs = [{"config": {"epochs": e, "seed": s, "hyperparameters": {}}}
        ...         for e, s in ((150, 0), (5, 0), (150, 1))]
        >>> {key: [r["config"]["seed"] for r in found] for key, found in group_by(runs, ["epochs"]).items()}
        {(150,): [0, 1], (5,): [0]}

    Raises:
        KeyError: for a setting a run does not record that ``defaults`` does not give.
    """
    defaults = dict(defaults or {})
    groups: Dict[Tuple[Any, ...], List[Result]] = {}
    for r in results:
        key = tuple(setting(r, n, defaults[n]) if n in defaults else setting(r, n) for n in names)
        groups.setdefault(key, []).append(r)
    return groups


def nearest(results: Sequence[Result], value: Callable[[Result], float], target: float) -> Result:
    r"""The run of ``results`` whose ``value`` is closest to ``target``, the first of them on a tie.

    Example:
        >>> runs = [{"config": {"l2": c}, "norm": n} for c, n in ((1e-4, 9.0), (1e-3, 6.0), (1e-2, 2.0))]
        >>> nearest(runs, lambda r: r["norm"], 5.0)["config"]["l2"]
        0.001

    Raises:
        ValueError: for no runs.
    """
    if not results:
        raise ValueError("no run to choose from")
    return min(results, key=lambda r: abs(value(r) - target))


def shared_setting(results: Sequence[Result], name: str) -> Any:
    r"""The value of the setting ``name`` (:func:`setting`) that the runs of ``results`` share.

    Example:
        >>> runs = [{"config": {"epochs": 50, "seed": s, "hyperparameters": {}}} for s in (0, 1)]
        >>> shared_setting(runs, "epochs")
        50

    Raises:
        ValueError: when the runs differ in it, or there are none, naming the values found.
    """
    values = {json.dumps(setting(r, name), sort_keys=True) for r in results}
    if len(values) != 1:
        raise ValueError(f"the {len(results)} run(s) do not share one value of {name!r}: {sorted(values)}")
    return json.loads(values.pop())


def best_epoch_index(history: Sequence[Mapping[str, Any]], within: Optional[int] = None) -> int:
    r"""The index in ``history`` of the first epoch with the best validation score, among the
    first ``within`` epochs (``None``: all).

    Example:
        >>> history = [{"val_score": v} for v in (0.5, 0.75, 0.75, 0.875)]
        >>> best_epoch_index(history), best_epoch_index(history, within=3)
        (3, 1)

    Raises:
        ValueError: for an empty history or ``within < 1``.
    """
    count = len(history) if within is None else min(within, len(history))
    if count < 1:
        raise ValueError(f"no epoch to choose from: {len(history)} epoch(s) recorded, within={within}")
    return max(range(count), key=lambda i: (history[i]["val_score"], -i))


def at_best(result: Mapping[str, Any], within: Optional[int] = None) -> Mapping[str, Any]:
    r"""The history record of ``result``'s best-validation epoch among its first ``within`` epochs
    (:func:`best_epoch_index`)."""
    return result["history"][best_epoch_index(result["history"], within)]


def score_at_best(result: Mapping[str, Any], within: Optional[int] = None, test_set: Optional[str] = None) -> float:
    r"""A run's test score at its best-validation epoch among its first ``within`` epochs: on the
    test set, or on the extra test set ``test_set`` (e.g. ``"upright"``)."""
    epoch = at_best(result, within)
    return epoch["test_score"] if test_set is None else epoch["test_scores"][test_set]


def scores(results: Sequence[Mapping[str, Any]], within: Optional[int] = None,
           test_set: Optional[str] = None) -> List[float]:
    r"""The :func:`score_at_best` of each run of ``results``."""
    return [score_at_best(r, within, test_set) for r in results]


def scores_by_test_set(results: Sequence[Mapping[str, Any]], within: Optional[int] = None,
                       test_sets: Sequence[str] = ("upright",)) -> Dict[str, List[float]]:
    r"""The :func:`scores` of ``results`` on the test set (key ``"test"``) and on each extra test set of
    ``test_sets`` (keyed by its name), at their best-validation epochs among their first ``within``.

    Example:
        >>> run = {"history": [{"val_score": 0.5, "test_score": 0.4, "test_scores": {"upright": 0.3}},
        ...                    {"val_score": 0.7, "test_score": 0.6, "test_scores": {"upright": 0.5}}]}
        >>> scores_by_test_set([run]), scores_by_test_set([run], within=1)
        ({'test': [0.6], 'upright': [0.5]}, {'test': [0.4], 'upright': [0.3]})
    """
    return {"test": scores(results, within), **{name: scores(results, within, name) for name in test_sets}}


FLOPS_LEFT_OUT: str = ("Training FLOPs: one step (loss, backward, optimiser) counted by PyTorch's FlopCounterMode, "
                       "matrix products and convolutions only; it leaves out gathers and index operations, "
                       "grid_sample, batch normalisation and elementwise operations.")
r"""What the training FLOPs of a run count and leave out
(:func:`~escnn_soft.experiments.compute.step_flops`), as the reports' captions say it."""


def _epochs_fitting(flops_per_epoch: float, budget: float) -> int:
    r""":math:`\lfloor B / F \rfloor`, forgiving the rounding of a budget that is a multiple of :math:`F`."""
    return math.floor(budget / flops_per_epoch * (1 + 1e-12))


def fits_one_epoch(flops_per_epoch: float, budget: float) -> bool:
    r"""Whether a compute ``budget`` (FLOPs) fits at least one epoch of :math:`F` =
    ``flops_per_epoch`` training FLOPs: whether :func:`epochs_within_compute` can score a run there.

    Example:
        >>> fits_one_epoch(2e9, 2e9), fits_one_epoch(2e9, 1.9e9)
        (True, False)
    """
    return _epochs_fitting(flops_per_epoch, budget) >= 1


def epochs_within_compute(result: Mapping[str, Any], flops_per_epoch: float, budget: float) -> int:
    r"""The number of epochs of a run whose cumulative training cost fits a compute budget: the
    largest :math:`k \le` the epochs recorded with :math:`k \cdot F \le B`, where :math:`F` is the
    run's training FLOPs per epoch and :math:`B` the budget, both in FLOPs. Scoring the run within
    them (``score_at_best(result, within=k)``) is its score at equal compute.

    Example:
        >>> run = {"name": "r", "history": [{}, {}, {}]}
        >>> epochs_within_compute(run, 2e9, 5e9), epochs_within_compute(run, 2e9, 1e12)
        (2, 3)

    Raises:
        ValueError: when not one epoch fits the budget, naming the run, its cost per epoch and the
            smallest budget that fits one (``--compute-budget``).
    """
    if not (flops_per_epoch > 0 and math.isfinite(flops_per_epoch)):
        raise ValueError(f"the training FLOPs per epoch of {result.get('name', 'a run')} must be a positive "
                         f"number, not {flops_per_epoch!r}")
    fitting = _epochs_fitting(flops_per_epoch, budget)
    if fitting < 1:
        raise ValueError(f"a compute budget of {budget:.4g} FLOPs is below one epoch of {result.get('name', 'a run')} "
                         f"({flops_per_epoch:.4g} training FLOPs per epoch): give --compute-budget at least "
                         f"{flops_per_epoch:.4g}")
    return min(fitting, len(result["history"]))


def best_so_far(result: Mapping[str, Any]) -> Dict[str, List[float]]:
    r"""A run's curves of selection so far, one value per epoch :math:`k`: ``"val"``, the best
    validation score among its first :math:`k` epochs, and ``"test"``, the test score at the first
    epoch with that score (``score_at_best(result, within=k)``): what stopping the run after :math:`k`
    epochs would report.

    Example:
        >>> run = {"history": [{"val_score": 0.5, "test_score": 0.4}, {"val_score": 0.7, "test_score": 0.6},
        ...                    {"val_score": 0.6}, {"val_score": 0.7}]}
        >>> best_so_far(run)
        {'val': [0.5, 0.7, 0.7, 0.7], 'test': [0.4, 0.6, 0.6, 0.6]}

    Raises:
        ValueError: for a run that diverged (:func:`is_diverged`), which has no scores.
    """
    if is_diverged(result):
        raise ValueError(f"the run {result.get('name', '')!r} diverged at epoch {result['diverged_at_epoch']}: it has "
                         f"no scores to select")
    curves: Dict[str, List[float]] = {"val": [], "test": []}
    best = 0
    for k, epoch in enumerate(result["history"]):
        if epoch["val_score"] > result["history"][best]["val_score"]:
            best = k
        curves["val"].append(result["history"][best]["val_score"])
        curves["test"].append(result["history"][best]["test_score"])
    return curves


def planned_budget(configs: Sequence[Mapping[str, Any]], flops: Mapping[str, float]) -> float:
    r"""The smallest planned compute budget among the runs of ``configs`` (their settings, as a
    ``result.json`` records them): :math:`\min E \, F_\text{epoch}` over them, :math:`E` a run's planned
    ``epochs`` and :math:`F_\text{epoch}` its training FLOPs per epoch, ``flops[run_name(config)]``.

    Example:
        >>> configs = [{"task": "t", "group": "G", "model": m, "seed": 0, "epochs": e}
        ...            for m, e in (("a", 10), ("b", 6))]
        >>> planned_budget(configs, {run_name(configs[0]): 1e9, run_name(configs[1]): 2e9})
        10000000000.0

    Raises:
        ValueError: for no runs.
    """
    if not configs:
        raise ValueError("no run to take the planned compute budget of")
    return min(c["epochs"] * flops[run_name(c)] for c in configs)


def check_budget(budget: float, flops: Mapping[str, float]) -> None:
    r"""Check that the compute ``budget`` (FLOPs) fits one epoch of every run of ``flops``
    (``{run name: training FLOPs per epoch}``).

    Example:
        >>> check_budget(2e9, {"a": 1e9, "b": 2e9})
        >>> check_budget(1.5e9, {"a": 1e9, "b": 2e9})
        Traceback (most recent call last):
        ...
        ValueError: a compute budget of 1.5e+09 FLOPs is below one epoch of b (2e+09 training FLOPs): ...

    Raises:
        ValueError: naming ``--compute-budget``, the run whose epoch does not fit and the smallest
            valid budget, the largest epoch of them all.
    """
    if not flops:
        return
    name, largest = max(flops.items(), key=lambda item: item[1])
    if not fits_one_epoch(largest, budget):
        raise ValueError(f"a compute budget of {budget:.4g} FLOPs is below one epoch of {name} ({largest:.4g} "
                         f"training FLOPs): give --compute-budget at least {largest:.4g}, one epoch of every run")


def epoch_values(results: Sequence[Mapping[str, Any]], key: str, epoch: Optional[int] = None) -> List[Any]:
    r"""The entry ``key`` of each run's history record of ``epoch`` (counted from 1; ``None``: its last).

    Example:
        >>> run = {"history": [{"train_score": 0.5}, {"train_score": 0.75}]}
        >>> epoch_values([run, run], "train_score"), epoch_values([run], "train_score", epoch=1)
        ([0.75, 0.75], [0.5])

    Raises:
        IndexError: for an ``epoch`` a run has not recorded.
    """
    if epoch is not None and epoch < 1:
        raise IndexError(f"epochs are counted from 1, not {epoch}")
    return [r["history"][-1 if epoch is None else epoch - 1][key] for r in results]


def plan_progress(results: Sequence[Result], planned: Sequence[Tuple[str, str, int]],
                  **where: Any) -> List[Dict[str, Any]]:
    r"""How far the runs of ``results`` have come against a plan of ``(group, model, seeds)`` entries:
    one record per entry, in plan order, with its ``group``, ``model``, ``planned`` seeds, the number of
    ``finished`` runs (:func:`select` with that group and model and the settings ``where``) and their
    ``seeds``, in increasing order.

    Example:
        >>> runs = [{"config": {"group": "C4", "model": "cnn", "seed": s, "hyperparameters": {}}} for s in (0, 1)]
        >>> plan_progress(runs, [("C4", "cnn", 3), ("C4", "soft", 3)])  # doctest: +NORMALIZE_WHITESPACE
        [{'group': 'C4', 'model': 'cnn', 'planned': 3, 'finished': 2, 'seeds': [0, 1]},
         {'group': 'C4', 'model': 'soft', 'planned': 3, 'finished': 0, 'seeds': []}]
    """
    found = [(group, model, count, select(results, group=group, model=model, **where))
             for group, model, count in planned]
    return [{"group": group, "model": model, "planned": count, "finished": len(runs),
             "seeds": [r["config"]["seed"] for r in runs]} for group, model, count, runs in found]


def mean_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Dict[str, Any]:
    r"""How the mean of the scores ``a`` (one per seed) compares with that of ``b``: Welch's
    :math:`t`-test (:func:`scipy.stats.ttest_ind` with ``equal_var=False``).

    Returns:
        ``difference``: :math:`\bar a - \bar b`; ``low``, ``high``: its ``confidence`` interval;
        ``p``: the two-sided p-value; ``n``: the seeds on each side; ``verdict``: ``"higher"`` or
        ``"lower"`` only when the interval excludes 0, else ``"no detectable difference"``; the
        interval, ``p`` and ``verdict`` are ``None`` with fewer than two scores on either side (too few
        for a test) or where the test is undefined (equal means and no spread on either side).

    Example:
        >>> found = mean_difference([0.90, 0.92], [0.80, 0.82])
        >>> round(found["difference"], 3), round(found["low"], 3), round(found["high"], 3), found["verdict"]
        (0.1, 0.039, 0.161, 'higher')
        >>> mean_difference([0.90, 0.80], [0.86, 0.84])["verdict"]
        'no detectable difference'
        >>> mean_difference([0.9], [0.8])["verdict"] is None
        True
    """
    from scipy import stats

    difference = mean_std(a)[0] - mean_std(b)[0]
    found: Dict[str, Any] = {"difference": difference, "low": None, "high": None, "p": None,
                             "n": (len(a), len(b)), "verdict": None}
    if min(len(a), len(b)) < 2:
        return found
    test = stats.ttest_ind(a, b, equal_var=False)
    if not math.isfinite(test.pvalue):
        return found
    interval = test.confidence_interval(confidence)
    low, high = float(interval.low), float(interval.high)
    verdict = "higher" if low > 0 else "lower" if high < 0 else "no detectable difference"
    return {**found, "low": low, "high": high, "p": float(test.pvalue), "verdict": verdict}


def _metric_keys(metrics: Mapping[str, Mapping[str, float]], names: Sequence[str], metric_names: Sequence[str],
                 suffix: str = "") -> Dict[str, Optional[float]]:
    r"""The task metrics of the test sets as ``"test <metric>"`` and ``"<name> test <metric>"``: keys
    with a space, which the score keys (``test_score...``) never have."""
    return {f"{'' if n == 'test' else n + ' '}test {m}{suffix}": metrics.get(n, {}).get(m)
            for n in ("test", *names) for m in metric_names}


def best_scores(result: Mapping[str, Any], names: Sequence[str] = (), within: Optional[int] = None,
                metric_names: Sequence[str] = ()) -> Dict[str, Optional[float]]:
    r"""A run's scores at its best-validation epoch, keyed as the reports name them: ``test_score``,
    ``test_score_<name>`` for the extra test sets ``names``, and the task metrics ``test <metric>``,
    ``<name> test <metric>`` of ``metric_names``; with ``within``, also at its best among its first
    ``within`` epochs (``..._within_<within>``, ``... within <within>``). A run that diverged has
    ``None`` for each.

    Example:
        >>> run = {"test_score": 0.6, "history": [{"val_score": 0.5, "test_score": 0.4},
        ...                                       {"val_score": 0.7, "test_score": 0.6}]}
        >>> best_scores(run, within=1)
        {'test_score': 0.6, 'test_score_within_1': 0.4}
    """
    extra = result.get("test_scores", {})
    found = {"test_score": result.get("test_score"), **{f"test_score_{n}": extra.get(n) for n in names},
             **_metric_keys(result.get("metrics", {}), names, metric_names)}
    if within is not None and is_diverged(result):
        found[f"test_score_within_{within}"] = None
        found.update({f"test_score_{n}_within_{within}": None for n in names})
        found.update(_metric_keys({}, names, metric_names, f" within {within}"))
    elif within is not None:
        epoch = at_best(result, within)
        found[f"test_score_within_{within}"] = epoch["test_score"]
        found.update({f"test_score_{n}_within_{within}": epoch.get("test_scores", {}).get(n) for n in names})
        found.update(_metric_keys(epoch.get("metrics", {}), names, metric_names, f" within {within}"))
    return found


def history_value(result: Mapping[str, Any], epoch: int, *keys: str) -> Optional[Any]:
    r"""The entry ``keys`` (one key, or the keys of nested records) of a run's history record of
    ``epoch`` (counted from 1), or ``None`` where the run has not recorded that epoch.

    Example:
        >>> run = {"history": [{"monitor": {"norm": 2.5}}, {"monitor": {"norm": 3.0}}]}
        >>> history_value(run, 2, "monitor", "norm"), history_value(run, 30, "monitor", "norm")
        (3.0, None)
    """
    if not 1 <= epoch <= len(result["history"]):
        return None
    value: Any = result["history"][epoch - 1]
    for key in keys:
        value = value[key]
    return value


def means_by(results: Sequence[Result], names: Sequence[str],
             value: Union[str, Callable[[Result], float]] = "test_score") -> Dict[Tuple[Any, ...], float]:
    r"""The mean over the runs of each group of :func:`group_by` (by the settings ``names``) of
    ``value``: an entry of each result, or a function of a run; keyed as :func:`group_by` keys.

    Example:
        >>> runs = [{"config": {"model": m, "seed": s, "hyperparameters": {}}, "test_score": t}
        ...         for m, s, t in (("cnn", 0, 0.5), ("cnn", 1, 0.75), ("soft", 0, 0.8))]
        >>> means_by(runs, ["model"])
        {('cnn',): 0.625, ('soft',): 0.8}
    """
    get = value if callable(value) else (lambda r: r[value])
    return {key: mean_std([get(r) for r in found])[0] for key, found in group_by(results, names).items()}


def progress_totals(progress: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    r"""The totals of the :func:`plan_progress` records ``progress``: the runs ``finished`` (each entry's
    up to its planned seeds) of the ``planned`` ones, and the records of the entries ``unfinished``
    (fewer finished than planned) and ``started`` (at least one finished), in plan order.

    Example:
        >>> progress = [{"group": "C4", "model": "cnn", "planned": 3, "finished": 4},
        ...             {"group": "C4", "model": "soft", "planned": 3, "finished": 1}]
        >>> totals = progress_totals(progress)
        >>> totals["finished"], totals["planned"], [p["model"] for p in totals["unfinished"]], len(totals["started"])
        (4, 6, ['soft'], 2)
    """
    return {"finished": sum(min(p["planned"], p["finished"]) for p in progress),
            "planned": sum(p["planned"] for p in progress),
            "unfinished": [p for p in progress if p["finished"] < p["planned"]],
            "started": [p for p in progress if p["finished"]]}


FLOPS_SETTINGS: Tuple[str, ...] = ("task", "group", "model", "hyperparameters", "protocol", "batch_size", "train_size")
r"""The settings of a run that set its training FLOPs per epoch: those of one step
(:func:`~escnn_soft.experiments.compute.step_settings`) and the training-set size."""


def flops_settings(config: Mapping[str, Any]) -> Dict[str, Any]:
    r"""The settings of the run ``config`` (a ``result.json``'s ``config``) that set its training FLOPs
    per epoch (:data:`FLOPS_SETTINGS`): every setting but its seed, data and epochs.

    Example:
        >>> config = {"task": "mnist", "group": "C4", "model": "soft", "seed": 3, "data": "ab", "epochs": 20,
        ...           "hyperparameters": {"lr": 1e-3}, "protocol": 2, "batch_size": 64, "train_size": 4000}
        >>> sorted(flops_settings(config))
        ['batch_size', 'group', 'hyperparameters', 'model', 'protocol', 'task', 'train_size']
    """
    return {k: config.get(k) for k in FLOPS_SETTINGS}


class MissingFlops(KeyError):
    r"""A run whose settings a table of training FLOPs (:func:`load_flops`) has no entry for
    (:func:`flops_of`)."""


def load_flops(path: PathLike) -> Dict[str, Dict[str, Any]]:
    r"""A table of training FLOPs: the JSON file ``path``, ``{"entries": [...]}``, each entry the
    :func:`flops_settings` of a run (``"settings"``), the FLOPs of one step at its batch size
    (``"step_flops"``) and of one epoch (``"epoch_flops"``,
    :func:`~escnn_soft.experiments.compute.epoch_flops`), keyed by :func:`settings_key` of its settings.
    Reading it needs no torch, so reports read counts made once.

    Raises:
        FileNotFoundError: for a missing file.
        ValueError: for a file that is not such a table, naming the file and the entry.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no table of training FLOPs at {path}: write it with compute.flops_entry for each "
                                f"run setting")
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["entries"]
        table = {settings_key(e["settings"]): e for e in entries}
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a table of training FLOPs ({type(e).__name__}: {e}): it holds "
                         f'{{"entries": [{{"settings": ..., "step_flops": ..., "epoch_flops": ...}}]}}') from None
    for key, entry in table.items():
        if not all(isinstance(entry.get(k), int) and entry[k] > 0 for k in ("step_flops", "epoch_flops")):
            raise ValueError(f"{path}: the entry {key} needs positive integer step_flops and epoch_flops, got "
                             f"{entry.get('step_flops')!r} and {entry.get('epoch_flops')!r}")
    return table


def flops_of(result: Mapping[str, Any], table: Mapping[str, Mapping[str, Any]]) -> int:
    r"""The training FLOPs per epoch of the run ``result`` (its ``result.json``, or its ``config``) in the
    table ``table`` (:func:`load_flops`).

    Example:
        >>> config = {"task": "t", "group": "G", "model": "m", "seed": 0, "epochs": 3, "hyperparameters": {},
        ...           "protocol": 2, "batch_size": 8, "train_size": 16}
        >>> table = {settings_key(flops_settings(config)): {"step_flops": 5, "epoch_flops": 10}}
        >>> flops_of({"config": config}, table), flops_of(config, table)
        (10, 10)

    Raises:
        MissingFlops: a :class:`KeyError`, for a run whose settings the table lacks, naming them.
    """
    config = result.get("config", result)
    key = settings_key(flops_settings(config))
    if key not in table:
        raise MissingFlops(f"the table of training FLOPs has no entry for the run {run_name(config)} (settings "
                           f"{key}): count it (compute.flops_entry) and add it to the table")
    return table[key]["epoch_flops"]


def by_settings(results: Sequence[Result]) -> List[List[Result]]:
    r"""The runs of ``results`` grouped by every setting of their ``config`` but the seed and the data:
    one group per setting, each sorted by seed, in the order of their first runs. The data fingerprint
    may differ from seed to seed (a subset drawn per seed), but one seed counts once.

    Example:
        >>> runs = [{"config": {"model": m, "seed": s, "data": d, "hyperparameters": {}}}
        ...         for m, s, d in (("a", 1, "x"), ("b", 0, "x"), ("a", 0, "y"))]
        >>> [[(r["config"]["model"], r["config"]["seed"]) for r in g] for g in by_settings(runs)]
        [[('a', 0), ('a', 1)], [('b', 0)]]

    Raises:
        ValueError: for two runs of one setting and seed (trained on different data, say: the same
            folder after the data were generated anew), naming them: a mean over the setting's seeds
            would count that seed twice.
    """
    groups: Dict[str, List[Result]] = {}
    for r in results:
        key = settings_key({k: v for k, v in r["config"].items() if k not in ("seed", "data")})
        groups.setdefault(key, []).append(r)
    for group in groups.values():
        seen: Dict[Any, Result] = {}
        for r in group:
            first = seen.setdefault(r["config"]["seed"], r)
            if first is not r:
                names = [x.get("name", run_name(x["config"])) for x in (first, r)]
                raise ValueError(
                    f"two runs of one setting have seed {r['config']['seed']}: {names[0]} and {names[1]}, on "
                    f"data {first['config'].get('data')} and {r['config'].get('data')}; keep the runs of one "
                    f"data source (their config's 'data') in a comparison, in a folder of their own")
    return [sorted(g, key=lambda r: r["config"]["seed"]) for g in groups.values()]


def best_by_validation(results: Sequence[Result], min_seeds: int = 2) -> Optional[List[Result]]:
    r"""The runs of the setting (:func:`by_settings`) with the best mean validation score (each run's at
    its best-validation epoch), among the settings with at least ``min_seeds`` finished runs; the first
    of them on a tie, ``None`` where none has as many. Picking the best of several settings this way is
    optimistic: the test mean of the setting picked is biased upward, more so the more settings compete.

    Example:
        >>> runs = [{"config": {"model": m, "seed": s, "hyperparameters": {}}, "history": [{"val_score": v}]}
        ...         for m, s, v in (("a", 0, 0.5), ("a", 1, 0.7), ("b", 0, 0.9), ("c", 0, 0.65), ("c", 1, 0.65))]
        >>> [r["config"]["model"] for r in best_by_validation(runs)], best_by_validation(runs, min_seeds=3)
        (['c', 'c'], None)
    """
    settings = [g for g in by_settings(select(results, by_seed=False)) if len(g) >= min_seeds]
    if not settings:
        return None
    return max(settings, key=lambda g: mean_std([at_best(r)["val_score"] for r in g])[0])


def compare_at_equal_cost(ours: Sequence[Result], theirs: Sequence[Result], flops: Mapping[str, float],
                          confidence: float = 0.95) -> Dict[str, Any]:
    r"""The runs ``ours`` against the runs ``theirs`` (each the seeds of one setting) at equal epochs and
    at equal compute: :func:`mean_difference` of their test scores, ours minus theirs.

    * **Equal epochs.** Each run is scored at its best-validation epoch among its first :math:`E`
      epochs, :math:`E` the smaller of the two settings' planned ``epochs``.
    * **Equal compute.** Each run is scored at its best-validation epoch among the epochs whose
      cumulative training FLOPs fit the budget :math:`C` (:func:`epochs_within_compute`), the smaller
      planned budget of the two (:func:`planned_budget`: :math:`\min E_\text{planned} F_\text{epoch}`).

    Args:
        ours, theirs: finished runs, one setting each.
        flops: the training FLOPs per epoch of each run, by run name (:func:`flops_of`).
        confidence: of the intervals.

    Returns:
        ``epochs`` (:math:`E`), ``equal_epochs`` (:func:`mean_difference` and the two means, ``ours``
        and ``theirs``), ``budget`` (:math:`C`), ``fitting``: the epochs of each side that fit :math:`C`
        (:math:`\lfloor C / F_\text{epoch} \rfloor`, at most its planned epochs), and ``equal_compute``.

    Example:
        >>> def run(model, seed, epochs, tests):
        ...     config = {"task": "t", "group": "G", "model": model, "seed": seed, "epochs": epochs}
        ...     return {"name": run_name(config), "config": config,
        ...             "history": [{"val_score": t, "test_score": t} for t in tests]}
        >>> soft = [run("soft", s, 4, [0.5, 0.6 + s / 50, 0.7 + s / 100, 0.8 + s / 100]) for s in (0, 1)]
        >>> aug = [run("aug", s, 4, [0.6, 0.7 + s / 100, 0.72, 0.74 + s / 100]) for s in (0, 1)]
        >>> flops = {**{r["name"]: 2.0 for r in soft}, **{r["name"]: 1.0 for r in aug}}
        >>> found = compare_at_equal_cost(soft, aug, flops)
        >>> found["epochs"], round(found["equal_epochs"]["difference"], 3), found["equal_epochs"]["verdict"]
        (4, 0.06, 'higher')
        >>> found["budget"], found["fitting"], round(found["equal_compute"]["difference"], 3)
        (4.0, (2, 4), -0.135)

    Raises:
        ValueError: for a side without runs, or runs of one seed trained on different data (their
            ``config["data"]``, the data's fingerprint): scores of two data sets are not compared.
    """
    if not ours or not theirs:
        raise ValueError(f"a comparison needs runs on both sides, got {len(ours)} and {len(theirs)}")
    sources: Dict[Any, set] = {}
    for r in (*ours, *theirs):
        sources.setdefault(r["config"]["seed"], set()).add(r["config"].get("data"))
    mixed = {seed: found for seed, found in sources.items() if len(found) > 1}
    if mixed:
        seed, found = min(mixed.items())
        raise ValueError(f"the runs of seed {seed} compared were trained on different data "
                         f"({', '.join(sorted(map(str, found)))}): compare runs of one data source (their config's "
                         f"'data')")
    epochs = min(c["config"]["epochs"] for c in (*ours, *theirs))
    budget = planned_budget([r["config"] for r in (*ours, *theirs)], flops)

    def compared(within: Callable[[Result], int]) -> Dict[str, Any]:
        a, b = [score_at_best(r, within(r)) for r in ours], [score_at_best(r, within(r)) for r in theirs]
        return {**mean_difference(a, b, confidence), "ours": mean_std(a)[0], "theirs": mean_std(b)[0]}

    fitting = tuple(min(_epochs_fitting(flops[side[0]["name"]], budget), side[0]["config"]["epochs"])
                    for side in (ours, theirs))
    return {"epochs": epochs, "equal_epochs": compared(lambda r: epochs), "budget": budget, "fitting": fitting,
            "equal_compute": compared(lambda r: epochs_within_compute(r, flops[r["name"]], budget))}


def soft_verdicts(results: Sequence[Result], flops: Mapping[str, float], *, reference: str = "cnn-aug",
                  strict: Sequence[str] = (), min_seeds: int = 2) -> Dict[str, Any]:
    r"""Does soft pay, on the runs ``results`` of one task and group? The soft setting (a model with a
    latent term: a hyperparameter ``lam`` above 0) with the best mean validation score
    (:func:`best_by_validation`) against the ``reference`` model's best setting and against the best
    setting of the strict models ``strict``, each at equal epochs and at equal compute
    (:func:`compare_at_equal_cost`). Only settings with at least ``min_seeds`` finished runs compete.

    Returns:
        ``soft``: the runs of the soft setting picked (``None`` where there is none), ``settings``: the
        number of soft settings that competed, and ``reference`` and ``strict``: each the other side's
        runs (``"runs"``) and :func:`compare_at_equal_cost` (``"comparison"``), or ``None`` where that
        side or soft has no setting.

    Example:
        >>> def run(model, seed, lam, val):
        ...     config = {"task": "t", "group": "G", "model": model, "seed": seed, "epochs": 1,
        ...               "hyperparameters": {} if lam is None else {"lam": lam}}
        ...     return {"name": run_name(config), "config": config,
        ...             "history": [{"val_score": val, "test_score": val}]}
        >>> runs = [run(m, s, lam, v + s / 100) for m, lam, v in (("soft", 1.0, 0.8), ("soft", 0.1, 0.7),
        ...         ("cnn-aug", 0.0, 0.75), ("scnn", None, 0.6)) for s in (0, 1)]
        >>> found = soft_verdicts(runs, {r["name"]: 1.0 for r in runs}, strict=["scnn"])
        >>> found["soft"][0]["config"]["hyperparameters"], found["settings"]
        ({'lam': 1.0}, 2)
        >>> found["reference"]["comparison"]["equal_compute"]["verdict"], found["strict"]["runs"][0]["config"]["model"]
        ('higher', 'scnn')

    Raises:
        ValueError: for runs of several tasks or groups, or a ``reference`` among ``strict``.
    """
    places = sorted({(r["config"]["task"], r["config"]["group"]) for r in results})
    if len(places) > 1:
        raise ValueError(f"soft_verdicts compares the runs of one task and group at a time, got {places}: select "
                         f"one of them first")
    if reference in strict:
        raise ValueError(f"the reference model {reference!r} cannot also be a strict model {list(strict)}")
    soft_runs = [r for r in results if r["config"]["model"] != reference and setting(r, "lam", 0) > 0]
    settings = [g for g in by_settings(select(soft_runs, by_seed=False)) if len(g) >= min_seeds]
    soft = best_by_validation(soft_runs, min_seeds)
    found: Dict[str, Any] = {"soft": soft, "settings": len(settings)}
    for side, models in (("reference", (reference,)), ("strict", tuple(strict))):
        other = best_by_validation([r for r in results if r["config"]["model"] in models], min_seeds)
        found[side] = None if soft is None or other is None else {
            "runs": other, "comparison": compare_at_equal_cost(soft, other, flops)}
    return found
