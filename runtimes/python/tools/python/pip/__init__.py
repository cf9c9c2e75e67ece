"""warden's stand-in for pip inside sandboxes: there is no network to install from."""

import sys

with open("/opt/warden/tools/MESSAGE.txt") as _f:
    MESSAGE = _f.read()


def main(args=None):
    sys.stderr.write(MESSAGE)
    return 1
