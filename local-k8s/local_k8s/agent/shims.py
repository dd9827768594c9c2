"""The agent's side of a container's shim (shim.py): a handle that waits for the shim and reads
the exit code it leaves, finding a shim again after an agent restart, signalling its group."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path


def exit_code(returncode: int) -> int:
    """A container's exit code from a process' return code (a signal's is 128 + its number)."""
    return 128 - returncode if returncode < 0 else returncode


def signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Shim:
    """A container's shim process (shim.py): started by this agent, or found again after the
    agent restarted. Its exit code is the container's, read from the file the shim writes."""

    def __init__(self, pid: int, exit_file: Path, proc: asyncio.subprocess.Process | None = None) -> None:
        self.pid = pid
        self.exit_file = exit_file
        self.proc = proc
        self._done = asyncio.ensure_future(self._wait())

    @property
    def returncode(self) -> int | None:
        return self._done.result() if self._done.done() else None

    async def wait(self) -> int:
        return await asyncio.shield(self._done)

    async def _wait(self) -> int:
        if self.proc is not None:
            raw: int | None = await self.proc.wait()
        else:
            await wait_pid_gone(self.pid)
            raw = None
        try:
            return int(self.exit_file.read_text())
        except (OSError, ValueError):  # the shim itself was killed (SIGKILL to the group)
            return exit_code(raw) if raw is not None else 128 + signal.SIGKILL


async def wait_pid_gone(pid: int) -> None:
    """Wait for a process that is not this one's child to end (a pidfd turns readable)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    ended = loop.create_future()
    loop.add_reader(fd, lambda: ended.done() or ended.set_result(None))
    try:
        await ended
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def is_shim(pid: int | None, launch_spec: Path) -> bool:
    """Whether `pid` is still the shim started with `launch_spec` (not a reused pid)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        alive = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False
    return alive and str(launch_spec).encode() in cmdline
