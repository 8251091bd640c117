#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for the tests of the SLURM profile (profiles/slurm).
#
#   scripts/slurm-cluster.sh install   Debian's slurm-wlm, slurmdbd and munge (apt; needs root)
#   scripts/slurm-cluster.sh start     munge, slurmdbd (accounting on the local MariaDB), slurmctld, slurmd;
#                                      waits until a job runs and `sacct` sees it
#   scripts/slurm-cluster.sh stop      stops the daemons (the accounting database stays)
#   scripts/slurm-cluster.sh status    sinfo and the daemons running
#
# Settings (environment): LFL_SLURM_DIR (state, logs, configuration; default /var/tmp/lfl-slurm),
# LFL_SLURM_MARIADB_HOST / _PORT / _USER (default 127.0.0.1, 3306, root: the MariaDB of this machine,
# no password). The cluster is named lfl, its one partition `standard` (the profile's default), its one
# node this machine with all its CPUs. Daemons run as root: this is a test cluster, not a template for
# a real one (README, "Running on a SLURM cluster").
set -euo pipefail

DIR=${LFL_SLURM_DIR:-/var/tmp/lfl-slurm}
DB_HOST=${LFL_SLURM_MARIADB_HOST:-127.0.0.1}
DB_PORT=${LFL_SLURM_MARIADB_PORT:-3306}
DB_USER=${LFL_SLURM_MARIADB_USER:-root}
CONF=/etc/slurm
PACKAGES=(slurm-wlm slurmdbd munge)

log() { echo "slurm-cluster: $*" >&2; }
die() { log "FATAL: $*"; exit 1; }

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "packages present: ${PACKAGES[*]}"
        return
    fi
    [ "$(id -u)" = 0 ] || die "installing ${missing[*]} needs root (apt-get)"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >"${TMPDIR:-/tmp}/lfl-slurm-apt.log" 2>&1 || {
        apt-get update >/dev/null 2>&1 || true
        apt-get install -y --no-install-recommends "${missing[@]}" >"${TMPDIR:-/tmp}/lfl-slurm-apt.log" 2>&1 \
            || die "apt-get install ${missing[*]} failed (log: ${TMPDIR:-/tmp}/lfl-slurm-apt.log)"
    }
}

write_config() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    mkdir -p "$DIR"/{state,spool,log} "$CONF"
    cat >"$CONF/slurm.conf" <<EOF
# written by lfl's scripts/slurm-cluster.sh: a single-node test cluster
ClusterName=lfl
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
# no cgroups in a container: processes tracked by their parents, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# finished jobs stay visible to squeue for a while, and sacct always sees them
MinJobAge=300
KillWait=5
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=standard Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    cat >"$CONF/slurmdbd.conf" <<EOF
# written by lfl's scripts/slurm-cluster.sh
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=$DB_HOST
StoragePort=$DB_PORT
StorageUser=$DB_USER
StorageLoc=lfl_slurm_acct
EOF
    chmod 600 "$CONF/slurmdbd.conf"
    echo "$DIR" >"$CONF/.lfl-slurm-dir"
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq 1 "$seconds"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 1
    done
    die "$what did not come up in ${seconds} s"
}

start_daemons() {
    [ "$(id -u)" = 0 ] || die "starting the daemons needs root"
    command -v slurmctld >/dev/null || die "slurmctld not found: run '$0 install' first"
    mysqladmin --host="$DB_HOST" --port="$DB_PORT" --user="$DB_USER" ping >/dev/null 2>&1 \
        || die "MariaDB not reachable at $DB_HOST:$DB_PORT as $DB_USER (slurmdbd keeps the accounting there)"
    write_config
    stop_daemons quiet
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    runuser -u munge -- /usr/sbin/munged
    wait_for 20 munged bash -c 'munge -n | unmunge'
    slurmdbd
    wait_for 60 slurmdbd sacctmgr -n list cluster
    sacctmgr -i add cluster lfl >/dev/null 2>&1 || true
    sacctmgr -i add account lfl Description=lfl-tests Organization=lfl >/dev/null 2>&1 || true
    sacctmgr -i add user "$(id -un)" Account=lfl DefaultAccount=lfl >/dev/null 2>&1 || true
    slurmctld
    wait_for 60 slurmctld scontrol ping
    slurmd
    wait_for 60 "the node" bash -c "sinfo -h -N -o '%t' | grep -qE '^(idle|mix|alloc)'"
    # the whole chain: a job runs, and accounting knows it finished
    local job
    job=$(sbatch --parsable --partition=standard --time=1 --output=/dev/null --wrap=true) || die "sbatch failed"
    wait_for 60 "accounting of job $job" bash -c "sacct -n -X -P -j $job -o State | grep -q COMPLETED"
    log "up: $(sinfo -h -o '%P %D %c %m %t') (state, logs: $DIR)"
}

stop_daemons() {
    local quiet=${1:-} running
    for daemon in slurmd slurmctld slurmdbd; do
        pkill -x "$daemon" 2>/dev/null || true
    done
    for _ in $(seq 1 20); do
        running=0
        for daemon in slurmd slurmctld slurmdbd slurmstepd; do
            pgrep -x "$daemon" >/dev/null && running=1
        done
        [ "$running" = 1 ] || break
        sleep 0.5
    done
    for daemon in slurmd slurmctld slurmdbd slurmstepd; do
        pkill -9 -x "$daemon" 2>/dev/null || true
    done
    pkill -x munged 2>/dev/null || true
    [ -n "$quiet" ] || log "stopped"
}

case "${1:-}" in
    install) install_packages ;;
    start) start_daemons ;;
    stop) stop_daemons ;;
    status) sinfo; pgrep -a slurm; pgrep -a munged || true ;;
    *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
