#!/usr/bin/env bash
# A single-node SLURM cluster on loopback for the tests (Debian slurm-wlm + munge, as root).
#   cluster.sh start DIR   configure in DIR, start munged, slurmctld and slurmd; prints SLURM_CONF=...
#   cluster.sh stop DIR    stop the daemons started by start
set -euo pipefail
cmd=$1 dir=$(realpath -m "$2")
case "$cmd" in
start)
  [ "$(id -u)" = 0 ] || { echo "cluster.sh: needs root" >&2; exit 2; }
  command -v slurmctld >/dev/null && command -v munged >/dev/null || { echo "cluster.sh: slurm-wlm and munge are not installed" >&2; exit 2; }
  mkdir -p "$dir"/{spool,state,log,run} /run/munge /etc/munge
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown munge:munge /etc/munge/munge.key /run/munge 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    su -s /bin/sh munge -c /usr/sbin/munged
    sleep 1
  fi
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(free -m | awk '/Mem:/ {print $2}') * 9 / 10 ))
  cat > "$dir/slurm.conf" <<CONF
ClusterName=atmorep-test
SlurmctldHost=${host}(127.0.0.1)
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmUser=root
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=test Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -c -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF"
  for _ in $(seq 1 60); do
    if sinfo -h -o %T 2>/dev/null | grep -q idle; then echo "SLURM_CONF=$SLURM_CONF"; exit 0; fi
    sleep 0.5
  done
  echo "cluster.sh: the node did not become idle; see $dir/log" >&2
  exit 1
  ;;
stop)
  for d in slurmd slurmctld; do
    [ -f "$dir/run/$d.pid" ] && kill "$(cat "$dir/run/$d.pid")" 2>/dev/null || true
  done
  ;;
esac
