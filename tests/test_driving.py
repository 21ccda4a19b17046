"""The driving report (model.py --report) and the off-road training shortcut, on real CarRacing."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from worldmodels import lever_table
from worldmodels.agent import Agent, run_episodes
from worldmodels.controller import Controller, controller_spec
from worldmodels.driving import (
    DrivingRecorder,
    DrivingReport,
    episode_report,
    plot_drives,
    points_lost,
    read_report_lines,
    report_line,
    summarize,
    summary_lines,
)
from worldmodels.envs import make_env
from worldmodels.experiments import CARRACING
from worldmodels.mdnrnn import MDNRNN
from worldmodels.scores import write_scores
from worldmodels.vae import VAE
from worldmodels.weights import init_weights

ROOT = Path(__file__).resolve().parents[1]


def constant_agent(steer: float, gas: float, brake: float) -> Agent:
    """An agent whose controller always outputs the same raw action (biases only)."""
    rng = np.random.default_rng(0)
    spec = controller_spec(CARRACING)
    params = np.zeros(spec.num_params)
    params[-3:] = np.arctanh([steer, 2 * gas - 1, brake])
    return Agent(CARRACING, VAE(init_weights("vae", CARRACING, rng), CARRACING.z_size),
                 MDNRNN(init_weights("rnn", CARRACING, rng), CARRACING),
                 Controller(spec, params[None]), rng)


def test_the_report_tells_a_braking_car_from_a_circling_one():
    braking, circling = constant_agent(0.0, 1e-6, 0.99), constant_agent(0.9, 0.6, 0.0)
    reports = []
    for agent, repeat in ((braking, 1), (circling, 2)):
        recorder = DrivingRecorder(1)
        envs = [make_env(CARRACING, action_repeat=repeat)]
        reward, steps = run_episodes(CARRACING, agent, envs, [3], np.zeros(1, np.int64), 300,
                                     observer=recorder)
        (trace,) = recorder.rows()
        reports.append(episode_report(trace, int(recorder.total_tiles[0])))
        assert reports[-1].steps == steps[0] == 300
        assert len(trace) == 300 // repeat  # one row per decision
    brake, circle = reports
    assert brake.mean_gas == pytest.approx(0.0, abs=1e-5) and brake.mean_brake > 0.98
    assert brake.mean_speed < 1 and brake.tiles <= 2 and not brake.lap_finished
    assert brake.longest_negative_run >= 280 and brake.off_road_steps == 0
    assert brake.total_tiles > 200 and brake.last_new_tile_step < 20
    assert circle.mean_abs_steer == pytest.approx(0.9, abs=1e-6) and circle.mean_speed > 10
    assert circle.off_road_steps > 50  # circles leave the road
    lines = summary_lines(np.array([-30.0, 5.0]), reports, cap=300)
    assert lines[1].startswith("  laps finished: 0/2")
    assert "cut by the 300-step cap: 2/2" in lines[2]
    assert "no new tile for 100+ steps in a row (lost the road, or stopped): " in lines[3]


def test_training_episodes_stop_after_a_run_off_the_road():
    circling = constant_agent(0.9, 0.6, 0.0)
    envs = [make_env(CARRACING, action_repeat=3)]
    _, stopped = run_episodes(CARRACING, circling, envs, [3], np.zeros(1, np.int64), 600,
                              stop_off_road=30)
    _, full = run_episodes(CARRACING, circling, envs, [3], np.zeros(1, np.int64), 600)
    assert stopped[0] < 600 and full[0] == 600


def test_the_figure_is_written(tmp_path):
    steps = np.column_stack([np.arange(1, 11), np.linspace(0, 50, 10), np.zeros((10, 3)),
                             np.arange(10), -0.1 * np.ones(10), np.zeros((10, 2))])
    plot_drives(tmp_path / "drive.png", [(0, 12.0, steps, 100)], title="test")
    assert (tmp_path / "drive.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_model_py_prints_the_driving_report_of_the_shipped_agent(tmp_path):
    out = subprocess.run(
        [sys.executable, "carracing/model.py", "norender", "carracing/log/carracing.cma.4.24.best.json",
         "--episodes", "2", "--batch", "2", "--report", "--report-figure", str(tmp_path / "d.png")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("last new tile at step") == 2
    assert "driving report over 2 episodes" in out.stdout and (tmp_path / "d.png").is_file()
    doom = subprocess.run(
        [sys.executable, "doomrnn/model.py", "doomreal", "norender",
         "doomrnn/log/doomrnn.cma.16.64.best.json", "--episodes", "1", "--report"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert doom.returncode == 2 and doom.stderr.strip().endswith("doomrnn has no driving report")


def a_report(tiles: int, lap: bool, negative_run: int, gas: float) -> DrivingReport:
    """A made-up episode report."""
    return DrivingReport(steps=900 if lap else 1000, tiles=tiles, total_tiles=300, lap_finished=lap,
                         last_new_tile_step=880 if lap else 990, mean_speed=47.5, mean_gas=gas,
                         mean_brake=0.0, mean_abs_steer=0.93, longest_negative_run=negative_run,
                         off_road_steps=3)


def test_a_saved_report_reads_back_and_sums_up_as_printed():
    reports = [a_report(300, True, 12, 0.25), a_report(150, False, 400, 0.5)]
    rewards = np.array([810.0, 400.0])
    text = "\n".join(["played 2 episodes"] + [report_line(i, r, rep) for i, (r, rep) in
                                             enumerate(zip(rewards, reports, strict=True))]
                     + summary_lines(rewards, reports, cap=1000))
    read_rewards, read_reports = read_report_lines(text)
    assert read_rewards.tolist() == [810.0, 400.0] and read_reports == reports
    summary = summarize(read_reports, 1000)
    assert (summary.laps_finished, summary.capped, summary.lost_road) == (1, 1, 1)
    assert summary.mean_gas == pytest.approx(0.375) and summary.tile_share == pytest.approx(0.75)
    lost = points_lost(read_rewards, read_reports)  # 1000 - 605 = 95 + 250 + 0 + 50
    assert (lost.steps, lost.tiles_lost_road, lost.tiles_other, lost.other) == (95, 250, 0, 50)
    assert text.endswith("points below 1000 per episode: 95.0 for the steps (0.1 each), 250.0 "
                         "for tiles not visited in the 1 that lost the road, 0.0 in the others, "
                         "50.0 other")
    with pytest.raises(ValueError, match="no episode line"):
        read_report_lines("carracing: 0 episodes")
    with pytest.raises(ValueError, match="episode 0 is in the report twice"):
        read_report_lines(text + "\n" + report_line(0, 1.0, reports[0]))


def write_run(directory: Path, seeds: list[int], scores: list[float], generations: int = 0) -> None:
    """A run directory as carracing/measure_levers.bash leaves it (history only if it trained)."""
    directory.mkdir()
    write_scores(directory / "validation.json", "carracing", "reward", seeds, {"c": scores})
    lines = [report_line(i, s, a_report(280, i % 2 == 0, 10 * i, 0.2)) for i, s in enumerate(scores)]
    (directory / "validation.txt").write_text("\n".join(lines) + "\n")
    if generations:
        rows = [[g, 150.0 * g, 700, 600, 800, 50, 0.1, 990, 1000] for g in range(1, generations + 1)]
        (directory / "carracing.cma.4.24.hist.json").write_text(json.dumps(rows))


def test_the_lever_table_pairs_runs_with_their_bases(tmp_path, capsys):
    seeds = [5, 6, 7, 8]
    write_run(tmp_path / "shipped", seeds, [700.0, 500.0, 800.0, 600.0])
    write_run(tmp_path / "faster", seeds, [760.0, 550.0, 870.0, 640.0], generations=12)
    runs = [str(tmp_path / name) for name in ("shipped", "faster")]
    assert lever_table.main(runs) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("| run | generations (training time) | validation mean (4 tracks) |")
    assert table[2] == "| shipped | - | 650.0 | 0 | 2 | 0 | 0.20 | 47.5 | 0.0 / 66.7 |"
    assert table[3] == ("| faster | 12 (1800 s) | 705.0 | +55.0 (6.5, above 2 SE) | 2 | 0 | 0.20 | "
                        "47.5 | 0.0 / 66.7 |")
    write_run(tmp_path / "other_tracks", [1, 2, 3, 4], [1.0, 2.0, 3.0, 4.0])
    assert lever_table.main([*runs, str(tmp_path / "other_tracks")]) == 2
    assert "other_tracks: other validation episodes than shipped" in capsys.readouterr().err
    (tmp_path / "faster" / "validation.txt").write_text("interrupted\n")
    assert lever_table.main(runs) == 2
    assert "faster: no episode line of a driving report" in capsys.readouterr().err
