"""Fixtures: a live `warden serve` on a free loopback port for the whole test session.

The binary is ``$WARDEN_BIN`` (the Rust test that runs this suite sets it), else
``target/debug/warden`` of the repository. Each server is stopped with SIGTERM by its pid
and waited for; every wait here is bounded.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def warden_bin() -> Path:
    path = Path(os.environ.get("WARDEN_BIN") or REPO / "target" / "debug" / "warden")
    if not path.is_file():
        pytest.fail(f"no warden binary at {path}: run `cargo build -p warden-cli` or set WARDEN_BIN", pytrace=False)
    return path


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
                raise AssertionError(f"warden serve (pid {self.process.pid}) did not stop within {STOP_TIMEOUT} s of SIGTERM")


def start_server(data_dir: Path, *extra: str) -> Server:
    """Starts `warden serve --listen 127.0.0.1:0 --data-dir DIR EXTRA...` and reads its
    address from the first line of its stdout (``warden: listening on http://ADDR ...``)."""
    log = data_dir.with_suffix(".log")
    with open(log, "wb") as err:
        process = subprocess.Popen(
            [str(warden_bin()), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir), *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
        )
    lines: queue.Queue[bytes] = queue.Queue()

    def drain() -> None:
        # The first line goes to the queue; the rest is read and dropped so the server
        # never blocks on a full pipe.
        assert process.stdout is not None
        first = True
        for line in process.stdout:
            if first:
                lines.put(line)
                first = False
        if first:
            lines.put(b"")

    threading.Thread(target=drain, daemon=True).start()
    try:
        line = lines.get(timeout=START_TIMEOUT).decode("utf-8", "replace")
    except queue.Empty:
        line = ""
    if "http://" not in line:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)
        raise AssertionError(f"no address from warden serve: {line!r}; stderr: {log.read_text(errors='replace')[-2000:]}")
    addr = line.split("http://", 1)[1].split()[0]
    return Server(url=f"http://{addr}", process=process, data_dir=data_dir, log=log)


@pytest.fixture(scope="session")
def _tmp_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="warden-sdk-tests-"))
    # The server's data directory must be reachable by the sandbox user (it binds files
    # from there into sandboxes), so the directories above it cannot be private.
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def server(_tmp_root: Path) -> Iterator[str]:
    """The base URL of a development-mode server (no keys)."""
    data = _tmp_root / "dev"
    data.mkdir()
    s = start_server(data, "--dev")
    try:
        yield s.url
    finally:
        s.stop()


@pytest.fixture(scope="session")
def keyed_server(_tmp_root: Path) -> Iterator[tuple[str, str]]:
    """A server that needs API keys, and one valid key for it."""
    data = _tmp_root / "keyed"
    data.mkdir()
    out = subprocess.run(
        [str(warden_bin()), "keys", "--data-dir", str(data), "create", "--tenant", "sdk"],
        capture_output=True,
        timeout=30,
        check=True,
    )
    key = out.stdout.decode().strip()
    assert key.startswith("wk_"), out
    s = start_server(data)
    try:
        yield s.url, key
    finally:
        s.stop()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests say which server they use; the caller's WARDEN_API_URL/KEY must not leak in."""
    monkeypatch.delenv("WARDEN_API_URL", raising=False)
    monkeypatch.delenv("WARDEN_API_KEY", raising=False)
