#!/usr/bin/env python3
"""qmp.py SOCKET COMMAND...: runs each command (JSON, e.g.
'{"execute":"query-migrate"}') on a QEMU QMP socket and prints each reply
on a line (asynchronous events are skipped). Exit status 1 if a command
got an error reply, 2 if QEMU could not be reached."""
import json
import socket
import sys


def main():
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(30)
        s.connect(sys.argv[1])
        f = s.makefile('rw')
        json.loads(f.readline())  # the greeting
    except (OSError, ValueError) as e:
        print(f'qmp.py: {sys.argv[1]}: {e}', file=sys.stderr)
        return 2

    def run(c):
        f.write(json.dumps(c) + '\n')
        f.flush()
        while True:
            r = json.loads(f.readline())
            if 'event' not in r:
                return r

    rc = 0
    run({'execute': 'qmp_capabilities'})
    for a in sys.argv[2:]:
        r = run(json.loads(a))
        print(json.dumps(r))
        rc = 1 if 'error' in r else rc
    return rc


if __name__ == '__main__':
    sys.exit(main())
