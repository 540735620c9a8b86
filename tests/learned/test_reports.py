import json
import subprocess
import sys

import numpy as np
import pytest
from escnn.group import cyclic_group, dihedral_group, directsum

import escnn_soft.learned.reports as reports
from escnn_soft.learned.decompose import decompose
from escnn_soft.learned.reports import decomposition_record, multiplicity_table, plot_eigenvalues

PNG = b"\x89PNG\r\n\x1a\n"


def _d3(copies=5, seed=None):
    G = dihedral_group(3)
    rep = directsum([G.regular_representation] * copies)
    stack = np.stack([rep(e) for e in G.elements])
    if seed is not None:                      # a slightly perturbed (learned-looking) stack
        stack = stack + 0.05 * np.random.default_rng(seed).standard_normal(stack.shape)
    return decompose(stack, G)


def test_record_is_json_and_complete():
    d = _d3()
    record = json.loads(json.dumps(decomposition_record(d)))
    assert record["group"] == "D3" and record["dim"] == 30
    assert [(i["name"], i["dim"]) for i in record["irreps"]] == [("irrep_0,0", 1), ("irrep_1,0", 1), ("irrep_1,1", 2)]
    assert [i["rounded"] for i in record["irreps"]] == [5, 5, 10]
    assert [i["in_regular"] for i in record["irreps"]] == [1, 1, 2]
    assert record["summary"] == "5×regular(D3) ⊕ 0×trivial" and record["complex"] is None
    assert record["is_representation"] is True and record["tol"] == d.tol
    with pytest.raises(TypeError, match="Decomposition"):
        decomposition_record({"group": "D3"})


def test_table_rows_mean_std_and_reference():
    runs = [_d3(seed=s) for s in range(3)]
    text = multiplicity_table(runs, labels=["a", "b", "c"], reference=[5, 5, 10])
    lines = text.splitlines()
    assert "`irrep_0,0` (dim 1)" in lines[2] and "`irrep_1,1` (dim 2)" in lines[2]
    rows = {line.split("|")[1].strip(): line for line in lines if line.startswith("|")}
    assert set(rows) >= {"a", "b", "c", "mean ± std", "paper"}
    assert [rows[k].split("|")[-2].strip() for k in "abc"] == [r.summary for r in runs]
    values = np.array([[float(c) for c in rows[k].split("|")[2:5]] for k in "abc"])
    expected = np.array([r.multiplicities for r in runs])
    np.testing.assert_allclose(values, expected, atol=0.006)
    mean_cells = [c.strip() for c in rows["mean ± std"].split("|")[2:5]]
    for k, cell in enumerate(mean_cells):
        mean, std = (float(v) for v in cell.split("±"))
        assert mean == pytest.approx(expected[:, k].mean(), abs=0.006)
        assert std == pytest.approx(expected[:, k].std(ddof=1), abs=0.006)
    # records read back from JSON give the same table
    records = [json.loads(json.dumps(decomposition_record(r))) for r in runs]
    assert multiplicity_table(records, labels=["a", "b", "c"], reference=[5, 5, 10]) == text


def test_summary_of_a_record_is_recomputed_from_its_fields():
    """A record whose stored summary names the closest m×regular of a representation that is not
    one (as earlier versions wrote it) reads as a fresh decomposition's, in the table too."""
    G = dihedral_group(3)
    d = decompose(directsum([G.regular_representation, G.irrep(1, 1)]))
    record = json.loads(json.dumps(decomposition_record(d)))
    assert reports.record_summary(record) == d.summary == "closest to 1×regular(D3) ⊕ 0×trivial (2 dimensions off)"
    old = {**record, "summary": "1×regular(D3) ⊕ 0×trivial"}
    assert multiplicity_table([old]) == multiplicity_table([d])
    assert "| closest to 1×regular(D3) ⊕ 0×trivial (2 dimensions off) |" in multiplicity_table([old])
    for exact in (_d3(), _d3(seed=0)):
        assert reports.record_summary(decomposition_record(exact)) == exact.summary


def test_not_a_representation_is_said_so():
    G = cyclic_group(6)
    rng = np.random.default_rng(0)
    stack = np.stack([np.eye(6)] + [np.linalg.qr(rng.normal(size=(6, 6)))[0] for _ in range(5)])
    d = decompose(stack, G)
    record = decomposition_record(d)
    assert record["is_representation"] is False and record["summary"].startswith("not a representation (")
    assert f"| {d.summary} |" in multiplicity_table([d])


def test_importing_the_package_loads_neither_matplotlib_nor_the_experiments():
    code = ("import sys, escnn_soft, escnn_soft.learned, escnn_soft.learned.reports; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib' "
            "or m.startswith('escnn_soft.experiments')))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]"


def test_table_of_a_cyclic_group_has_complex_counts():
    G = cyclic_group(4)
    d = decompose(directsum([G.regular_representation] * 16))
    text = multiplicity_table([d, d], reference=[16, 16, 16, 16])
    assert "Complex counts" in text and "root of unity e^(2πik/4), N = 4" in text
    assert "| run 0 | 16 | 16 | 16 | 16 |" in text
    assert "| paper | 16 | 16 | 16 | 16 |" in text
    assert "| mean ± std | 16.00 ± 0.00 | 16.00 ± 0.00 | 16.00 ± 0.00 | 16.00 ± 0.00 |" in text


def test_table_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        multiplicity_table([])
    with pytest.raises(ValueError, match="same group"):
        multiplicity_table([_d3(), decompose(cyclic_group(4).regular_representation)])
    with pytest.raises(ValueError, match="labels"):
        multiplicity_table([_d3()], labels=["a", "b"])
    with pytest.raises(ValueError, match="reference"):
        multiplicity_table([_d3()], reference=[5, 5])
    with pytest.raises(TypeError, match="Decomposition"):
        multiplicity_table([np.eye(3)])


def test_plot_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    runs = [np.exp(2j * np.pi * rng.uniform(size=(6, 8))) * np.linspace(1.4, 1.0, 6)[:, None] for _ in range(3)]
    path = tmp_path / "eig.png"
    plot_eigenvalues(runs, path, order=4, titles=["a", "b", "c"], steps=[np.arange(6) * 10] * 3, suptitle="C4")
    assert path.read_bytes()[:8] == PNG and path.stat().st_size > 10_000
    plot_eigenvalues(runs[:1] + [runs[1][:1]], tmp_path / "short.png", order=3)     # a single snapshot is fine
    assert (tmp_path / "short.png").read_bytes()[:8] == PNG


def test_plot_rejects_bad_input(tmp_path):
    z = np.ones((3, 4), dtype=complex)
    with pytest.raises(ValueError, match="at least one"):
        plot_eigenvalues([], tmp_path / "x.png", order=2)
    with pytest.raises(ValueError, match=r"\(snapshots, dim\)"):
        plot_eigenvalues([np.ones(4)], tmp_path / "x.png", order=2)
    with pytest.raises(ValueError, match="order"):
        plot_eigenvalues([z], tmp_path / "x.png", order=0)
    with pytest.raises(ValueError, match="titles"):
        plot_eigenvalues([z], tmp_path / "x.png", order=2, titles=["a", "b"])
    with pytest.raises(ValueError, match="steps"):
        plot_eigenvalues([z], tmp_path / "x.png", order=2, steps=[[0, 1]])
    assert not (tmp_path / "x.png").exists()
