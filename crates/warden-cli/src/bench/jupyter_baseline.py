"""The Jupyter baseline of `warden bench serve`.

Starts an ipykernel through jupyter_client, runs `x = 1`, prints `ready`, then for every
line read on stdin executes `x + 1` once and prints `<milliseconds> <text/plain value>`.
The time runs from sending the execute_request to having both the execute_result (the
value) and the execute_reply, as a client of `POST /v1/sessions/{id}/execute` waits for
both. The kernel's trailing `status: idle` message is read after the clock stops.
An empty line or end of input shuts the kernel down.
"""

import sys
import time

try:
    from jupyter_client.manager import start_new_kernel
    import ipykernel  # noqa: F401  (the kernel itself must be importable)
except ImportError as e:
    print(f"missing {e.name}", flush=True)
    sys.exit(3)

TIMEOUT = 30


def run(kc, code, want_value):
    start = time.perf_counter()
    msg_id = kc.execute(code)
    value = None
    while True:
        m = kc.get_shell_msg(timeout=TIMEOUT)
        if m["parent_header"].get("msg_id") == msg_id:
            break
    while want_value and value is None:
        m = kc.get_iopub_msg(timeout=TIMEOUT)
        if (
            m["parent_header"].get("msg_id") == msg_id
            and m["msg_type"] == "execute_result"
        ):
            value = m["content"]["data"].get("text/plain")
    ms = (time.perf_counter() - start) * 1000
    # Untimed: drain this request's iopub messages up to its idle status, so that the
    # next request does not read them inside its own timing.
    while True:
        m = kc.get_iopub_msg(timeout=TIMEOUT)
        if (
            m["parent_header"].get("msg_id") == msg_id
            and m["msg_type"] == "status"
            and m["content"].get("execution_state") == "idle"
        ):
            break
    return ms, value


def main():
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
    try:
        run(kc, "x = 1", False)
        for _ in range(20):
            run(kc, "x + 1", True)
        print("ready", flush=True)
        for line in sys.stdin:
            if not line.strip():
                break
            ms, value = run(kc, "x + 1", True)
            print(f"{ms:.6f} {value}", flush=True)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


main()
