r"""``escnn-soft compare`` on run folders it cannot trust or read, diverged runs, runs another
process holds, and data files that cannot be read: one clear line (exit status 2), or the run
skipped and listed; never a raw traceback or a wrong table."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import escnn_soft.experiments.runner as runner
from escnn_soft.experiments import claims, get_task
from escnn_soft.experiments.cli import main, parse_args
from escnn_soft.experiments.comparison import compare, prepare, run_configs


def _grid(out, *extra, models="cnn,cnn-aug"):
    return ["--task", "mnist", "--models", models, "--train-size", "64", "--epochs", "1", "--batch-size", "32",
            "--equivariance-batch", "8", "--device", "cpu", "--no-progress", "--threads", "1", "--out", str(out),
            *extra]


def _folders(out, *argv):
    r"""The run folder of each model of the comparison ``argv`` under ``out``, by model."""
    options = parse_args(_grid(out, *argv))
    task, source = prepare(options)
    return {c.model: out / "runs" / c.name() for c in run_configs(task, options, "C4", data=source.fingerprint)}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    r"""A folder with the two finished runs of :func:`_grid` (copy it before changing it)."""
    out = tmp_path_factory.mktemp("finished")
    assert main(["compare", *_grid(out)]) == 0
    return out


def _copy(finished, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    return out, _folders(out)


def _error_line(capsys):
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("escnn-soft compare: error: ")
    return line


def test_a_result_copied_into_another_runs_folder_is_refused_by_training_and_report_only(finished, tmp_path, capsys):
    out, folders = _copy(finished, tmp_path)
    shutil.copyfile(folders["cnn"] / "result.json", folders["cnn-aug"] / "result.json")
    capsys.readouterr()
    for extra in ([], ["--report-only"]):
        assert main(["compare", *_grid(out, *extra)]) == 2
        line = _error_line(capsys)
        assert f"{folders['cnn-aug'] / 'result.json'} records other settings than its run folder" in line
        assert 'the folder is for model="cnn-aug", the file has model="cnn"' in line
        assert f"delete or move the folder {folders['cnn-aug']}" in line


def test_a_run_folder_copied_under_another_name_is_not_a_second_run(finished, tmp_path, capsys):
    out, folders = _copy(finished, tmp_path)
    copy = folders["cnn"].with_name(folders["cnn"].name[:-10] + "0123456789")
    shutil.copytree(folders["cnn"], copy)
    capsys.readouterr()
    for extra in ([], ["--report-only"]):
        assert main(["compare", *_grid(out, *extra)]) == 2
        line = _error_line(capsys)
        assert f"{copy / 'result.json'} records the settings of the run {folders['cnn'].name}, not those of its " \
               f"folder {copy.name}" in line


@pytest.mark.parametrize("text", ["", "{garbage"])
def test_a_result_that_cannot_be_read_is_named_by_training_and_report_only(finished, tmp_path, capsys, text):
    out, folders = _copy(finished, tmp_path)
    (folders["cnn"] / "result.json").write_text(text)
    capsys.readouterr()
    for extra in ([], ["--report-only"]):
        assert main(["compare", *_grid(out, *extra)]) == 2
        line = _error_line(capsys)
        assert f"{folders['cnn'] / 'result.json'} cannot be read as a run result" in line
        assert f"delete or move the folder {folders['cnn']}" in line


def test_a_diverged_run_is_shown_as_diverged_and_retrained_only_on_request(tmp_path, capsys, monkeypatch):
    argv = ["compare", *_grid(tmp_path, "--lr", "1e30", models="cnn")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "C4 cnn seed 0: diverged at epoch 1/1 (training loss not finite); no scores" in printed
    assert "| model | test accuracy (%) | test accuracy (%), equal compute | parameters | s/epoch | latent equiv. error | output equiv. error | device " \
           "| diverged |" in printed
    assert "| cnn | — | — | 62,660 | — | — | — | cpu | seed 0 (epoch 1) |" in printed
    assert "1 run(s) diverged (training loss not finite), left out of every mean: C4 cnn seed 0 at epoch 1" in printed
    (path,) = tmp_path.glob("runs/*/result.json")
    result = json.loads(path.read_text(), parse_constant=lambda token: pytest.fail(f"not strict JSON: {token}"))
    assert result["diverged_at_epoch"] == 1 and "test_score" not in result

    train_run, trained = runner.train_run, []
    monkeypatch.setattr(runner, "train_run", lambda *a, **k: trained.append(a[2].name()) or train_run(*a, **k))
    assert main(argv) == 0 and trained == []
    assert "0 run(s) trained, 0 reused" in capsys.readouterr().out
    assert main([*argv, "--retrain-diverged"]) == 0 and trained == [path.parent.name]
    assert "1 run(s) trained, 0 reused" in capsys.readouterr().out


def test_runs_another_live_process_holds_are_skipped_and_listed(tmp_path, capsys):
    for out, extra in ((tmp_path / "one", ()), (tmp_path / "two", ("--jobs", "2"))):
        folders = _folders(out)
        held = claims.claim(folders["cnn"], {"model": "cnn"})  # this process holds it, as another command would
        try:
            results = compare(parse_args(_grid(out, *extra)))
            assert [r["config"]["model"] for r in results] == ["cnn-aug"]
            assert not (folders["cnn"] / "result.json").exists() and not (folders["cnn"] / "checkpoint.pt").exists()
            printed = capsys.readouterr().out
            assert f"C4 cnn seed 0: trained by another process ({held.info['host']}, pid {os.getpid()}, since " \
                   f"{held.info['claimed']}): skipped" in printed
            assert "1 run(s) trained, 0 reused" in printed and "1 run(s) held by another process, left out" in printed
        finally:
            held.release()
    assert len(compare(parse_args(_grid(tmp_path / "one")))) == 2  # once released, it is trained
    assert not list(tmp_path.glob("*/runs/*/claim.json*"))


class Interrupt(Exception):
    pass


def _interrupt(epoch, record):
    raise Interrupt


def test_a_checkpoint_that_cannot_be_read_is_named_and_restarted_on_request_keeping_the_others(tmp_path, capsys):
    folders = _folders(tmp_path, "--epochs", "2")
    with pytest.raises(Interrupt):  # cnn-aug: a good checkpoint after its first epoch
        compare(parse_args(_grid(tmp_path, "--epochs", "2", models="cnn-aug")), on_epoch=_interrupt)
    folders["cnn"].mkdir(parents=True)
    (folders["cnn"] / "checkpoint.pt").write_bytes(bytes(range(256)) * 16)
    capsys.readouterr()
    assert main(["compare", *_grid(tmp_path, "--epochs", "2")]) == 2
    line = _error_line(capsys)
    assert f"{folders['cnn'] / 'checkpoint.pt'} cannot be read (4,096 bytes, truncated or not a checkpoint)" in line
    assert "--restart-corrupt" in line and "weights_only" not in line
    results = compare(parse_args(_grid(tmp_path, "--epochs", "2", "--restart-corrupt")))
    assert {r["config"]["model"]: r["resumed_from_epoch"] for r in results} == {"cnn": None, "cnn-aug": 1}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_checkpoint_of_other_settings_ends_in_one_line(tmp_path, capfd, jobs):
    folders = _folders(tmp_path, "--epochs", "2")
    with pytest.raises(Interrupt):
        compare(parse_args(_grid(tmp_path, "--epochs", "2", models="cnn")), on_epoch=_interrupt)
    folders["cnn-aug"].mkdir(parents=True)
    shutil.copyfile(folders["cnn"] / "checkpoint.pt", folders["cnn-aug"] / "checkpoint.pt")
    capfd.readouterr()
    assert main(["compare", *_grid(tmp_path, "--epochs", "2", "--jobs", jobs)]) == 2
    line = _error_line(capfd)  # the processes of --jobs print nothing either
    assert f"{folders['cnn-aug'] / 'checkpoint.pt'} belongs to other settings; delete it" in line
    assert 'the run has model="cnn-aug"' in line and 'the checkpoint model="cnn"' in line


def test_an_out_that_is_a_file_is_refused_before_the_data_is_read(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(get_task("mnist"), "open", lambda source: pytest.fail("the data was read"))
    (tmp_path / "file").write_text("")
    assert main(["compare", *_grid(tmp_path / "file")]) == 2
    assert f"--out {tmp_path / 'file'} is a file, not a folder: give a folder" in _error_line(capsys)
    assert main(["compare", *_grid(tmp_path / "file" / "below")]) == 2
    assert "which is a file, not a folder" in _error_line(capsys)


@pytest.fixture
def read_only(monkeypatch):
    r"""Make folders read-only; as root (whom permissions do not stop) ``os.access`` says so too."""
    made = []

    def make(folder):
        folder.chmod(0o555)
        made.append(folder)

    access = os.access
    if os.geteuid() == 0:
        monkeypatch.setattr(os, "access", lambda path, mode, **k: (not (mode & os.W_OK) or Path(path) not in made)
                            and access(path, mode, **k))
    yield make
    for folder in made:
        folder.chmod(0o755)


def test_report_only_on_a_read_only_folder_names_report_dir(finished, tmp_path, capsys, read_only):
    out, _ = _copy(finished, tmp_path)
    (out / "summary.md").unlink()
    read_only(out)
    assert main(["compare", *_grid(out, "--report-only")]) == 2
    line = _error_line(capsys)
    assert f"--out {out} is not writable, and --report-only writes its reports there: give --report-dir DIR" in line
    assert main(["compare", *_grid(out, "--report-only", "--report-dir", str(tmp_path / "reports"))]) == 0
    assert "0 run(s) trained, 2 reused; reports in " + str(tmp_path / "reports") in capsys.readouterr().out
    assert (tmp_path / "reports" / "summary.md").is_file() and not (out / "summary.md").exists()
    assert main(["compare", *_grid(out)]) == 2  # training writes into --out
    assert f"--out {out} is not writable: give a folder you can write to" in _error_line(capsys)


@pytest.mark.parametrize("damage", ["truncated", "empty", "random bytes"])
def test_a_data_file_that_cannot_be_read_is_named(tmp_path, capsys, damage):
    good = tmp_path / "good.npz"
    np.savez(good, **get_task("mnist").open(None).data._asdict())
    saved = good.read_bytes()
    bad = tmp_path / "mnist.npz"
    bad.write_bytes({"truncated": saved[:len(saved) // 2], "empty": b"",
                     "random bytes": bytes(range(256)) * 64}[damage])
    assert main(["compare", *_grid(tmp_path / "out", "--mnist", str(bad))]) == 2
    line = _error_line(capsys)
    assert f"{bad} cannot be read (" in line and "replace it with a good copy of mnist.npz" in line
    assert not (tmp_path / "out").exists()
