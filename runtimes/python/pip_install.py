"""warden's package installer: pip (then npm) inside a sandbox, through the index proxy.

Runs inside a sandbox whose network namespace has nothing but loopback. Before this
script starts, warden makes a listening socket on 127.0.0.1:3128 inside that namespace
and serves it on the host with its index proxy, which opens CONNECT tunnels to the
allowed index hosts only and resolves their names itself. pip and npm are pointed at it.

Usage:
    python3 pip_install.py PROXY_URL -- PIP_ARGS...   `pip install PIP_ARGS` through it
    ... [--then-npm NPM_ARGS...]                      then `npm NPM_ARGS` (pip skipped
                                                      when PIP_ARGS is empty)

Exit status: pip's own; 2 for bad usage; 3 if pip (or npm) is not installed.
Standard library only.
"""

import os
import sys

USAGE = "usage: pip_install.py PROXY_URL -- [PIP_ARGS...] [--then-npm NPM_ARGS...]"


def run_pip(proxy, pip_args):
    """Runs `pip install` in this process through the proxy; returns its exit status."""
    # Only the command line counts: no PIP_* settings inherited from the environment, no
    # user or site pip.conf, no cache, and no proxy exceptions.
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
        "--proxy", proxy,
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar", "off",
        *pip_args,
    ])


def run_npm(proxy, npm_args):
    """Runs `npm NPM_ARGS` through the proxy; returns its exit status."""
    import subprocess

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
    if len(argv) < 2 or argv[1] != "--" or not argv[0].startswith("http://"):
        print(USAGE, file=sys.stderr)
        return 2
    proxy, pip_args = argv[0], argv[2:]
    status = run_pip(proxy, pip_args) if pip_args else 0
    if status == 0 and npm_args:
        status = run_npm(proxy, npm_args)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
