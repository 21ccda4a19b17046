# The README's commands. `make demo` and `make test` each set up .venv first (idempotent).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: setup system-deps demo test lint bench clean-venv lock

# Debian packages the test suite needs: a real Slurm (slurmctld, slurmd, clients) and tmux.
SYSTEM_PROGRAMS := /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/bin/tmux

# Every package at the exact version of requirements.lock (pip constraints).
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(PY) -m worldmodels.demo

system-deps:
	@if ! ls $(SYSTEM_PROGRAMS) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      slurmctld slurmd slurm-client tmux >/dev/null; \
	  else \
	    echo "make: the Slurm tests need Debian's slurmctld slurmd slurm-client and tmux;" \
	         "run as root or: sudo apt-get install slurmctld slurmd slurm-client tmux" >&2; \
	  fi; \
	fi

test: setup system-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q --durations=15

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(PY) benchmarks/step_latency.py

clean-venv:
	rm -rf $(VENV)

# Rewrites requirements.lock from the venv as it is, keeping the file's header comment. It does not
# depend on `setup`, which would first put an upgraded venv back to the old lock.
lock:
	@test -x $(PY) || { echo "make lock: no $(PY); run make setup first" >&2; exit 1; }
	{ sed -n '/^#/!q;p' requirements.lock; \
	  $(PY) -m pip freeze --exclude-editable --exclude worldmodels-hpc; } > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock
