"""One command-line style: hyphenated flags, on/off switches, the older spellings still accepted."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from estool.trainer import Settings, build_parser

ROOT = Path(__file__).resolve().parents[1]

MODERN = ["--num-episode", "4", "--eval-steps", "10", "-n", "2", "-t", "12", "--common-seeds",
          "--no-antithetic", "--max-generations", "400", "--log-dir", "log_x", "--no-pin-workers",
          "--retrain", "--sigma-init=0.07", "--blas-threads", "1"]
OLDER = ["--num_episode", "4", "--eval_steps", "10", "-n", "2", "-t", "12", "--common_seeds", "1",
         "--antithetic", "0", "--max_generations", "400", "--log_dir", "log_x", "--pin_workers",
         "0", "--retrain", "1", "--sigma_init=0.07", "--blas_threads", "1"]


def test_older_underscore_spellings_and_numeric_switches_still_work():
    parser = build_parser(problem_option=True)
    modern = Settings.from_namespace(parser.parse_args(MODERN))
    assert Settings.from_namespace(parser.parse_args(OLDER)) == modern
    assert (modern.common_seeds, modern.antithetic, modern.pin_workers, modern.retrain) == \
        (True, False, False, True)
    assert parser.parse_args(["--common_seeds", "0", "--retrain", "0"]).common_seeds is False
    assert parser.parse_args(["--problem_dim", "5"]).problem_dim == 5


def test_a_bad_switch_value_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["--common_seeds=2"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().endswith("--common-seeds: expected 0 or 1, got '2' "
                                                    "(see --help)")


@pytest.mark.parametrize("script", ["carracing/train.py", "carracing/model.py",
                                    "doomrnn/train.py", "doomrnn/extract.py",
                                    "doomrnn/vae_train.py", "doomrnn/rnn_train.py"])
def test_help_shows_only_hyphenated_flags(script):
    out = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    flags = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", out.stdout))
    assert flags and not [f for f in flags if "_" in f], out.stdout
