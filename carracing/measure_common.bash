# Helpers of the carracing/measure_*.bash scripts; sourced by them, not run.

# once FILE COMMAND [ARG ...]: run COMMAND with its output written to FILE, unless FILE is there
# already (so a script run again skips what it has done). FILE appears only when COMMAND has
# succeeded: the output goes to FILE.part first.
once() {
    local file=$1
    shift
    [[ -f $file ]] && return
    # explicit: set -e does not act inside a function called as `once ... || ...`
    "$@" > "$file.part" || { local status=$?; rm -f "$file.part"; return "$status"; }
    mv "$file.part" "$file"
}

# play CONTROLLER DIR SEED EPISODES [model.py flags]: play CONTROLLER with the driving report on
# the tracks of model.py's SEED (1: validation, 2: fresh validation), into DIR/validation.json
# (scores) and DIR/validation.txt (the report), as python -m worldmodels.lever_table reads them.
play() {
    local controller=$1 dir=$2 seed=$3 episodes=$4
    shift 4
    mkdir -p "$dir"
    once "$dir/validation.txt" "$python" model.py norender "$controller" "$seed" \
        --episodes "$episodes" --workers 2 --report --scores "$dir/validation.json" "$@"
}
