#!/usr/bin/env bash
# A single-node Slurm on this machine for the cluster tests: slurmctld and slurmd on localhost, bounded to its
# CPUs (nproc) and memory, no accounting, everything under $SAM2_SLURM_DIR (default /tmp/sam2-slurm).
#   scripts/slurm-local.sh start   writes the config, starts munged, slurmctld, slurmd; waits (bounded) for the node
#   scripts/slurm-local.sh stop    stops the daemons this script started (munged only if it started it)
#   scripts/slurm-local.sh status  exit 0 when the node answers and is idle or busy
# Clients find the config through SLURM_CONF="$SAM2_SLURM_DIR/slurm.conf" (printed by start). Needs root and the
# Debian packages slurm-wlm and munge (scripts/setup.sh installs them).
set -euo pipefail
dir="${SAM2_SLURM_DIR:-/tmp/sam2-slurm}"
conf="$dir/slurm.conf"
export SLURM_CONF="$conf"

fail() { echo "slurm-local: $*" >&2; exit 1; }

node_state() { sinfo -h -N -o '%T' 2>/dev/null | head -1; }

start() {
  [ "$(id -u)" -eq 0 ] || fail "needs root (munged and slurmd run as root here)"
  for b in munged slurmctld slurmd sinfo sbatch; do
    command -v "$b" >/dev/null 2>&1 || fail "$b not found: install slurm-wlm and munge (scripts/setup.sh)"
  done
  if [ -f "$conf" ] && [[ "$(node_state)" =~ ^(idle|mixed|allocated) ]]; then
    echo "slurm-local: already running; SLURM_CONF=$conf"; return 0
  fi
  mkdir -p "$dir/state" "$dir/spool"
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  # A little below the physical memory: slurmd drains a node that has less than it is configured with.
  mem=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
  cat > "$conf" <<EOF
ClusterName=sam2ci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SlurmdTimeout=60
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  # munge: the Debian package made the key; make one if it did not.
  if [ ! -s /etc/munge/munge.key ]; then mungekey --create --force; chown munge:munge /etc/munge/munge.key; fi
  mkdir -p /run/munge && chown munge:munge /run/munge
  # (no pgrep: procps is not on every minimal Debian)
  if ! { [ -f /run/munge/munged.pid ] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null; }; then
    runuser -u munge -- /usr/sbin/munged || fail "munged did not start"
    touch "$dir/munged.ours" # stop ends it only if it was started here
  fi
  [ -f "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null || slurmctld -f "$conf" -i
  [ -f "$dir/slurmd.pid" ] && kill -0 "$(cat "$dir/slurmd.pid")" 2>/dev/null || slurmd -f "$conf"
  for _ in $(seq 60); do
    if [[ "$(node_state)" =~ ^(idle|mixed|allocated) ]]; then echo "slurm-local: node $host up ($cpus CPUs, $mem MB); SLURM_CONF=$conf"; return 0; fi
    sleep 1
  done
  echo "slurm-local: the node did not become idle in 60 s (state '$(node_state)'); last log lines:" >&2
  tail -n 5 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
  exit 1
}

stop() {
  for d in slurmd slurmctld; do
    if [ -f "$dir/$d.pid" ]; then
      pid=$(cat "$dir/$d.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      rm -f "$dir/$d.pid"
    fi
  done
  if [ -f "$dir/munged.ours" ] && [ -f /run/munge/munged.pid ]; then
    kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
    rm -f "$dir/munged.ours"
  fi
  echo "slurm-local: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) [[ "$(node_state)" =~ ^(idle|mixed|allocated) ]] ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
