# warden, gVisor tier: the way out of a sandbox that has network egress.
#
# A gVisor sandbox's network stack is the Sentry's own, so the supervisor cannot listen
# inside it as it does on the namespace tier. Instead its proxy listens on a Unix socket
# bound into the sandbox (WARDEN_EGRESS_RELAY), and this relay makes that socket the
# sandbox's 127.0.0.1:WARDEN_EGRESS_PORT, where HTTP_PROXY points. It decides nothing:
# every request is judged by the proxy on the host.
#
# In a Python program, the gVisor sitecustomize starts it as a thread before the program's
# code runs; for any other program, warden's launcher runs it as a process first, and it
# says "ready" once it listens.
import os
import socket
import sys
import threading
import time

PATH = os.environ.get("WARDEN_EGRESS_RELAY", "")
PORT = int(os.environ.get("WARDEN_EGRESS_PORT", "3128"))


def _listen():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", PORT))
    s.listen(128)
    return s


def _pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _connection(client):
    up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        up.connect(PATH)
    except OSError:
        up.close()
        client.close()
        return
    back = threading.Thread(target=_pump, args=(up, client), daemon=True)
    back.start()
    _pump(client, up)
    back.join()
    client.close()
    up.close()


def _serve(listener):
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            time.sleep(0.05)
            continue
        threading.Thread(target=_connection, args=(client,), daemon=True).start()


def start_thread():
    """Listens and serves from a daemon thread; False if the port is taken (another
    process of the sandbox relays already)."""
    try:
        listener = _listen()
    except OSError:
        return False
    threading.Thread(target=_serve, args=(listener,), daemon=True, name="warden-egress-relay").start()
    return True


if __name__ == "__main__":
    listener = _listen()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    _serve(listener)
