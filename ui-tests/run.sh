#!/usr/bin/env bash
# Browser tests of the JupyterLab front end against JupyterLab + the dask-k8s-lab server
# extension + the local Kubernetes (+ the operator, which must already be running).
# The pytest fixtures start `jupyter lab` on a free port with a random token and stop it.
# Screenshots of every step land in ui-tests/artifacts/ (or $DK8S_UI_ARTIFACTS).
#
#   ui-tests/run.sh [pytest args...]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
bin="$(dirname "$python")"

if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "ui-tests: ${CHROMIUM:-/usr/bin/chromium} is missing (apt-get install -y chromium)" >&2
  exit 1
fi
if [ -z "${KUBECONFIG:-}" ]; then
  eval "$("$bin/dask-k8s-lab" local-k8s env)"
fi
if ! kubectl get --raw /readyz >/dev/null 2>&1; then
  echo "ui-tests: no Kubernetes API answers for KUBECONFIG=${KUBECONFIG:-}: start it first (dask-k8s-lab local-k8s up)" >&2
  exit 1
fi
if [ ! -d "$("$python" -c 'import sys; print(sys.prefix)')/share/jupyter/labextensions/dask-k8s-lab" ]; then
  echo "ui-tests: the dask-k8s-lab labextension is not installed in $python's environment (pip install .)" >&2
  exit 1
fi
mkdir -p "${DK8S_UI_ARTIFACTS:-$here/artifacts}"
export PATH="$bin:$PATH"
# With no test paths given, run all of ui-tests/.
has_path=0
for arg in "$@"; do case "$arg" in -*) ;; *.py|*.py::*|*/*) has_path=1 ;; esac; done
[ "$has_path" = 1 ] || set -- "$@" "$here"
exec "$python" -m pytest -c "$here/pytest.ini" --rootdir "$here" "$@"
