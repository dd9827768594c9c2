"""The classic section's examples, as the docs print them.

Changes, and nothing else: the image is named without its registry host (no registry host names
in this repository) and the 6G of memory is cut to 512M (this machine has 24 GiB and 2 cores;
the cpu stays at the docs' "2", which the local Kubernetes schedules by request). The
EXTRA_PIP_PACKAGES entry would install distributed from a git repository: pods of the local
Kubernetes run the project's own environment and reach no network, so it is left out of the
integration tests only (see `worker_spec_for_tests`).
"""

from __future__ import annotations

import yaml

WORKER_SPEC_YML = """\
# worker-spec.yml

kind: Pod
metadata:
  labels:
    foo: bar
spec:
  restartPolicy: Never
  containers:
  - image: dask/dask:latest
    imagePullPolicy: IfNotPresent
    args: [dask-worker, --nthreads, '2', --no-dashboard, --memory-limit, 512M, --death-timeout, '60']
    name: dask-worker
    env:
      - name: EXTRA_PIP_PACKAGES
        value: git+https://github.com/dask/distributed
    resources:
      limits:
        cpu: "2"
        memory: 512M
      requests:
        cpu: "2"
        memory: 512M
"""


def worker_spec_for_tests(cpu: str = "100m") -> str:
    """The docs' worker-spec.yml without EXTRA_PIP_PACKAGES, and a cpu request this machine fits
    several of."""
    pod = yaml.safe_load(WORKER_SPEC_YML)
    container = pod["spec"]["containers"][0]
    del container["env"]
    container["resources"]["limits"]["cpu"] = container["resources"]["requests"]["cpu"] = cpu
    return yaml.safe_dump(pod)
