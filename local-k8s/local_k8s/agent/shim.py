"""A container's shim: started inside the pod's namespaces for each container run, it mounts the
container's volumes (as launch.py does), starts its command and stays with it.

Runs as `ip netns exec <ns> python -m local_k8s.agent.shim <spec.json>`. Standard library only.

The shim, not the node agent, owns the container: it writes the container's output to the log
file (each line stamped as the kubelet does) and its exit code to `spec["exit_file"]`. So the
container keeps running, and its logs keep being written, while the agent is restarted; the new
agent finds the shim by its pid and reads the exit code from the file. A SIGTERM or SIGINT to the
process group reaches the container; the shim outlives it to record how it ended. (launch.py,
which execs straight into the command, is what `kubectl exec` sessions use.)
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from datetime import datetime, timezone

from local_k8s.agent.launch import prepare

def stamp() -> bytes:
    t = datetime.now(timezone.utc)
    return (t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}000Z ").encode()


def copy_log(fd: int, path: str) -> None:
    """Copy the container's output to its log file until it closes, line by line, stamped."""
    partial = b""
    with open(path, "ab") as log:
        while chunk := os.read(fd, 65536):
            lines = (partial + chunk).split(b"\n")
            partial = lines.pop()
            log.write(b"".join(stamp() + line + b"\n" for line in lines))
            log.flush()
        if partial:
            log.write(stamp() + partial + b"\n")


def kill_leftovers() -> None:
    group, me = os.getpgrp(), os.getpid()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me:
            try:
                if os.getpgid(int(entry)) == group:
                    os.kill(int(entry), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def exit_code(status: int) -> int:
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def main() -> None:
    spec = prepare(sys.argv[1])
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the container
        os.close(read_end)
        os.dup2(write_end, 1)
        os.dup2(write_end, 2)
        os.close(write_end)
        os.chdir(spec["cwd"])
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        argv = spec["argv"]
        try:
            os.execvpe(argv[0], argv, spec["env"])
        except OSError as e:
            # Same exit code and wording as a container runtime that cannot start the process.
            os.write(2, f'exec: "{argv[0]}": {e.strerror}\n'.encode())
            os._exit(128)
    os.close(write_end)
    # The group's SIGTERM/SIGINT are for the container; the shim stays to record the end.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    copier = threading.Thread(target=copy_log, args=(read_end, spec["log"]), daemon=True)
    copier.start()
    _, status = os.waitpid(pid, 0)
    code = exit_code(status)
    # As when a container's first process ends, whatever it left running goes too (they would
    # otherwise hold its output open); then the last of the output is written.
    kill_leftovers()
    copier.join(timeout=5)
    tmp = spec["exit_file"] + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(code))
    os.replace(tmp, spec["exit_file"])
    sys.exit(code)


if __name__ == "__main__":
    main()
