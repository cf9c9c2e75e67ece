# warden, gVisor tier: loaded by every Python in the sandbox (PYTHONPATH names its directory).
#
# Under gVisor a write to the sandbox's standard output or error can be partial: the Sentry
# writes what the host pipe has room for and returns that count, where Linux would block
# until all of it is written. Python's unbuffered text streams (-u, PYTHONUNBUFFERED) do not
# retry a partial write and would drop the rest, so they get a raw file that writes
# everything. Buffered streams retry on their own and are left alone.
import io
import os
import select
import sys


class _WholeWrites(io.FileIO):
    def write(self, b):
        view = memoryview(b).cast("B")
        total = len(view)
        while view:
            try:
                n = os.write(self.fileno(), view)
            except BlockingIOError:
                select.select([], [self.fileno()], [])
                continue
            view = view[n:]
        return total


def _whole(stream):
    if stream is None or not isinstance(getattr(stream, "buffer", None), io.FileIO):
        return stream
    try:
        raw = _WholeWrites(stream.fileno(), "w", closefd=False)
    except (OSError, ValueError):
        return stream
    return io.TextIOWrapper(
        raw,
        encoding=stream.encoding,
        errors=stream.errors,
        write_through=True,
        line_buffering=stream.line_buffering,
    )


if sys.stdout is sys.__stdout__:
    sys.stdout = sys.__stdout__ = _whole(sys.stdout)
if sys.stderr is sys.__stderr__:
    sys.stderr = sys.__stderr__ = _whole(sys.stderr)

# With network egress, this process (the sandbox's first Python) relays its proxy port:
# see warden_egress_relay.py next to this file.
if os.environ.get("WARDEN_EGRESS_RELAY"):
    try:
        import warden_egress_relay

        warden_egress_relay.start_thread()
    except Exception:
        pass
