#!/usr/bin/env bash
# Bring up the real engines the `engines` tests need: Slurm 22.05 (slurmctld, 4 x slurmd,
# slurmdbd, slurmrestd on 127.0.0.1:6820) and a single-node Ray head (Jobs API on
# 127.0.0.1:8265, GCS on 6390). Idempotent; exits 0 when both answer. Root only.
#   PNYX_ENGINES="slurm ray"   which engines to start (default both)
#   PNYX_SLURM_2411=1          also build and start Slurm 24.11 in a chroot instead of 22.05
#                              (same ports: one generation at a time; ~3 min the first time)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd /  # the daemons keep the cwd they start in: a checkout removed later (CI's) must not be it
ENGINES=${PNYX_ENGINES:-slurm ray}
T0=$SECONDS
pids=()
if [[ " $ENGINES " == *" slurm "* ]]; then
  if [[ ${PNYX_SLURM_2411:-0} == 1 ]]; then
    "$HERE/slurm2411_up.sh" >/tmp/pnyx-slurm-up.log 2>&1 &
  else
    "$HERE/slurm_up.sh" >/tmp/pnyx-slurm-up.log 2>&1 &
  fi
  pids+=("$!:slurm")
fi
if [[ " $ENGINES " == *" ray "* ]]; then
  "$HERE/ray_up.sh" >/tmp/pnyx-ray-up.log 2>&1 &
  pids+=("$!:ray")
fi
rc=0
for entry in "${pids[@]}"; do
  pid=${entry%%:*}; name=${entry#*:}
  if wait "$pid"; then
    echo "[engines] $name up ($(tail -1 "/tmp/pnyx-$name-up.log"))"
  else
    echo "[engines] $name FAILED; last lines of /tmp/pnyx-$name-up.log:" >&2
    tail -20 "/tmp/pnyx-$name-up.log" >&2
    rc=1
  fi
done
echo "[engines] done in $((SECONDS - T0)) s"
exit $rc
