# launcher_checks.bash: start-up and checks shared by the launchers (extract.bash, gpu_jobs.bash,
# train_tmux.bash, slurm/submit, slurm/*.sbatch). Sourced, never run. Each launcher sets `launcher`
# (its name, for messages) first, or calls start_launcher. Every check that fails ends the launcher
# with one line on stderr and exit status 2, before anything is started or submitted.
#
# Numbers are checked against a pattern before any arithmetic sees them: bash arithmetic evaluates
# array subscripts, so a value such as 'x[$(cmd)]' in $((...)) would run cmd. Experiment and preset
# names reach Python only as arguments (python -m worldmodels.experiments), never inside code.

# fail MESSAGE...: print "LAUNCHER: MESSAGE" on stderr and exit 2.
fail() {
  echo "${launcher:-${0##*/}}: $*" >&2
  exit 2
}

# require_count NAME VALUE [MIN]: VALUE must be a whole number >= MIN (default 1), written in
# decimal digits without a leading zero, at most 9 of them (so arithmetic never overflows).
require_count() {
  local name=$1 value=$2 min=${3:-1}
  [[ $value =~ ^(0|[1-9][0-9]{0,8})$ ]] && ((value >= min)) ||
    fail "$name must be a whole number from $min to 999999999, got '$value'"
}

# preset_from_args DEFAULT ARGS...: the value of the last --preset (or --preset=VALUE) in ARGS,
# else DEFAULT.
preset_from_args() {
  local preset=$1 prev=""
  shift
  for arg in "$@"; do
    [ "$prev" = --preset ] && preset=$arg
    case "$arg" in --preset=*) preset=${arg#--preset=} ;; esac
    prev=$arg
  done
  printf '%s\n' "$preset"
}

# preset_value PYTHON EXPERIMENT PRESET [FIELD]: print the preset's FIELD (e.g. population); without
# FIELD only check that the experiment has that preset. Call as `x=$(preset_value ...) || exit 2`:
# an unknown name prints one line and fails.
preset_value() {
  local python=$1 out
  shift
  if ! out=$("$python" -m worldmodels.experiments "$@" 2>&1); then
    out=$(printf '%s\n' "$out" | tail -n 1)
    fail "${out#error: }"
  fi
  [ -z "$out" ] || printf '%s\n' "$out"
}

# launcher_python ROOT: print the python to run: $PYTHON, else ROOT/.venv/bin/python, and python3
# when that is not an executable file.
launcher_python() {
  local python=${PYTHON:-$1/.venv/bin/python}
  [ -x "$python" ] || python=python3
  printf '%s\n' "$python"
}

# require_experiment VALUE: VALUE must name an experiment (carracing or doomrnn).
require_experiment() {
  case "$1" in
    carracing|doomrnn) ;;
    *) fail "unknown experiment '$1' (known: carracing, doomrnn)" ;;
  esac
}

# start_launcher NAME SYNOPSIS ARGS...: the start of a launcher that is run as
# `bash NAME EXPERIMENT ...` from the checkout's root folder. Sets `launcher` to NAME, `experiment`
# to the first of ARGS (checked; the caller then shifts it away) and `python` (launcher_python).
# Without ARGS it prints the usage line "usage: bash NAME SYNOPSIS" and exits 2; `usage` does the
# same later (e.g. for an unknown option).
start_launcher() {
  launcher=$1
  launcher_usage="usage: bash $1 $2"
  shift 2
  [ $# -ge 1 ] || usage
  require_experiment "$1"
  experiment=$1
  python=$(launcher_python "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)")
}

# usage: print the usage line start_launcher was given on stderr and exit 2.
usage() {
  echo "$launcher_usage" >&2
  exit 2
}
