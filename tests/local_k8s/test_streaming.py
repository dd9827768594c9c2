"""kubectl port-forward, exec and attach against the local Kubernetes: the API server speaks
SPDY/3.1 (or passes WebSocket through) to the node agent, as to any kubelet."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import select
import struct
import subprocess
import termios
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import kr8s.asyncio
import pytest
import yaml
from distributed import Client

from tests.fixtures.kube import Kubectl
from tests.operator.helpers import small_cluster, wait_phase, wait_ready_workers

pytestmark = pytest.mark.integration

SLEEPER = """
apiVersion: v1
kind: Pod
metadata: {name: sleeper}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: python:3.11
    command: [sh, -c, "echo started; exec sleep 3600"]
    workingDir: /tmp
    env: [{name: GREETING, value: hello-from-env}]
"""

# A plain HTTP server with one 2 MiB file of known content.
WEB = """
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: python:3.11
    command: [sh, -c]
    args:
    - python -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 8192)' > big.bin
      && exec python -m http.server 8000
    ports: [{containerPort: 8000}]
    readinessProbe: {tcpSocket: {port: 8000}, periodSeconds: 1}
"""

BIG = bytes(range(256)) * 8192


def start_pod(kubectl: Kubectl, manifest: str, name: str) -> None:
    kubectl.apply(manifest)
    kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=180s")


@contextmanager
def port_forward(kubectl: Kubectl, target: str, remote: int,
                 env: dict[str, str] | None = None) -> Iterator[tuple[int, subprocess.Popen]]:
    """`kubectl port-forward TARGET :REMOTE` in the background; yields the local port kubectl chose
    (a free one: other sessions on this machine may hold 8786) and the process."""
    proc = subprocess.Popen(["kubectl", "--namespace", kubectl.namespace, "port-forward", target, f":{remote}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    try:
        found: list[int] = []
        started = threading.Event()

        def read() -> None:
            assert proc.stdout
            # Read to the end: kubectl logs every connection, and a full pipe would stall it.
            for line in proc.stdout:
                if not found and (m := re.match(r"Forwarding from 127\.0\.0\.1:(\d+) ->", line)):
                    found.append(int(m.group(1)))
                    started.set()
            started.set()

        threading.Thread(target=read, daemon=True).start()
        started.wait(60)
        if not found:
            proc.kill()
            raise AssertionError(f"kubectl port-forward did not start: {proc.communicate(timeout=10)[1]}")
        yield found[0], proc
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.usefixtures("dask_operator")
def test_quickstart_port_forward_and_exec(kubectl: Kubectl) -> None:
    """The docs' quickstart: port-forward the scheduler Service and compute through it; exec
    into the scheduler pod and ask for its distributed version."""
    kubectl.apply(yaml.safe_dump(small_cluster("quick", workers=1)))
    wait_phase(kubectl, "quick")
    wait_ready_workers(kubectl, "daskcluster", "quick", 1)
    with port_forward(kubectl, "svc/quick-scheduler", 8786) as (port, _):
        with Client(f"localhost:{port}", timeout=30) as client:
            assert client.submit(sum, range(10)).result() == 45
            pod_version = client.get_versions()["scheduler"]["packages"]["distributed"]
    scheduler = kubectl("get", "pods", "-l", "dask.org/cluster-name=quick,dask.org/component=scheduler",
                        "-o", "jsonpath={.items[0].metadata.name}")
    out = kubectl("exec", scheduler, "--", "python", "-c", "import distributed; print(distributed.__version__)")
    assert out.strip() == pod_version


@pytest.mark.parametrize("websockets", ["true", "false"], ids=["websocket-to-apiserver", "spdy-to-apiserver"])
def test_exec_streams_and_exit_code(kubectl: Kubectl, websockets: str) -> None:
    """stdin in, stdout and stderr apart, the container's env and working dir, and the
    command's exit code as kubectl's, whether kubectl speaks WebSocket or SPDY to the API server."""
    start_pod(kubectl, SLEEPER, "sleeper")
    env = {**os.environ, "KUBECTL_REMOTE_COMMAND_WEBSOCKETS": websockets}
    script = 'cat; echo "to stderr" >&2; echo "$GREETING in $(pwd)"; exit 3'
    result = subprocess.run(["kubectl", "-n", kubectl.namespace, "exec", "-i", "sleeper", "--", "sh", "-c", script],
                            input="line one\nline two\n", capture_output=True, text=True, timeout=120, env=env)
    assert result.stdout == "line one\nline two\nhello-from-env in /tmp\n"
    assert "to stderr" in result.stderr
    assert result.returncode == 3
    ok = subprocess.run(["kubectl", "-n", kubectl.namespace, "exec", "sleeper", "--", "true"],
                        capture_output=True, text=True, timeout=120, env=env)
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run(["kubectl", "-n", kubectl.namespace, "exec", "sleeper", "--", "no-such-command"],
                             capture_output=True, text=True, timeout=120, env=env)
    assert missing.returncode != 0
    assert "no-such-command" in missing.stderr


def _read_until(fd: int, pattern: bytes, timeout: float = 60) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while pattern not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{pattern!r} not seen; terminal showed {seen[-500:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                raise AssertionError(f"terminal closed before {pattern!r}; it showed {seen[-500:]!r}")
            seen += chunk
    return seen


def test_exec_interactive_shell_through_a_terminal(kubectl: Kubectl) -> None:
    """`kubectl exec -it POD -- sh` from a real terminal: a prompt, a command's output, the
    terminal's size inside the pod, and the shell's exit code."""
    start_pod(kubectl, SLEEPER, "sleeper")
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    proc = subprocess.Popen(["kubectl", "-n", kubectl.namespace, "exec", "-it", "sleeper", "--", "sh"],
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    try:
        _read_until(master, b"# ")  # the shell's prompt (root in the pod)
        os.write(master, b"echo $((6 * 7)); stty size\r")
        screen = _read_until(master, b"33 101")
        assert b"42" in screen
        os.write(master, b"exit 5\r")
        assert proc.wait(60) == 5
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


@pytest.mark.parametrize("websockets", ["true", "false"], ids=["websocket-tunnel", "spdy"])
def test_port_forward_pod_many_connections(kubectl: Kubectl, websockets: str) -> None:
    """`kubectl port-forward pod/web` carries several concurrent connections, each whole."""
    start_pod(kubectl, WEB, "web")
    with port_forward(kubectl, "pod/web", 8000, env={"KUBECTL_PORT_FORWARD_WEBSOCKETS": websockets}) as (port, proc):
        def fetch(i: int) -> str:
            path = "/big.bin" if i % 2 == 0 else "/"
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as response:
                body = response.read()
            return hashlib.sha256(body).hexdigest() if i % 2 == 0 else body.decode()

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(fetch, range(16)))
        assert proc.poll() is None, "kubectl port-forward ended"
    assert results[::2] == [hashlib.sha256(BIG).hexdigest()] * 8
    assert all("big.bin" in listing for listing in results[1::2])


def test_port_forward_to_a_closed_port_says_so(kubectl: Kubectl) -> None:
    """The agent's error reaches kubectl, which then gives up as with any kubelet."""
    start_pod(kubectl, SLEEPER, "sleeper")
    with port_forward(kubectl, "pod/sleeper", 9) as (port, proc):
        with pytest.raises(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as response:
                response.read()
        assert proc.wait(60) != 0
        assert proc.stderr
        errors = proc.stderr.read()
    assert "error forwarding port 9 to pod sleeper" in errors
    assert "lost connection to pod" in errors


def test_attach_follows_the_container_output(kubectl: Kubectl) -> None:
    kubectl.apply(SLEEPER.replace("name: sleeper", "name: ticker").replace(
        'echo started; exec sleep 3600', 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done'))
    kubectl("wait", "--for=condition=Ready", "pod/ticker", "--timeout=180s")
    proc = subprocess.Popen(["kubectl", "-n", kubectl.namespace, "attach", "ticker"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []

        def read() -> None:
            assert proc.stdout
            for line in proc.stdout:
                lines.append(line)
                if len(lines) == 3:
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(60)
        assert len(lines) == 3, proc.stderr.read() if proc.poll() is not None and proc.stderr else lines
        numbers = [int(line.split()[1]) for line in lines]
        assert numbers == list(range(numbers[0], numbers[0] + 3))
    finally:
        proc.terminate()
        proc.wait(10)


async def test_kr8s_exec_over_websocket(namespace: str) -> None:
    """Clients that speak WebSocket themselves (kr8s) reach the agent through the API server."""
    pod = await kr8s.asyncio.objects.Pod(yaml.safe_load(SLEEPER) | {"metadata": {"name": "sleeper",
                                                                                 "namespace": namespace}})
    await pod.create()
    await pod.wait("condition=Ready", timeout=180)
    result = await pod.exec(["sh", "-c", "echo out; echo err >&2; exit 4"], check=False)
    assert (result.stdout, result.stderr, result.returncode) == (b"out\n", b"err\n", 4)
