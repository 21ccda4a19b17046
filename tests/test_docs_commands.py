"""Every command in the code blocks of README.md and docs/ works as written: the estool quickstart
runs for real at its own (small) size, every other python command is parsed by the program it
names (``CHECK_ARGS_ONLY=1``: parse, then stop), and every launcher it names exists. So the docs
cannot drift from the code unnoticed."""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
EXPERIMENTS = ("carracing", "doomrnn")
MODULES = {"estool": "estool.trainer", "estool.plot": "estool.plot",
           "estool.average": "estool.average", "worldmodels.demo": "worldmodels.demo",
           "worldmodels.scores": "worldmodels.scores"}
SCRIPTS = {"extract.py": "extract", "vae_train.py": "vae_train", "series.py": "series",
           "rnn_train.py": "rnn_train", "train.py": "train", "model.py": "model",
           "dream_model.py": "dream_model", "env.py": "drive", "doomrnn.py": "dream_play",
           "plot_training_progress.py": "plot"}
# Words the docs use for "a file of yours" or "a number", and what stands in for them here.
PLACEHOLDERS = {"N": "2", "S": "0", "SEED": "0", "K": "2", "SECONDS": "30", "DIR": "somewhere",
                "FILE": "x.json", "EXPERIMENT": "carracing", "HELDOUT": "heldout", "V": "vae.npz",
                "M": "rnn.npz"}


def doc_commands() -> list[tuple[str, str, str]]:
    """(doc file, folder the command runs in, command) of every python or launcher command in
    the bash code blocks of the docs; a ``cd`` line in a block moves the folder of the lines
    after it."""
    found = []
    for doc in DOCS:
        for block in re.findall(r"```(?:bash|sh)\n(.*?)```", doc.read_text(), re.S):
            folder = "."
            for line in block.replace("\\\n", " ").splitlines():
                line = re.sub(r"\s#.*$", "", line).strip()
                for part in re.split(r"\s*(?:&&|;)\s*", line):
                    if part.startswith("cd "):
                        folder = part[3:].strip()
                    elif re.search(r"(^|\s|/)(python|bash)\s", part) or part.startswith("slurm/"):
                        found.append((str(doc.relative_to(ROOT)), folder, part))
    return found


COMMANDS = doc_commands()


def test_the_docs_have_commands():
    assert len(COMMANDS) > 40


def python_argv(command: str) -> list[str] | None:
    """The words after ``python`` (environment assignments and the venv path dropped), with
    placeholders made concrete; None for a launcher."""
    words = [PLACEHOLDERS.get(w, w) for w in shlex.split(command)]
    while words and re.match(r"^[A-Z_]+=", words[0]):
        words.pop(0)
    if not words or not words[0].endswith("python"):
        return None
    return words[1:]


@pytest.mark.parametrize(("doc", "folder", "command"), COMMANDS,
                         ids=[f"{d}:{c[:60]}" for d, _, c in COMMANDS])
def test_every_documented_command_parses(doc, folder, command, monkeypatch, capsys):
    argv = python_argv(command)
    if argv is None:  # a launcher: it must exist where the docs say
        launcher = next(w for w in shlex.split(command) if w.endswith((".bash", "submit")))
        assert (ROOT / folder / launcher).resolve().is_file(), f"{doc}: {command}"
        return
    monkeypatch.setenv("CHECK_ARGS_ONLY", "1")
    if argv[0] == "-m":
        module = importlib.import_module(MODULES[argv[1]])
        call = lambda: module.main(argv[2:])  # noqa: E731
    else:
        script = Path(folder, argv[0])
        exp = next((p for p in script.parts if p in EXPERIMENTS), None)
        assert exp and script.name in SCRIPTS, f"{doc}: unknown program in {command!r}"
        monkeypatch.chdir(ROOT / exp)
        stage = importlib.import_module(f"worldmodels.stages.{SCRIPTS[script.name]}")
        call = lambda: stage.main(exp, argv[1:])  # noqa: E731
    with pytest.raises(SystemExit) as exit_:
        call()
    out = capsys.readouterr()
    assert exit_.value.code == 0, f"{doc}: {command}\n{out.err}"
    assert "arguments ok" in out.out


@pytest.mark.mpi
def test_the_estool_quickstart_runs_as_written(tmp_path):
    block = [c for d, _, c in COMMANDS if d == "README.md" and "-m estool" in c]
    train, plot = block[0], block[1]
    for command in (train, plot.replace("--watch 30", "")):
        words = shlex.split(command)
        out = subprocess.run([sys.executable, *words[1:]], cwd=tmp_path, capture_output=True,
                             text=True, timeout=300, env={"PYTHONPATH": str(ROOT), "PATH": ""})
        assert out.returncode == 0, f"{command}\n{out.stderr}"
    assert (tmp_path / "log" / "sphere.cma.16.8.progress.png").is_file()


