"""warden's pip relay: lets pip inside a sandbox reach the package index, and only it.

Runs inside a sandbox, whose network namespace has nothing but loopback. On the host,
warden's index proxy listens on a unix socket (its directory bind-mounted into the
sandbox) and opens CONNECT tunnels to the allowed index hosts only, resolving their
names itself. pip wants a TCP proxy, so this script listens on 127.0.0.1 (a free port),
copies every connection byte for byte to that unix socket, and runs pip in this same
process with `--proxy http://127.0.0.1:PORT`.

Usage:
    python3 pip_relay.py SOCKET -- PIP_ARGS...   `pip install PIP_ARGS` through the relay
    ... [--then-npm NPM_ARGS...]                 then `npm NPM_ARGS` through it (pip skipped
                                                 when PIP_ARGS is empty)
    python3 pip_relay.py --relay-only SOCKET     relay only: print `port N`, serve until
                                                 stdin closes (for tests)

Exit status: pip's own; 2 for bad usage or a missing socket; 3 if pip is not installed.
Standard library only.
"""

import os
import socket
import sys
import threading

CHUNK = 64 * 1024
USAGE = (
    "usage: pip_relay.py SOCKET -- [PIP_ARGS...] [--then-npm NPM_ARGS...]"
    "  |  pip_relay.py --relay-only SOCKET"
)


def pipe(src, dst):
    """Copies src to dst until EOF, then half-closes dst so that its reader sees EOF.

    On an error both sockets are shut down completely, which also ends the copy running
    the other way.
    """
    try:
        while data := src.recv(CHUNK):
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def relay(client, socket_path):
    """Carries one TCP connection from pip to the index proxy and back."""
    with client:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with upstream:
            try:
                upstream.connect(socket_path)
            except OSError as e:
                print(f"pip_relay: cannot reach the index proxy: {e}", file=sys.stderr)
                return
            back = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
            back.start()
            pipe(client, upstream)
            back.join()


def start_relay(socket_path):
    """Listens on 127.0.0.1 on a free port, relays in background threads; returns the port."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)

    def accept_forever():
        while True:
            client, _ = server.accept()
            threading.Thread(target=relay, args=(client, socket_path), daemon=True).start()

    threading.Thread(target=accept_forever, daemon=True).start()
    return server.getsockname()[1]


def run_pip(port, pip_args):
    """Runs `pip install` in this process through the relay; returns its exit status."""
    # Only the command line counts: no PIP_* settings inherited from the environment, no
    # user or site pip.conf, no cache, and no proxy exceptions that would send pip
    # around the relay.
    for name in list(os.environ):
        if name.startswith("PIP_") or name in ("NO_PROXY", "no_proxy"):
            del os.environ[name]
    os.environ["PIP_CONFIG_FILE"] = os.devnull
    os.environ["PIP_NO_CACHE_DIR"] = "1"
    try:
        from pip._internal.cli.main import main as pip_main
    except ImportError:
        print(
            "pip is not installed in the runtime: install Debian's python3-pip on the host",
            file=sys.stderr,
        )
        return 3
    return pip_main([
        "install",
        "--proxy", f"http://127.0.0.1:{port}",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar", "off",
        *pip_args,
    ])


def run_npm(port, npm_args):
    """Runs `npm NPM_ARGS` through the relay; returns its exit status."""
    import subprocess

    proxy = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
    env.update(
        {
            "npm_config_proxy": proxy,
            "npm_config_https_proxy": proxy,
            "npm_config_cache": "/tmp/.npm",
            "npm_config_update_notifier": "false",
            "npm_config_fund": "false",
            "npm_config_audit": "false",
            "npm_config_userconfig": os.devnull,
            "HOME": "/tmp",
            "npm_config_fetch_retries": "1",
        }
    )
    # The system's trust store (the host's /etc/ssl is visible read-only), as pip uses.
    system_cas = "/etc/ssl/certs/ca-certificates.crt"
    if os.path.exists(system_cas):
        env["NODE_EXTRA_CA_CERTS"] = system_cas
    try:
        return subprocess.run(["/usr/bin/npm", *npm_args], env=env).returncode
    except OSError as e:
        print(f"npm cannot run in the runtime: {e}", file=sys.stderr)
        return 3


def main(argv):
    npm_args = None
    if "--then-npm" in argv:
        i = argv.index("--then-npm")
        argv, npm_args = argv[:i], argv[i + 1 :]
    if len(argv) == 2 and argv[0] == "--relay-only":
        socket_path, pip_args = argv[1], None
    elif len(argv) >= 2 and argv[1] == "--":
        socket_path, pip_args = argv[0], argv[2:]
    else:
        print(USAGE, file=sys.stderr)
        return 2
    if not os.path.exists(socket_path):
        print(f"pip_relay: no index proxy socket at {socket_path}", file=sys.stderr)
        return 2
    port = start_relay(socket_path)
    if pip_args is None:
        print(f"port {port}", flush=True)
        sys.stdin.buffer.read()
        return 0
    status = run_pip(port, pip_args) if pip_args else 0
    if status == 0 and npm_args:
        status = run_npm(port, npm_args)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
