# Test harness (host side, not an attack): runs a command as root of a user namespace in
# which creating further user namespaces is forbidden (user.max_user_namespaces = 0).
# The parent, real root, writes a full uid/gid map for the child.
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(w)
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
        os._exit(90)
    os.read(r, 1)  # wait for the maps
    os.setresgid(0, 0, 0); os.setresuid(0, 0, 0)
    with open('/proc/sys/user/max_user_namespaces', 'w') as f:
        f.write('0')
    os.execv(sys.argv[1], sys.argv[1:])
os.close(r)
import time
for _ in range(100):
    try:
        open(f'/proc/{pid}/ns/user')
        if os.readlink(f'/proc/{pid}/ns/user') != os.readlink('/proc/self/ns/user'):
            break
    except OSError:
        pass
    time.sleep(0.01)
for f, m in (('uid_map', '0 0 4294967295'), ('gid_map', '0 0 4294967295')):
    with open(f'/proc/{pid}/{f}', 'w') as fh:
        fh.write(m)
os.write(w, b'x')
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