@pytest.mark.pipeline
def test_the_carracing_rebuild_script_gives_every_stage_flags_it_accepts(tmp_path):
    """carracing/reproduce.bash with a python that only parses (CHECK_ARGS_ONLY=1): every stage
    it runs accepts its command line, in order, to the end of the script."""
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\n[ "$1" = "-" ] && {{ cat >/dev/null; exit 0; }}\n'
                      f'CHECK_ARGS_ONLY=1 exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    out = subprocess.run(["bash", str(ROOT / "carracing" / "reproduce.bash")], capture_output=True,
                         text=True, timeout=600,
                         env={"PATH": "/usr/bin:/bin", "PYTHON": str(python),
                              "RUNS": str(tmp_path / "runs"), "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert out.stdout.count("arguments ok") >= 12
    assert "test: 100 tracks" in out.stdout


def test_every_lever_of_the_carracing_lever_script_is_a_train_command_line():
    """carracing/measure_levers.bash --list: each lever's train.py arguments parse."""
    listed = subprocess.run(["bash", str(ROOT / "carracing" / "measure_levers.bash"), "--list"],
                            capture_output=True, text=True, timeout=60, check=True).stdout
    levers = dict(line.split(": ", 1) for line in listed.splitlines())
    assert {"negative20", "no_early_end", "diagonal", "episodes8", "gas_floor01"} <= set(levers)
    for name, arguments in levers.items():
        assert "--max-seconds 1800" in arguments and f"--log-dir log/measured/levers/{name}" in \
            arguments
        cmd = [sys.executable, "train.py", *arguments.split()]
        out = subprocess.run(cmd, cwd=ROOT / "carracing", capture_output=True, text=True,
                             timeout=120, env={**os.environ, "CHECK_ARGS_ONLY": "1"})
        assert out.returncode == 0 and "arguments ok" in out.stdout, (name, out.stderr[-500:])
    unknown = subprocess.run(["bash", str(ROOT / "carracing" / "measure_levers.bash"), "nope"],
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "unknown lever nope" in unknown.stderr


def test_the_lever_table_is_made_from_the_committed_measurements():
    """carracing/measure_levers.bash --table: the results page's lever table, from its files."""
    table = subprocess.run(["bash", str(ROOT / "carracing" / "measure_levers.bash"), "--table"],
                           capture_output=True, text=True, timeout=120, check=True).stdout
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()[2:]}
    assert rows["shipped"].startswith("| shipped | - | 764.9 | +31.3 (29.5) | 0 |")
    assert rows["negative100"].startswith("| negative100 | 13 (1916 s) | 791.8 | +58.1 (21.6, "
                                          "above 2 SE) | +26.8 (21.3) |")
    results = (ROOT / "docs" / "results" / "carracing.md").read_text()
    for row in rows.values():
        assert row.split(" | ")[3] in results  # every measured lever's difference is on the page


def test_the_confirmation_on_fresh_tracks_is_made_from_the_committed_plays():
    """measure_levers.bash --confirm LEVER: the committed 200-track plays give the logged table;
    a name that is not a measured lever stops it before anything plays."""
    script = str(ROOT / "carracing" / "measure_levers.bash")
    table = subprocess.run(["bash", script, "--confirm", "sigma02"], capture_output=True,
                           text=True, timeout=120, check=True).stdout
    assert "| sigma02 | - | 761.9 | +4.9 (15.9) | 42 | 36 |" in table
    assert "| sigma02 | - | 761.9 | +4.9 (15.9) | 42 | 36 |" in \
        (ROOT / "docs" / "results" / "carracing-log.md").read_text()
    for name in ("shipped", "nope"):
        out = subprocess.run(["bash", script, "--confirm", name], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 2 and f"needs a measured lever, got '{name}'" in out.stderr
        assert out.stdout == ""


def test_the_vm_round_table_is_made_from_the_committed_measurements():
    """The last stage of carracing/measure_vm_round.bash: its lever table, from the committed
    run folders, is the one on the results page."""
    levers, vm_round = "log/measured/levers", "log/measured/vm_round"
    table = subprocess.run(
        [sys.executable, "-m", "worldmodels.lever_table", "--base", f"{levers}/negative20",
         "--base", f"{levers}/shipped", f"{levers}/negative20", f"{vm_round}/shipped_c",
         f"{vm_round}/c"], cwd=ROOT / "carracing", capture_output=True, text=True, timeout=120,
        check=True).stdout
    results = (ROOT / "docs" / "results" / "carracing.md").read_text()
    assert "| c | 14 (1855 s) | 711.8 | -21.9 (34.9) |" in table
    for row in table.splitlines()[2:]:
        assert row in results


def test_the_k_step_m_script_refuses_a_bad_action_repeat():
    """carracing/measure_k_step_m.bash K: K is checked before anything runs."""
    out = subprocess.run(["bash", str(ROOT / "carracing" / "measure_k_step_m.bash"), "two"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "K must be a whole number >= 1, got two" in out.stderr
    assert not (ROOT / "carracing" / "runs" / "ktwo_m").exists()


def test_the_vm_round_script_refuses_arguments_before_it_runs_anything():
    """carracing/measure_vm_round.bash takes no arguments; a stray one stops it at once."""
    out = subprocess.run(["bash", str(ROOT / "carracing" / "measure_vm_round.bash"), "--fast"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "takes no arguments (got --fast)" in out.stderr
    assert out.stdout == ""  # no stage started


def test_the_measure_scripts_write_each_result_once_and_only_when_it_succeeded(tmp_path):
    """measure_common.bash `once FILE CMD`: a failed command leaves no FILE; a done one is kept
    and not run again. `old_and_new`: the last line of the command for each model file."""
    script = f"""set -euo pipefail
source {ROOT / "carracing" / "measure_common.bash"}
once {tmp_path}/a.txt false || echo failed
[[ -f {tmp_path}/a.txt ]] && echo unexpected
once {tmp_path}/a.txt echo first
once {tmp_path}/a.txt echo second
cat {tmp_path}/a.txt
old_and_new {tmp_path}/b.txt old.npz new.npz printf "skipped\\nlast %s\\n"
"""
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "failed\nfirst\nlast old.npz\nlast new.npz\n"
