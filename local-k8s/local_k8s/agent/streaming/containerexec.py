"""Processes behind exec and attach on this node: a command started in a running container's
namespaces with the container's environment, working directory and mounts (the container's
launch spec, with another argv), on pipes or a pseudo-terminal; or a container's output for attach."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import secrets
import shutil
import signal
import struct
import sys
import termios
from pathlib import Path
from typing import TYPE_CHECKING

from .remotecommand import Channels, Options

if TYPE_CHECKING:
    from ..podrunner import PodRunner

CHUNK = 32 * 1024
DRAIN_AFTER_EXIT = 1.0  # output of children that outlive the command is read this long at most


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _launch_command(runner: PodRunner, container: str, argv: list[str], tty: bool) -> tuple[list[str], Path]:
    """The container's own launch (see podrunner/launch.py) with the exec's argv: same
    namespaces, mounts, environment and working directory."""
    if not runner.is_running(container):
        raise LookupError(f'container "{container}" is not running in pod "{runner.name}"')
    launch = runner.dir / f"{container}.launch.json"
    try:
        spec = json.loads(launch.read_text())
    except (OSError, ValueError) as e:
        raise LookupError(f'container "{container}" of pod "{runner.name}" has no launch record: {e}') from e
    env = spec["env"]
    if tty:
        env.setdefault("TERM", "xterm")  # as container runtimes set for a terminal
    if "/" not in argv[0] and shutil.which(argv[0], path=env.get("PATH")) is None:
        raise LookupError(f'exec: "{argv[0]}": executable file not found in $PATH')
    path = runner.dir / f"exec-{secrets.token_hex(6)}.json"
    path.write_text(json.dumps({**spec, "argv": argv, "env": env}))
    if runner.host_network:
        prefix = ["unshare", "--mount", "--propagation", "slave"]
    elif runner.netns:
        prefix = ["ip", "netns", "exec", runner.netns]
    else:
        path.unlink()
        raise LookupError(f'pod "{runner.name}" has no network namespace')
    return [*prefix, sys.executable, "-m", "local_k8s.agent.launch", str(path)], path


async def start_exec(runner: PodRunner, container: str, options: Options) -> ExecProcess:
    argv, spec = _launch_command(runner, container, list(options.command), options.tty)
    try:
        if options.tty:
            master, slave = os.openpty()
            try:
                # setsid --ctty: a new session whose controlling terminal is the pty, so ^C and
                # window-size changes reach the foreground job.
                proc = await asyncio.create_subprocess_exec("setsid", "--ctty", *argv, stdin=slave, stdout=slave,
                                                            stderr=slave)
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)
            os.set_blocking(master, False)
            return ExecProcess(runner, proc, spec, Pty(master))
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE if options.stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
        return ExecProcess(runner, proc, spec, None)
    except BaseException:
        spec.unlink(missing_ok=True)
        raise


class Pty:
    """The agent's end of a pseudo-terminal, non-blocking, on the event loop."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    async def _wait(self, add, remove) -> None:
        future = asyncio.get_running_loop().create_future()
        add(self.fd, lambda: future.done() or future.set_result(None))
        try:
            await future
        finally:
            remove(self.fd)

    async def read(self) -> bytes:
        """Output; b"" once no process holds the terminal any more."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                return os.read(self.fd, CHUNK)
            except BlockingIOError:
                await self._wait(loop.add_reader, loop.remove_reader)
            except OSError as e:
                if e.errno == errno.EIO:
                    return b""
                raise

    async def write(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        while data:
            try:
                data = data[os.write(self.fd, data):]
            except BlockingIOError:
                await self._wait(loop.add_writer, loop.remove_writer)

    def resize(self, width: int, height: int) -> None:
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def close(self) -> None:
        os.close(self.fd)


class ExecProcess:
    def __init__(self, runner: PodRunner, proc: asyncio.subprocess.Process, spec: Path, pty: Pty | None) -> None:
        self.runner = runner
        self.proc = proc
        self.spec = spec
        self.pty = pty

    async def pump(self, channels: Channels) -> int | None:
        proc = self.proc
        outputs, inputs = [], []
        if self.pty:
            outputs.append(asyncio.create_task(_copy(self.pty.read, channels.stdout)))
            if channels.stdin:
                inputs.append(asyncio.create_task(_feed_pty(channels.stdin, self.pty)))
            if channels.resizes:
                inputs.append(asyncio.create_task(_apply_resizes(channels.resizes, self.pty)))
        else:
            assert proc.stdout and proc.stderr
            outputs += [asyncio.create_task(_copy(lambda: proc.stdout.read(CHUNK), channels.stdout)),
                        asyncio.create_task(_copy(lambda: proc.stderr.read(CHUNK), channels.stderr))]
            if channels.stdin and proc.stdin:
                inputs.append(asyncio.create_task(_feed_pipe(channels.stdin, proc.stdin)))
        pod_gone = asyncio.create_task(self.runner.deleting.wait())
        waiter = asyncio.create_task(proc.wait())
        try:
            await asyncio.wait({waiter, pod_gone}, return_when=asyncio.FIRST_COMPLETED)
            if not waiter.done():
                _kill(proc)  # the pod is being deleted: its execs end with it
                await waiter
            # The command has ended; children it left behind may still hold the output open.
            await asyncio.wait(outputs, timeout=DRAIN_AFTER_EXIT)
            return _exit_code(proc.returncode or 0)
        finally:
            for task in [*outputs, *inputs, pod_gone, waiter]:
                task.cancel()
            await asyncio.gather(*outputs, *inputs, pod_gone, waiter, return_exceptions=True)
            if proc.returncode is None:
                _kill(proc)  # the client went away first
            if self.pty:
                self.pty.close()
            self.spec.unlink(missing_ok=True)


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


async def _copy(read, sink) -> None:
    while data := await read():
        if sink is not None:
            await sink.write(data)


async def _feed_pipe(read, stdin: asyncio.StreamWriter) -> None:
    try:
        while data := await read():
            stdin.write(data)
            await stdin.drain()
    except (ConnectionError, BrokenPipeError):
        return
    stdin.close()  # the client's end of input is the command's


async def _feed_pty(read, pty: Pty) -> None:
    while data := await read():
        await pty.write(data)


async def _apply_resizes(resizes, pty: Pty) -> None:
    async for width, height in resizes:
        pty.resize(width, height)


class AttachProcess:
    """`kubectl attach`: the container's output from now on, until it stops. Containers here
    run without stdin, as a container whose spec does not ask for one: input is dropped."""

    def __init__(self, runner: PodRunner, container: str) -> None:
        if not runner.is_running(container):
            raise LookupError(f'container "{container}" is not running in pod "{runner.name}"')
        path = runner.log_path(container)
        if path is None:
            raise LookupError(f'container "{container}" not found in pod "{runner.name}"')
        self.runner, self.container, self.path = runner, container, path
        self.offset = path.stat().st_size if path.exists() else 0

    async def pump(self, channels: Channels) -> int | None:
        sink = channels.stdout or channels.stderr
        drop = asyncio.create_task(_copy(channels.stdin, None)) if channels.stdin else None
        try:
            while True:
                running = self.runner.is_running(self.container)
                if self.path.exists() and self.path.stat().st_size > self.offset:
                    with self.path.open("rb") as f:
                        f.seek(self.offset)
                        chunk = f.read()
                    self.offset += len(chunk)
                    if sink is not None:
                        # The log stamps each line with its time; the attached client sees the raw output.
                        await sink.write(b"".join(line.split(b" ", 1)[-1] for line in chunk.splitlines(keepends=True)))
                elif not running:
                    return None
                else:
                    await asyncio.sleep(0.1)  # the log file is the only place the output goes
        finally:
            if drop:
                drop.cancel()
