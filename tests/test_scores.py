"""Per-episode scores files and their figure."""

import json

import numpy as np
import pytest

from worldmodels.scores import ScoresFileError, main, read_scores, write_scores


def test_scores_round_trip_and_plot(tmp_path):
    seeds = [1_000_000 + i for i in range(5)]
    path = tmp_path / "agent.json"
    write_scores(path, "doomreal", "steps survived", seeds,
                 {"agent": np.arange(5) * 100.0, "random": np.full(5, 200.0)}, {"paper": 1092})
    data = read_scores(path)
    assert data["scores"]["agent"] == [0.0, 100.0, 200.0, 300.0, 400.0]
    assert data["seeds"][3] == 1_000_003 and data["references"] == {"paper": 1092.0}
    assert main([str(path), "--out", str(tmp_path / "fig.png")]) == 0
    assert (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_scores_files_are_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(ValueError, match="3 scores for 2 episodes"):
        write_scores(tmp_path / "x.json", "e", "u", [0, 1], {"a": [1.0, 2.0, 3.0]})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"seeds": [0, 1], "scores": {"a": [1.0, float("nan")]}}))
    with pytest.raises(ScoresFileError, match="needs 2 finite scores"):
        read_scores(bad)
    (tmp_path / "junk.json").write_text("{not json")
    assert main([str(tmp_path / "junk.json"), "--out", str(tmp_path / "f.png")]) == 2
    assert capsys.readouterr().err.startswith("error: ") and not (tmp_path / "f.png").exists()
