#!/bin/bash
# A single-node Slurm on this machine (slurmctld, slurmd and munge, all on 127.0.0.1), to try the recipes.
#   deploy/slurm/local/cluster.sh up     install (Debian/Ubuntu, as root) and start; prints SLURM_CONF
#   deploy/slurm/local/cluster.sh down   cancel every job and stop what `up` started
# Its configuration, logs and state live in $SLURM_RUN_DIR (default /run/course-slurm); Slurm's commands find
# the cluster with `export SLURM_CONF=$SLURM_RUN_DIR/slurm.conf`. Exit status 2: this machine cannot run it.
set -euo pipefail
RUN=${SLURM_RUN_DIR:-/run/course-slurm}
HERE=$(cd "$(dirname "$0")" && pwd)
export SLURM_CONF=$RUN/slurm.conf
cannot() { echo "cannot start Slurm here: $*" >&2; exit 2; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds
    local seconds=$1 what=$2; shift 2
    for _ in $(seq $((seconds * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    echo "$what did not happen within $seconds s" >&2; return 1
}

stop_pidfile() {  # stop the daemon whose pid file is $1, waiting until it has exited
    [ -s "$1" ] || return 0
    local pid; pid=$(cat "$1")
    kill "$pid" 2>/dev/null || return 0
    wait_for 30 "exit of process $pid" bash -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
}

up() {
    [ "$(id -u)" = 0 ] || cannot "it needs root (to install packages and run slurmd)"
    if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
            || ! command -v munged >/dev/null; then
        command -v apt-get >/dev/null || cannot "Slurm is not installed and there is no apt-get to install it"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            slurmctld slurmd slurm-client munge; } >/dev/null || cannot "apt-get could not install slurm and munge"
    fi
    mkdir -p "$RUN/state" "$RUN/spool"
    if ! munge -n >/dev/null 2>&1; then  # no munge daemon answering yet: start ours
        [ -s /etc/munge/munge.key ] || { mungekey --create >/dev/null && chown munge:munge /etc/munge/munge.key; }
        install -d -o munge -g munge -m 0755 /run/munge
        runuser -u munge -- munged --pid-file=/run/munge/course-munged.pid || cannot "munged did not start"
        wait_for 30 "munge answering" munge -n || cannot "munged does not answer"
        cp /run/munge/course-munged.pid "$RUN/munged.pid"  # ours to stop; munged (user munge) cannot write here
    fi
    local memory; memory=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    # nproc counts the CPUs this process may use but also obeys OMP_NUM_THREADS, which Dask and joblib set to 1.
    local cpus; cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
    sed -e "s|@HOST@|$(hostname -s)|g" -e "s|@RUN@|$RUN|g" -e "s|@CPUS@|$cpus|" -e "s|@MEMORY@|$memory|" \
        "$HERE/slurm.conf.in" > "$SLURM_CONF"
    [ -s "$RUN/slurmctld.pid" ] && kill -0 "$(cat "$RUN/slurmctld.pid")" 2>/dev/null \
        || slurmctld -f "$SLURM_CONF" -i || cannot "slurmctld did not start (see $RUN/slurmctld.log)"
    [ -s "$RUN/slurmd.pid" ] && kill -0 "$(cat "$RUN/slurmd.pid")" 2>/dev/null \
        || slurmd -f "$SLURM_CONF" || cannot "slurmd did not start (see $RUN/slurmd.log)"
    wait_for 60 "the node taking jobs" bash -c '[[ "$(sinfo -h -N -o %t)" =~ ^(idle|mix|alloc)$ ]]' \
        || cannot "the node does not take jobs (see $RUN/slurmctld.log, $RUN/slurmd.log)"
    echo "export SLURM_CONF=$SLURM_CONF"
}

down() {
    [ -s "$SLURM_CONF" ] || return 0
    if [ -s "$RUN/slurmctld.pid" ] && kill -0 "$(cat "$RUN/slurmctld.pid")" 2>/dev/null; then
        scancel --full --user="$(id -un)" 2>/dev/null || true
        wait_for 60 "every job ending" bash -c '[ -z "$(squeue -h -t running,completing,pending)" ]' || true
    fi
    stop_pidfile "$RUN/slurmd.pid"
    stop_pidfile "$RUN/slurmctld.pid"
    stop_pidfile "$RUN/munged.pid"
    rm -f "$RUN/slurmd.pid" "$RUN/slurmctld.pid" "$RUN/munged.pid"
}

case ${1:-} in
    up) up ;;
    down) down ;;
    *) echo "usage: $0 up|down" >&2; exit 64 ;;
esac
