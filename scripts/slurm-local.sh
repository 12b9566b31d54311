#!/usr/bin/env bash
# A single-node SLURM cluster on localhost with one fake GPU, for tests and CI of the SLURM path
# (`snakemake --profile slurm`, `bcvlr run --slurm`). Not for real work: no accounting, no
# cgroups, no device isolation (the "GPU" is gres File=/dev/null, so --gpus=1 jobs schedule).
#
#   scripts/slurm-local.sh start     install slurm + munge if missing, start, wait for `srun true`
#   scripts/slurm-local.sh stop      stop the daemons this script started
#   scripts/slurm-local.sh status    sinfo / squeue
#   eval "$(scripts/slurm-local.sh env)"   point sbatch/srun/squeue at this cluster (SLURM_CONF)
#
# State, spool, pid and log files live under $SLURM_LOCAL_DIR (default: $TMPDIR/bcvlr-slurm);
# ports are $SLURM_LOCAL_PORT and +1 (default 6817/6818). Needs root (apt-get, munged as munge).
set -euo pipefail

DIR="${SLURM_LOCAL_DIR:-${TMPDIR:-/tmp}/bcvlr-slurm}"
PORT="${SLURM_LOCAL_PORT:-6817}"
CONF="$DIR/slurm.conf"
MUNGE_SOCKET=/run/munge/munge.socket.2

log() { echo "slurm-local: $*" >&2; }
die() { log "error: $*"; exit 1; }

install_packages() {
    local missing=()
    for cmd in slurmctld slurmd sbatch munged; do
        command -v "$cmd" >/dev/null || missing+=("$cmd")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}: run as root so that apt-get can install them"
    log "installing slurmctld slurmd slurm-client munge (missing: ${missing[*]})"
    # Without this the packages' postinst would start system-wide daemons with the stock
    # config; we run our own with a config under $DIR instead.
    local policy=/usr/sbin/policy-rc.d created=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        created=1
    fi
    local status=0
    { [ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ] \
        || apt-get update -qq; } &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            slurmctld slurmd slurm-client munge >"${TMPDIR:-/tmp}/slurm-local-apt.log" 2>&1 ||
        status=$?
    [ "$created" -eq 1 ] && rm -f "$policy"
    [ "$status" -eq 0 ] || die "apt-get install failed (see ${TMPDIR:-/tmp}/slurm-local-apt.log)"
}

start_munge() {
    # One munged serves every local cluster (it only signs credentials): reuse a live one.
    if [ -S "$MUNGE_SOCKET" ] && munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        return 0
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
    if [ ! -s /etc/munge/munge.key ]; then
        if command -v mungekey >/dev/null; then mungekey --create --force >/dev/null 2>&1
        else dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; fi
    fi
    chown -R munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
    chmod 0700 /etc/munge /var/log/munge /var/lib/munge
    chmod 0755 /run/munge
    chmod 0400 /etc/munge/munge.key
    runuser -u munge -- munged --force
    touch "$DIR/munged.started-here"
    for _ in $(seq 50); do
        munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "munged did not come up"
}

# nproc obeys OMP_NUM_THREADS, which users export per process: count the CPUs without it
node_cpus() { env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc; }

write_config() {
    mkdir -p "$DIR"/{state,spool,log}
    local mem
    # 95% of what slurmd measures, so that the node is never drained for "low RealMemory"
    mem=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    mem=$(( ${mem:-4000} * 95 / 100 ))
    local cpus
    cpus=$(node_cpus)
    cat >"$CONF" <<EOF
ClusterName=bcvlr-local
SlurmctldHost=localhost
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
# Snakemake's plugin polls squeue (no sacct without slurmdbd): finished jobs must stay
# visible for several of its status intervals.
MinJobAge=600
SchedulerType=sched/backfill
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
    echo "NodeName=localhost Name=gpu File=/dev/null" >"$DIR/gres.conf"
}

# Snakemake's SLURM jobstep plugin drops SLURM_CONF (every SLURM_* variable) before its srun
# inside a job, so srun there only finds the system path: point it at our config, unless the
# machine has a SLURM config of its own.
SYSTEM_CONF=/etc/slurm/slurm.conf
link_system_config() {
    if [ -L "$SYSTEM_CONF" ] || [ ! -e "$SYSTEM_CONF" ]; then
        mkdir -p "$(dirname "$SYSTEM_CONF")"
        ln -sfn "$CONF" "$SYSTEM_CONF"
    elif [ "$(readlink -f "$SYSTEM_CONF")" != "$CONF" ]; then
        log "warning: $SYSTEM_CONF is another cluster's; srun inside Snakemake jobs will use it"
    fi
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

cmd_start() {
    install_packages
    mkdir -p "$DIR"
    if alive "$DIR/slurmctld.pid" && alive "$DIR/slurmd.pid"; then
        log "already running (SLURM_CONF=$CONF)"
        return 0
    fi
    start_munge
    write_config
    export SLURM_CONF="$CONF"
    link_system_config
    # -i: ignore state left by an earlier cluster in $DIR (jobs of a dead run are not ours)
    alive "$DIR/slurmctld.pid" || slurmctld -f "$CONF" -i
    alive "$DIR/slurmd.pid" || slurmd -f "$CONF" -N localhost
    local deadline=$((SECONDS + ${SLURM_LOCAL_TIMEOUT:-90}))
    until timeout 20 srun -N1 -n1 -t 1 true >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
            tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
            cmd_stop  # leave no half-started daemons behind
            die "cluster did not accept \`srun true\` within ${SLURM_LOCAL_TIMEOUT:-90} s"
        fi
        # a node first seen as down/unknown must be resumed before it takes jobs
        scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true
        sleep 1
    done
    log "up: 1 node, $(node_cpus) CPUs, 1 fake GPU. export SLURM_CONF=$CONF"
}

stop_pid() {
    local file=$1
    alive "$file" || return 0
    local pid
    pid=$(cat "$file")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

cmd_stop() {
    [ -f "$CONF" ] && SLURM_CONF="$CONF" scancel --user="$(id -un)" >/dev/null 2>&1 || true
    stop_pid "$DIR/slurmd.pid"
    stop_pid "$DIR/slurmctld.pid"
    if [ -L "$SYSTEM_CONF" ] && [ "$(readlink "$SYSTEM_CONF")" = "$CONF" ]; then
        rm -f "$SYSTEM_CONF"
    fi
    if [ -f "$DIR/munged.started-here" ]; then
        stop_pid /run/munge/munged.pid
        rm -f "$DIR/munged.started-here"
    fi
    log "stopped"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) export SLURM_CONF="$CONF"; sinfo; squeue ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
