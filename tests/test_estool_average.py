"""estool.average: the element-wise mean of several evolved solutions, with one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from estool.average import SolutionFileError, average_solutions, main


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return path


def test_mean_of_best_and_current_logs(tmp_path):
    a = _write(tmp_path / "a.best.json", [[1.0, -2.0, 0.5], 900.0])  # [params, reward]
    b = _write(tmp_path / "b.json", [[3.0, 2.0, -0.5]])  # [params]
    np.testing.assert_allclose(average_solutions([a, b]), [2.0, 0.0, 0.0])
    out = tmp_path / "avg.json"
    assert main([str(out), str(a), str(b)]) == 0
    assert json.loads(out.read_text()) == [[2.0, 0.0, 0.0]]


def test_bad_files_give_one_line_and_write_nothing(tmp_path):
    good = _write(tmp_path / "good.json", [[1.0, 2.0]])
    cases = {
        "other size": _write(tmp_path / "short.json", [[1.0]]),
        "nan": tmp_path / "nan.json",
        "corrupt": tmp_path / "corrupt.json",
        "missing": tmp_path / "missing.json",
    }
    cases["nan"].write_text("[[NaN, 1.0]]")
    cases["corrupt"].write_text("[[1.0, 2")
    for name, bad in cases.items():
        with pytest.raises(SolutionFileError):
            average_solutions([good, bad])
        out = tmp_path / f"out_{name.replace(' ', '_')}.json"
        proc = subprocess.run([sys.executable, "-m", "estool.average", str(out), str(good), str(bad)],
                              capture_output=True, text=True)
        assert proc.returncode == 2 and proc.stderr.startswith("error: ") and \
            proc.stderr.count("\n") == 1, (name, proc.stderr)
        assert not out.exists()
