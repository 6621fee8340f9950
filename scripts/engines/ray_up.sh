#!/usr/bin/env bash
# Start a local single-node Ray head (loopback only) with fake accelerators; idempotent.
# Ray lives in its own venv ($RAY_VENV), never in the project's.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VENV=${RAY_VENV:-/var/tmp/ray-venv}; TMPD=${RAY_TMPDIR:-/tmp/ray-local}
# 6379 is taken by Redis on machines that run one: the GCS gets its own port
GCS_PORT=${RAY_GCS_PORT:-6390}
export RAY_USAGE_STATS_ENABLED=0
# a job Ray cannot place stays PENDING (and cannot be stopped) until this timeout fails it
export RAY_JOB_START_TIMEOUT_SECONDS=${RAY_JOB_START_TIMEOUT_SECONDS:-60}
# keep every Ray address on loopback (else Ray swaps 127.0.0.1 for the eth0 address)
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
export PATH="$VENV/bin:$PATH"   # job entrypoints like "python x.py" must find the venv python
[[ -x $VENV/bin/ray ]] || { python3 -m venv "$VENV"; "$VENV/bin/pip" install -q 'ray[default]'; }
if curl -sf http://127.0.0.1:8265/api/version >/dev/null 2>&1; then echo "ray already up"; exit 0; fi
mkdir -p "$TMPD"
"$VENV/bin/ray" start --head --node-ip-address=127.0.0.1 --port=$GCS_PORT \
  --num-cpus=${RAY_NUM_CPUS:-4} --num-gpus=0 --resources="${RAY_RESOURCES:-{\"accelerator\": 8\}}" \
  --include-dashboard=true --dashboard-host=127.0.0.1 --dashboard-port=8265 \
  --object-store-memory=${RAY_OBJECT_STORE_BYTES:-300000000} \
  --temp-dir="$TMPD" --disable-usage-stats ${RAY_EXTRA_ARGS:-} >"$TMPD.start.log" 2>&1
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:8265/api/version >/dev/null && break; sleep 0.2; done
curl -sf http://127.0.0.1:8265/api/version; echo
