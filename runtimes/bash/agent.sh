# warden's bash session agent: runs cells in one persistent shell, so variables,
# functions, aliases, options and the working directory carry over from cell to cell.
#
# Runs inside a sandbox as `bash --noprofile --norc agent.sh`. Requests arrive on fd 3,
# replies leave on fd 4. bash cannot read binary length prefixes (its strings hold no NUL
# bytes), so requests to this agent are text: a line "<id> <length>" and then exactly
# <length> bytes of code. Replies are the common frames: a 4-byte big-endian length and
# JSON, which printf can write. The cell's stdout and stderr are the sandbox's streams.
#
# A cell is written to a file and run with `source`, so that it runs at the shell's top
# level (`declare` makes globals, `$@` is empty) and can be unwound. A cell's status is
# "error" when its last command exits non-zero. An interrupt (SIGINT to this shell, then
# to its foreground processes) unwinds the running cell, however deeply it is nested in
# functions, through a DEBUG trap with extdebug, and leaves the shell's state in place.
# `exit` in a cell ends the session, as it would end a terminal.

__warden_file=/tmp/.warden-cell
__warden_count=0
__warden_in_cell=
__warden_interrupted=

# Writes one reply frame (the JSON is ASCII, so its length in characters is in bytes).
# No command substitution: each would fork.
__warden_reply() {
    local n=${#1} header
    printf -v header '\\x%02x\\x%02x\\x%02x\\x%02x' $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) $((n & 255))
    printf "$header%s" "$1" >&4
}

# While unwinding, every command inside the cell is skipped and every function returns,
# until the cell itself has returned.
__warden_unwind() {
    [[ -n $__warden_interrupted ]] || return 0
    local f
    for f in "${FUNCNAME[@]:1}"; do
        [[ $f == source ]] && return 2
    done
    return 0
}

__warden_on_interrupt() {
    [[ -n $__warden_in_cell ]] || return 0
    __warden_interrupted=1
    shopt -s extdebug
    set -T
    trap __warden_unwind DEBUG
}

# `exit` in a cell: the cell's result is still sent, then the session ends.
__warden_on_exit() {
    local status=$?
    [[ -n $__warden_in_cell ]] || return 0
    __warden_in_cell=
    __warden_result "$status"
}

# Sends the result of the cell that ended with status $1.
__warden_result() {
    local error state=error
    if [[ -n $__warden_interrupted ]]; then
        error='{"name":"KeyboardInterrupt","value":"the cell was interrupted","traceback":[]}'
    elif (($1 != 0)); then
        error="{\"name\":\"ExitStatus\",\"value\":\"exit status $1\",\"traceback\":[]}"
    else
        error=null
        state=ok
    fi
    __warden_reply "{\"type\":\"result\",\"id\":$__warden_id,\"execution_count\":$__warden_count,\"status\":\"$state\",\"value\":null,\"error\":$error,\"outputs\":[]}"
}

trap __warden_on_interrupt INT
trap __warden_on_exit EXIT

__warden_reply "{\"type\":\"ready\",\"pid\":$$,\"bash\":\"${BASH_VERSION//[^0-9a-z.()-]/}\"}"

while :; do
    LC_ALL=C IFS=' ' read -r __warden_id __warden_len <&3 || exit 0
    [[ $__warden_id =~ ^[0-9]+$ && $__warden_len =~ ^[0-9]+$ ]] || exit 2
    __warden_code=
    if ((__warden_len > 0)); then
        LC_ALL=C read -r -d '' -N "$__warden_len" __warden_code <&3 || exit 0
    fi
    ((__warden_count += 1))
    __warden_interrupted=
    __warden_in_cell=1
    if printf "%s" "$__warden_code" 2>/dev/null >|"$__warden_file"; then
        unset __warden_code
        source "$__warden_file"
        __warden_status=$?
    else
        echo "warden: cannot write the cell to $__warden_file" >&2
        __warden_status=1
    fi
    __warden_in_cell=
    trap - DEBUG
    set +T
    shopt -u extdebug
    __warden_result "$__warden_status"
done
