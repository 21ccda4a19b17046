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

# m_from_shipped SERIES OUT: M trained on the series folder SERIES from the shipped M's weights,
# as the shipped iteration trained it (carracing/reproduce.bash), into OUT, unless OUT is there.
m_from_shipped() {
    [[ -f $2 ]] || "$python" rnn_train.py --preset small --predict-reward --steps 1000 \
        --seq-len 300 --batch-size 32 --series "$1" --init rnn/rnn.npz --out "$2"
}

# old_and_new FILE OLD NEW COMMAND [ARG ...]: the last line of `COMMAND ARG ... OLD`, then of
# `COMMAND ARG ... NEW` (two model files, compared by an --evaluate command), into FILE once;
# then FILE is printed.
old_and_new() {
    local file=$1
    shift
    once "$file" last_line_of_each "$@"
    cat "$file"
}

last_line_of_each() {  # last_line_of_each OLD NEW COMMAND [ARG ...]: see old_and_new
    local old=$1 new=$2 model
    shift 2
    for model in "$old" "$new"; do
        "$@" "$model" | tail -1 || return
    done
}
