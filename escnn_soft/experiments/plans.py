r"""Run plans: which runs a comparison is expected to hold, as data, and the commands that train them.

A plan file is JSON: plan names, each mapped to a plan with

* ``settings``: the options of ``escnn-soft compare`` its entries share, and
* ``entries``: its parts, each with a ``part`` name (e.g. ``"tier 1"``) and the settings
  that are its own (they override the shared ones).

Settings are named as the flags of ``escnn-soft compare`` without their dashes, with ``_`` for
``-`` (``train_size`` for ``--train-size``); ``groups``, ``models`` and ``seeds`` are lists
(``--group``, ``--models``, ``--seeds``), and so is a swept setting (``train_size``, ``lr``, ``lam``,
``pair_fraction``) where it gives several values (``[250, 1000, 4000]`` for ``--train-size
250,1000,4000``); ``true`` is a flag without a value.

``escnn-soft plan NAME[:PART]`` (:mod:`~escnn_soft.experiments.cli`) runs the entries of a plan
(or of its part) through these arguments, and READMEs show them as their commands. With one
``--report-dir`` for several entries, each entry reports into its own subfolder, :func:`entry_folder`.
:func:`seed_counts` gives the seeds a plan expects of each model.

Example:
    >>> plan = {"settings": {"task": "ddmnist", "epochs": 150, "out": "results/x"},
    ...         "entries": [{"part": "tier 1", "groups": ["D4", "C4"], "models": ["cnn-aug", "soft"], "seeds": [0, 1]},
    ...                     {"part": "strict", "groups": ["C4"], "models": ["scnn"], "seeds": [0], "epochs": 50}]}
    >>> [(r["group"], r["model"], r["seeds"], r["epochs"]) for r in planned_runs(plan, "strict")]
    [('C4', 'scnn', [0], 50)]
    >>> " ".join(compare_arguments(plan, plan["entries"][1]))
    '--task ddmnist --epochs 50 --out results/x --group C4 --models scnn --seeds 0'
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

__all__ = ["DATA_SETTINGS", "load_plans", "entry_settings", "planned_runs", "part_setting", "compare_arguments",
           "entry_folder", "seed_counts"]

Plan = Mapping[str, Any]

_LISTS = {"groups": "--group", "models": "--models", "seeds": "--seeds"}
r"""The list settings and their flags."""

DATA_SETTINGS = ("data", "data_dir", "mnist")
r"""The settings that name a plan's data source (``--data``, ``--data-dir``, ``--mnist``): where the data
lies on one machine (the runs record the data by its fingerprint, not by its path)."""


def load_plans(path: Union[str, Path]) -> Dict[str, Plan]:
    r"""The plans of the plan file ``path``, by name.

    Raises:
        ValueError: for a file that is not JSON, or a plan without ``entries`` or an entry
            without ``part``, naming the file and the plan.
    """
    path = Path(path)
    try:
        plans = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{path} is not a plan file (not JSON: {e})") from None
    for name, plan in plans.items():
        entries = plan.get("entries") if isinstance(plan, dict) else None
        if not entries or not all(isinstance(e, dict) and "part" in e for e in entries):
            raise ValueError(f"{path}: the plan {name!r} needs 'entries', a list of objects each with a 'part'")
    return plans


def entry_settings(plan: Plan, entry: Mapping[str, Any]) -> Dict[str, Any]:
    r"""The settings of the plan entry ``entry``: the plan's, then the entry's own (without ``part``)."""
    return {**plan.get("settings", {}), **{k: v for k, v in entry.items() if k != "part"}}


def planned_runs(plan: Plan, part: Optional[str] = None) -> List[Dict[str, Any]]:
    r"""One record per model and group the plan (or its entries named ``part``) expects, in the
    order of its entries, models before groups: its ``part``, ``group`` (``None`` where the
    entry names none: the task's default group), ``model``, and every other setting of its
    entry (:func:`entry_settings`), ``seeds`` among them and a swept setting as its list."""
    found = []
    for entry in plan["entries"]:
        if part is not None and entry["part"] != part:
            continue
        settings = entry_settings(plan, entry)
        others = {k: v for k, v in settings.items() if k not in ("groups", "models")}
        for model in settings["models"]:
            found += [{"part": entry["part"], "group": group, "model": model, **others}
                      for group in settings.get("groups", [None])]
    return found


def part_setting(plan: Plan, part: str, name: str) -> Any:
    r"""The value of the setting ``name`` that the entries of ``plan`` named ``part`` share.

    Raises:
        ValueError: when they do not share one value of it (or there is no such part), naming the values.
    """
    values = {json.dumps(entry_settings(plan, e).get(name), sort_keys=True) for e in plan["entries"]
              if e["part"] == part}
    if len(values) != 1:
        raise ValueError(f"the entries {part!r} of the plan do not share one value of {name!r}: {sorted(values)}")
    return json.loads(values.pop())


def compare_arguments(plan: Plan, entry: Mapping[str, Any], *, leave_out: Sequence[str] = ()) -> List[str]:
    r"""The arguments of ``escnn-soft compare`` (after the command's name) that train the plan
    entry ``entry``: one flag per setting (:func:`entry_settings`), in their order, a swept setting's
    list as its comma-separated values, the lists of groups, models and seeds last, without the
    settings named in ``leave_out`` (e.g. :data:`DATA_SETTINGS`)."""
    settings = {k: v for k, v in entry_settings(plan, entry).items() if k not in leave_out}
    words: List[str] = []
    for key, value in settings.items():
        if key in _LISTS or value is False or value is None:
            continue
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        words += [f"--{key.replace('_', '-')}"] + ([] if value is True else [text])
    for key, flag in _LISTS.items():
        if key in settings:
            words += [flag, ",".join(map(str, settings[key]))]
    return words


def entry_folder(plan: Plan, entry: Mapping[str, Any]) -> str:
    r"""The name of the folder of the plan entry ``entry``'s own reports: its number among the plan's
    entries (from 1), its ``part`` and its groups, in letters, digits and ``-``. ``escnn-soft plan``
    writes each entry's reports into such a subfolder of one ``--report-dir`` when it runs more than
    one entry, so that no entry's reports overwrite another's.

    Example:
        >>> plan = {"entries": [{"part": "tier 1", "groups": ["C4", "D4"]}, {"part": "tier 3 strict"}]}
        >>> [entry_folder(plan, e) for e in plan["entries"]]
        ['1-tier-1-C4-D4', '2-tier-3-strict']

    Raises:
        ValueError: for an entry that is not one of ``plan``'s.
    """
    numbers = ([i for i, e in enumerate(plan["entries"], 1) if e is entry]
               or [i for i, e in enumerate(plan["entries"], 1) if e == entry])
    if not numbers:
        raise ValueError(f"the entry {dict(entry)!r} is not one of the plan's entries")
    words = [str(numbers[0]), entry["part"], *entry_settings(plan, entry).get("groups", [])]
    return "-".join(w for w in re.split(r"[^A-Za-z0-9]+", "-".join(map(str, words))) if w)


def seed_counts(plan: Plan, part: Optional[str] = None) -> Dict[str, int]:
    r"""The seeds the plan (or its entries named ``part``) expects of each model, summed over its
    entries and groups, in the order the models first appear (:func:`planned_runs`).

    Example:
        >>> plan = {"entries": [{"part": "grid", "models": ["cnn", "soft"], "seeds": [0]},
        ...                     {"part": "grid", "models": ["soft"], "seeds": [1, 2]}]}
        >>> seed_counts(plan, "grid")
        {'cnn': 1, 'soft': 3}
    """
    counts: Dict[str, int] = {}
    for run in planned_runs(plan, part):
        counts[run["model"]] = counts.get(run["model"], 0) + len(run["seeds"])
    return counts
