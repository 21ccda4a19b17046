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


def test_paired_comparison_names_the_difference_and_its_error(tmp_path, capsys):
    seeds = [1, 2, 3, 4]
    write_scores(tmp_path / "base.json", "carracing", "reward", seeds,
                 {"shipped": [700.0, 500.0, 800.0, 600.0]})
    write_scores(tmp_path / "new.json", "carracing", "reward", seeds,
                 {"new": [712.0, 508.0, 811.0, 609.0], "noisy": [900.0, 300.0, 1000.0, 400.0]})
    assert main(["--paired", str(tmp_path / "base.json"), str(tmp_path / "new.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("4 episodes; differences paired with")
    new = next(line for line in out if "(new)" in line)
    # differences 12, 8, 11, 9: mean 10, standard error sqrt(10/3)/2 = 0.9
    assert "difference   +10.0 +/-   0.9  above 2 SE" in new
    noisy = next(line for line in out if "(noisy)" in line)  # +200/-200: paired error 115.5
    assert "difference    +0.0 +/- 115.5" in noisy and "above" not in noisy
    write_scores(tmp_path / "other.json", "carracing", "reward", [5, 6, 7, 8], {"x": [1.0] * 4})
    assert main(["--paired", str(tmp_path / "base.json"), str(tmp_path / "other.json")]) == 2
    assert "seeds differ" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path / "base.json")])  # neither --out nor --paired
