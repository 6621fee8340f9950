#!/usr/bin/env bash
# Stop what up.sh started, by PID (never by process name). MariaDB/PostgreSQL/Redis that the
# machine runs are left alone. Pass --purge to also wipe Slurm state and its accounting database.
HERE=$(cd "$(dirname "$0")" && pwd)
"$HERE/ray_down.sh"
if [[ -d ${SLURM_CHROOT:-/var/tmp/slurm-trixie}/opt/infra ]]; then "$HERE/slurm2411_down.sh" "$@"; fi
"$HERE/slurm_down.sh" "$@"
exit 0
