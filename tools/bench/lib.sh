# Copied unchanged (below this header) from the team's loopback harness, shared/tools/peers/lib.sh
# (2026-11-25, written for this project; see its HARNESS.md). Kept here so the benchmark runs
# from a clone without ../shared. Only e2e.sh beside it uses it.
# shellcheck shell=bash
# lib.sh - shared helpers for the loopback BGP peer harness.
#
# Source it; it never starts anything by itself.
#
# Addressing plan (everything lives on lo, 127.0.0.0/8 only):
#   one "slot" S per scenario, addresses 127.S.0.X
#     127.S.0.1  route server (RS)             AS 65515, listens on :RS_PORT (1790)
#     127.S.0.2  announcer ("NVA")             AS 65001
#     127.S.0.3  receiver                      AS 65002
#     127.S.0.4  extra client                  AS 65003
#   default slots: bird=1 gobgp=2 frr=3 openbgpd=4 none(baseline)=5 captures=7/8 external=9
#   every speaker listens (if at all) on its own address, port RS_PORT.
#
# Process hygiene: every daemon is started in the foreground (no self-daemonising)
# with start_bg, which records "PID STARTTIME NAME" in $WORK/pids.list.
# kill_recorded kills exactly those PIDs (and, for multi-process daemons such as
# OpenBGPD, the descendants of those PIDs), after checking the start time so a
# recycled PID is never hit.  All waits are bounded by a deadline.

RS_PORT=${RS_PORT:-1790}
RS_ASN=${RS_ASN:-65515}
ANN_ASN=${ANN_ASN:-65001}
RCV_ASN=${RCV_ASN:-65002}
EXTRA_ASN=${EXTRA_ASN:-65003}

PEERS_DIR=${PEERS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}

# binaries
BIRD_BIN=${BIRD_BIN:-/usr/sbin/bird}
BIRDC_BIN=${BIRDC_BIN:-/usr/sbin/birdc}
GOBGPD_BIN=${GOBGPD_BIN:-/usr/bin/gobgpd}
GOBGP_BIN=${GOBGP_BIN:-/usr/bin/gobgp}
FRR_BGPD_BIN=${FRR_BGPD_BIN:-/usr/lib/frr/bgpd}
VTYSH_BIN=${VTYSH_BIN:-/usr/bin/vtysh}
OBGPD_BIN=${OBGPD_BIN:-/usr/sbin/bgpd}       # OpenBGPD (NOT FRR's bgpd)
BGPCTL_BIN=${BGPCTL_BIN:-/usr/sbin/bgpctl}
if [ -z "${EXABGP_BIN:-}" ]; then
  EXABGP_BIN=$(command -v pyenv >/dev/null 2>&1 && pyenv which exabgp 2>/dev/null || command -v exabgp)
fi

die() { echo "ERROR: $*" >&2; exit 1; }
log() { echo "[$(date +%T)] $*" >&2; }
now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }          # bash >= 5, no fork
us2s() { local v=$1; printf '%d.%03d' $((v / 1000000)) $(((v % 1000000) / 1000)); }

addr() { echo "127.$1.0.$2"; }

check_loopback() {
  local a
  for a in "$@"; do
    case "$a" in
      127.*|::1) ;;
      *) die "refusing non-loopback address '$a'";;
    esac
  done
}

# mk_work [DIR] -> sets WORK (creates it), pid list lives in there
mk_work() {
  if [ -n "${1:-}" ]; then WORK=$1; mkdir -p "$WORK"; else WORK=$(mktemp -d /tmp/peers.XXXXXX); fi
  mkdir -p "$WORK/pids"
  : >>"$WORK/pids.list"
  export WORK
}

proc_starttime() { awk '{ s=$0; sub(/.*\) /, "", s); split(s, f, " "); print f[20] }' "/proc/$1/stat" 2>/dev/null; }

# start_bg NAME LOGFILE CMD...   -> sets LAST_PID
start_bg() {
  local name=$1 logf=$2; shift 2
  "$@" </dev/null >"$logf" 2>&1 &
  LAST_PID=$!
  local st
  st=$(proc_starttime "$LAST_PID")
  echo "$LAST_PID" >"$WORK/pids/$name.pid"
  echo "$LAST_PID ${st:-0} $name" >>"$WORK/pids.list"
}

pid_of() { cat "$WORK/pids/$1.pid" 2>/dev/null; }

pid_alive() { [ -n "${1:-}" ] && [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# descendants PID -> PID and all descendants (one per line)
descendants() {
  local root=$1
  python3 - "$root" <<'EOF'
import os, sys
root = int(sys.argv[1])
kids = {}
for d in os.listdir('/proc'):
    if not d.isdigit():
        continue
    try:
        with open(f'/proc/{d}/stat') as f:
            s = f.read()
        ppid = int(s[s.rindex(')') + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    except Exception:
        pass
out, todo = [], [root]
while todo:
    p = todo.pop()
    if not os.path.isdir(f'/proc/{p}'):
        continue
    out.append(p)
    todo.extend(kids.get(p, []))
print('\n'.join(map(str, out)))
EOF
}

# tree_status_kb FIELD PID -> sum of /proc/P/status's FIELD (kB) over PID and its
# descendants: VmHWM (peak RSS), RssFile (pages mapped from files: code, libraries), VmRSS
tree_status_kb() {
  local field=$1 p s=0 v
  for p in $(descendants "$2"); do
    v=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null)
    s=$((s + ${v:-0}))
  done
  echo $s
}
# tree_cpu_s PID -> CPU seconds (3 decimals) over PID and its live descendants.
# Each live thread's time on CPU comes from /proc/P/task/T/schedstat (nanoseconds): the
# clock ticks of /proc/P/stat (10 ms) are too coarse at 100k routes, where a route server
# spends 3 to 5 ticks. Threads that have exited are only in the ticks (utime+stime of the
# whole process), so a process whose ticks exceed its live threads' time by more than
# two ticks is counted by its ticks.
tree_cpu_s() {
  local p
  for p in $(descendants "$1"); do
    echo "$p"
  done | python3 -c '
import glob, os, sys
tck = os.sysconf("SC_CLK_TCK")
total = 0.0
for p in sys.stdin.read().split():
    try:
        with open(f"/proc/{p}/stat") as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        ticks = (int(fields[11]) + int(fields[12])) / tck
        ns = 0
        for t in glob.glob(f"/proc/{p}/task/*/schedstat"):
            with open(t) as f:
                ns += int(f.read().split()[0])
        live = ns / 1e9
        total += ticks if ticks > live + 2 / tck else live
    except (OSError, ValueError, IndexError):
        pass
print("%.3f" % total)
'
}

# wait_until TIMEOUT_S INTERVAL_S CMD...  (bounded poll; returns 1 on timeout)
wait_until() {
  local timeout=$1 interval=$2; shift 2
  local deadline=$(( $(now_us) + timeout * 1000000 ))
  while :; do
    if "$@"; then return 0; fi
    [ "$(now_us)" -gt "$deadline" ] && return 1
    sleep "$interval"
  done
}

# kill_recorded [WORKDIR]: TERM then KILL exactly the recorded PIDs (+ their descendants)
kill_recorded() {
  local w=${1:-$WORK} line pid st name cur all=() p i alive
  [ -f "$w/pids.list" ] || return 0
  # newest first
  while read -r pid st name; do
    [ -n "$pid" ] || continue
    cur=$(proc_starttime "$pid")
    if [ -n "$cur" ] && [ "$cur" = "$st" ]; then
      for p in $(descendants "$pid"); do all+=("$p:$(proc_starttime "$p"):$name"); done
    fi
  done < <(tac "$w/pids.list")
  for line in "${all[@]}"; do
    pid=${line%%:*}; st=${line#*:}; st=${st%%:*}
    [ "$(proc_starttime "$pid")" = "$st" ] && kill -TERM "$pid" 2>/dev/null
  done
  for i in $(seq 1 50); do   # at most ~10 s
    alive=0
    for line in "${all[@]}"; do
      pid=${line%%:*}; st=${line#*:}; st=${st%%:*}
      if [ "$(proc_starttime "$pid")" = "$st" ] && pid_alive "$pid"; then alive=1; fi
    done
    [ $alive = 0 ] && break
    sleep 0.2
  done
  for line in "${all[@]}"; do
    pid=${line%%:*}; st=${line#*:}; st=${st%%:*}
    if [ "$(proc_starttime "$pid")" = "$st" ] && pid_alive "$pid"; then
      log "SIGKILL $line"; kill -KILL "$pid" 2>/dev/null
    fi
  done
  wait 2>/dev/null   # reap our own children
  : >"$w/pids.list"
}

# ---------------------------------------------------------------------------
# Prefix plan: N prefixes of length PLEN starting at PFX_BASE, expressed as a
# minimal list of aligned covering blocks "block/len" to be split into /PLEN.
# Default base 16.0.0.0 /24: up to 2^20 = 1048576 prefixes inside 16.0.0.0/4.
# These are only NLRI inside BGP sessions on loopback; nothing is installed in
# a kernel FIB and no traffic is sent to them.
PFX_BASE=${PFX_BASE:-16.0.0.0}
PLEN=${PLEN:-24}
prefix_blocks() {   # prefix_blocks N -> lines "a.b.c.d/len"
  python3 - "$1" "$PFX_BASE" "$PLEN" <<'EOF'
import ipaddress, sys
n, base, plen = int(sys.argv[1]), ipaddress.IPv4Address(sys.argv[2]), int(sys.argv[3])
cur = int(base)
step = 1 << (32 - plen)
assert cur % step == 0
# greedy largest aligned blocks
while n > 0:
    k = 0
    while (1 << (k + 1)) <= n and cur % (step << (k + 1)) == 0 and plen - k - 1 >= 0:
        k += 1
    print(f"{ipaddress.IPv4Address(cur)}/{plen - k}")
    cur += step << k
    n -= 1 << k
EOF
}
prefix_list() {   # prefix_list N -> every prefix, one per line
  python3 - "$1" "$PFX_BASE" "$PLEN" <<'EOF'
import ipaddress, sys
n, base, plen = int(sys.argv[1]), int(ipaddress.IPv4Address(sys.argv[2])), int(sys.argv[3])
step = 1 << (32 - plen)
w = sys.stdout.write
for i in range(n):
    w(f"{ipaddress.IPv4Address(base + i * step)}/{plen}\n")
EOF
}

# ---------------------------------------------------------------------------
# Clients description: lines "NAME ADDR ASN" in a clients file
default_clients() {  # default_clients SLOT
  local s=$1
  printf 'ann %s %s\nrcv %s %s\nextra %s %s\n' \
    "$(addr "$s" 2)" "$ANN_ASN" "$(addr "$s" 3)" "$RCV_ASN" "$(addr "$s" 4)" "$EXTRA_ASN"
}

# ===========================================================================
# Route servers
# ===========================================================================

# --- BIRD 2 --------------------------------------------------------------
# bird_rs_conf RS_ADDR CLIENTS_FILE > bird.conf
bird_rs_conf() {
  local rs=$1 clients=$2 name a asn
  cat <<EOF
# BIRD 2 route server (RFC 7947 style), generated by tools/peers/lib.sh
router id $rs;
log "$WORK/bird-rs.log" { info, remote, warning, error, auth, fatal, bug };
protocol device { scan time 600; }

# Next-hop resolution tables: any next hop resolves "via lo", so
# 'gateway recursive' never marks a route unreachable.  Nothing is exported
# to the kernel (there is no 'protocol kernel').
ipv4 table igp4;
ipv6 table igp6;
protocol static igp_v4 { ipv4 { table igp4; }; route 0.0.0.0/0 via "lo"; }
protocol static igp_v6 { ipv6 { table igp6; }; route ::/0 via "lo"; }

template bgp rsclient {
  local $rs port $RS_PORT as $RS_ASN;
  strict bind on;            # listen on $rs only (default would be 0.0.0.0:$RS_PORT)
  rs client;                 # RFC 7947: no own-AS prepend, next hop kept
  passive on;                # clients connect to us
  multihop 2;                # loopback peers are not on a "connected" subnet for BIRD
  hold time 180;
  enforce first as off;
  ipv4 { import all; export all; igp table igp4; gateway recursive; };
  ipv6 { import all; export all; igp table igp6; gateway recursive; };
}
EOF
  while read -r name a asn; do
    [ -n "$name" ] || continue
    check_loopback "$a"
    echo "protocol bgp $name from rsclient { neighbor $a port $RS_PORT as $asn; }"
  done <"$clients"
}

start_bird() {  # start_bird NAME CONF  -> sets LAST_PID; socket $WORK/NAME.ctl
  local name=$1 conf=$2
  "$BIRD_BIN" -p -c "$conf" || die "bird config check failed: $conf"
  start_bg "$name" "$WORK/$name.out" "$BIRD_BIN" -f -c "$conf" -s "$WORK/$name.ctl" -P "$WORK/$name.pidfile"
  wait_until 60 0.2 test -S "$WORK/$name.ctl" || die "bird $name did not create its socket"
}
birdc_() { "$BIRDC_BIN" -s "$WORK/$1.ctl" "${@:2}"; }
# bird_proto_routes SOCKNAME PROTO -> "imported exported" (summed over channels)
bird_proto_routes() {
  "$BIRDC_BIN" -s "$WORK/$1.ctl" show protocols all "$2" 2>/dev/null |
    awk '/Routes:/{ri+=$2; for(i=1;i<=NF;i++) if($i ~ /^exported/) re+=$(i-1)} END{print ri+0, re+0}'
}
bird_proto_state() {
  "$BIRDC_BIN" -s "$WORK/$1.ctl" show protocols "$2" 2>/dev/null | awk -v p="$2" '$1==p{print $6}'
}

# --- GoBGP ---------------------------------------------------------------
# gobgp_rs_conf RS_ADDR CLIENTS_FILE > gobgpd.toml
gobgp_rs_conf() {
  local rs=$1 clients=$2 name a asn
  cat <<EOF
# GoBGP route server, generated by tools/peers/lib.sh
[global.config]
  as = $RS_ASN
  router-id = "$rs"
  port = $RS_PORT
  local-address-list = ["$rs"]
EOF
  while read -r name a asn; do
    [ -n "$name" ] || continue
    check_loopback "$a"
    cat <<EOF

[[neighbors]]
  [neighbors.config]
    neighbor-address = "$a"
    peer-as = $asn
    description = "$name"
  [neighbors.timers.config]
    hold-time = 180
  [neighbors.transport.config]
    local-address = "$rs"
    remote-port = $RS_PORT
    passive-mode = true
  [neighbors.route-server.config]
    route-server-client = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
EOF
  done <"$clients"
}
# start_gobgpd NAME CONF API_ADDR   (gRPC API on API_ADDR:50051)
start_gobgpd() {
  local name=$1 conf=$2 api=$3
  check_loopback "$api"
  "$GOBGPD_BIN" -d -f "$conf" -t toml >/dev/null 2>&1 || { "$GOBGPD_BIN" -d -f "$conf" -t toml; die "gobgpd config check failed"; }
  start_bg "$name" "$WORK/$name.out" "$GOBGPD_BIN" -f "$conf" -t toml -l "${GOBGP_LOGLEVEL:-info}" -p \
    --api-hosts "$api:50051" --pprof-disable
  echo "$api" >"$WORK/$name.api"
  wait_until 30 0.2 gobgp_quiet "$name" global || die "gobgpd $name API not up"
}
gobgp_() { local api; api=$(cat "$WORK/$1.api"); "$GOBGP_BIN" -u "$api" -p 50051 "${@:2}"; }
gobgp_quiet() { gobgp_ "$@" >/dev/null 2>&1; }
# gobgp_nb_routes NAME NEIGH -> "received accepted advertised"
gobgp_nb_routes() {
  gobgp_ "$1" neighbor "$2" -j 2>/dev/null | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except Exception:
    print(0, 0, 0); sys.exit()
rcv = acc = adv = 0
for af in d.get("afi_safis", []) or []:
    st = (af.get("state") or {})
    rcv += int(st.get("received", 0) or 0)
    acc += int(st.get("accepted", 0) or 0)
    adv += int(st.get("advertised", 0) or 0)
print(rcv, acc, adv)'
}
gobgp_nb_state() {
  gobgp_ "$1" neighbor "$2" -j 2>/dev/null | python3 -c '
import json, sys
try:
    v = json.load(sys.stdin)["state"].get("session_state", 0)
    print("established" if str(v).lower() in ("6", "established", "bgp_fsm_established") else v)
except Exception: print("none")'
}

# --- FRR bgpd (no zebra, no kernel, custom port/socket dir) ----------------
frr_rs_conf() {
  local rs=$1 clients=$2 name a asn af
  cat <<EOF
! FRR bgpd route server, generated by tools/peers/lib.sh
frr defaults traditional
hostname rs-frr
router bgp $RS_ASN
 bgp router-id $rs
 no bgp default ipv4-unicast
 no bgp ebgp-requires-policy
 no bgp network import-check
 no bgp enforce-first-as
EOF
  while read -r name a asn; do
    [ -n "$name" ] || continue
    check_loopback "$a"
    cat <<EOF
 neighbor $a remote-as $asn
 neighbor $a description $name
 neighbor $a passive
 neighbor $a port $RS_PORT
 neighbor $a update-source $rs
 neighbor $a disable-connected-check
 neighbor $a timers 60 180
EOF
  done <"$clients"
  for af in ipv4 ipv6; do
    echo " address-family $af unicast"
    while read -r name a asn; do
      [ -n "$name" ] || continue
      echo "  neighbor $a activate"
      echo "  neighbor $a route-server-client"
    done <"$clients"
    echo " exit-address-family"
  done
  echo "!"
}
# start_frr NAME CONF LISTEN_ADDR  (vty socket dir $WORK/NAME.vty)
start_frr() {
  local name=$1 conf=$2 la=$3
  check_loopback "$la"
  mkdir -p "$WORK/$name.vty"
  chmod 777 "$WORK/$name.vty"
  start_bg "$name" "$WORK/$name.out" "$FRR_BGPD_BIN" -f "$conf" -i "$WORK/$name.pidfile" \
    -p "$RS_PORT" -l "$la" -n -Z -S -P 0 --vty_socket "$WORK/$name.vty" \
    --log stdout --log-level "${FRR_LOGLEVEL:-informational}"
  wait_until 30 0.2 test -S "$WORK/$name.vty/bgpd.vty" || die "frr bgpd $name vty socket missing"
  # Without this FRR rejects every UPDATE whose NEXT_HOP is in 127/8 ("Martian
  # nexthop", session reset).  It is only accepted as an exec command, not in
  # the config file.
  vtysh_ "$name" -c "debug bgp allow-martians" >/dev/null
}
vtysh_() { "$VTYSH_BIN" --vty_socket "$WORK/$1.vty" -d bgpd "${@:2}"; }
# frr_nb_routes NAME NEIGH -> "pfxRcd pfxSnt"
frr_nb_routes() {
  vtysh_ "$1" -c "show bgp ipv4 unicast summary json" 2>/dev/null | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin); p = d["peers"][sys.argv[1]]
    print(p.get("pfxRcd", 0), p.get("pfxSnt", 0))
except Exception:
    print(0, 0)' "$2"
}
frr_nb_state() {
  vtysh_ "$1" -c "show bgp ipv4 unicast summary json" 2>/dev/null | python3 -c '
import json, sys
try: print(json.load(sys.stdin)["peers"][sys.argv[1]]["state"])
except Exception: print("none")' "$2"
}

# --- OpenBGPD (needs root: privsep + chroot into /run/openbgpd) -------------
obgpd_rs_conf() {
  local rs=$1 clients=$2 name a asn
  cat <<EOF
# OpenBGPD route server, generated by tools/peers/lib.sh
AS $RS_ASN
router-id $rs
listen on $rs port $RS_PORT
socket "$WORK/obgpd.sock"
fib-update no
transparent-as yes
EOF
  while read -r name a asn; do
    [ -n "$name" ] || continue
    check_loopback "$a"
    cat <<EOF
neighbor $a {
  remote-as $asn
  descr "$name"
  local-address $rs
  passive
  holdtime 180
  announce IPv4 unicast
  announce IPv6 unicast
  enforce neighbor-as no
}
EOF
  done <"$clients"
  cat <<EOF
allow from any
allow to any
match to any set nexthop no-modify
EOF
}
start_openbgpd() {
  local name=$1 conf=$2
  mkdir -p /run/openbgpd   # chroot dir of the _openbgpd user (systemd would create it)
  "$OBGPD_BIN" -n -f "$conf" || die "openbgpd config check failed"
  start_bg "$name" "$WORK/$name.out" "$OBGPD_BIN" -d -f "$conf"
  wait_until 30 0.2 test -S "$WORK/obgpd.sock" || die "openbgpd socket missing"
}
bgpctl_() { "$BGPCTL_BIN" -s "$WORK/obgpd.sock" "$@"; }
# obgpd_nb_routes NEIGH -> "received sent"
obgpd_nb_routes() {
  bgpctl_ -j show neighbor "$1" 2>/dev/null | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)["neighbors"][0]
    s = d.get("stats", {}).get("prefixes", {})
    print(s.get("received", 0), s.get("sent", 0))
except Exception:
    print(0, 0)'
}
obgpd_nb_state() {
  bgpctl_ -j show neighbor "$1" 2>/dev/null | python3 -c '
import json, sys
try: print(json.load(sys.stdin)["neighbors"][0]["state"])
except Exception: print("none")'
}

# ===========================================================================
# Clients
# ===========================================================================

# NEXT_HOP attribute value announced by the NVA.  NOT an address anything is
# sent to: GoBGP ("invalid nexthop address" -> treat-as-withdraw) and FRR 8.4
# ("Martian nexthop" -> session reset) reject any NEXT_HOP in 127/8, so the
# default is TEST-NET-1 (RFC 5737 documentation range, never routed).  No
# daemon here installs routes into the kernel.  BIRD/OpenBGPD accept 127.x too.
ANN_NH=${ANN_NH:-192.0.2.2}

# exabgp_ann_conf MY_ADDR MY_ASN PEER_ADDR PEER_ASN N [ASPATH] [NEXTHOP] > exabgp.conf
# The AS path is what the NVA itself sends (must start with MY_ASN for eBGP).
exabgp_ann_conf() {
  local me=$1 myas=$2 peer=$3 peeras=$4 n=$5 aspath=${6:-"$2 64512"} nh=${7:-$ANN_NH} b
  cat <<EOF
neighbor $peer {
  description "announcer $me -> $peer";
  router-id $me;
  local-address $me;
  local-as $myas;
  peer-as $peeras;
  connect $RS_PORT;
  passive false;
  hold-time 180;
  group-updates true;
  family { ipv4 unicast; }
  static {
EOF
  while read -r b; do
    [ -n "$b" ] || continue
    echo "    route $b next-hop $nh origin igp as-path [ $aspath ] community [ $myas:100 ] large-community [ $myas:1:1 ] split /$PLEN;"
  done < <(prefix_blocks "$n")
  echo "  }"
  echo "}"
}
start_exabgp() {  # start_exabgp NAME CONF
  local name=$1 conf=$2
  # env: no privilege drop, no CLI pipes, quiet logging, don't listen
  start_bg "$name" "$WORK/$name.out" env \
    exabgp_daemon_drop=false exabgp_daemon_daemonize=false exabgp_api_cli=false \
    exabgp_log_level="${EXABGP_LOGLEVEL:-INFO}" exabgp_log_destination=stdout exabgp_tcp_bind= \
    exabgp_log_routes=false exabgp_log_packets=false \
    "$EXABGP_BIN" server "$conf"
}

# bird_ann_conf MY_ADDR MY_ASN PEER_ADDR PEER_ASN N > bird-ann.conf  (fast C announcer)
bird_ann_conf() {
  local me=$1 myas=$2 peer=$3 peeras=$4 n=$5
  cat <<EOF
router id $me;
log "$WORK/bird-ann.log" { warning, error, fatal, bug };
protocol device { scan time 600; }
protocol static nva {
  ipv4 { import all; };
EOF
  prefix_list "$n" | awk '{print "  route " $1 " blackhole;"}'
  cat <<EOF
}
protocol bgp to_rs {
  local $me port $RS_PORT as $myas;
  strict bind on;
  neighbor $peer port $RS_PORT as $peeras;
  multihop 2;
  hold time 180;
  ipv4 {
    import none;
    next hop address $ANN_NH;
    export filter {
      bgp_path.prepend(64512);
      bgp_community.add(($myas, 100));
      bgp_large_community.add(($myas, 1, 1));
      accept;
    };
  };
}
EOF
}

# bird_rcv_conf MY_ADDR MY_ASN PEER_ADDR PEER_ASN > bird-rcv.conf
bird_rcv_conf() {
  local me=$1 myas=$2 peer=$3 peeras=$4
  cat <<EOF
router id $me;
log "$WORK/bird-rcv.log" { warning, error, fatal, bug };
protocol device { scan time 600; }
ipv4 table igp4;
ipv6 table igp6;
protocol static igp_v4 { ipv4 { table igp4; }; route 0.0.0.0/0 via "lo"; }
protocol static igp_v6 { ipv6 { table igp6; }; route ::/0 via "lo"; }
protocol bgp to_rs {
  local $me port $RS_PORT as $myas;
  strict bind on;
  neighbor $peer port $RS_PORT as $peeras;
  multihop 2;
  hold time 180;
  enforce first as off;     # a route server does not prepend its AS
  ipv4 { import all; export none; igp table igp4; gateway recursive; };
  ipv6 { import all; export none; igp table igp6; gateway recursive; };
}
EOF
}

# gobgp_client_conf MY_ADDR MY_ASN PEER_ADDR PEER_ASN > gobgpd.toml (receiver or announcer)
gobgp_client_conf() {
  local me=$1 myas=$2 peer=$3 peeras=$4
  cat <<EOF
[global.config]
  as = $myas
  router-id = "$me"
  port = $RS_PORT
  local-address-list = ["$me"]

[[neighbors]]
  [neighbors.config]
    neighbor-address = "$peer"
    peer-as = $peeras
  [neighbors.timers.config]
    hold-time = 180
  [neighbors.transport.config]
    local-address = "$me"
    remote-port = $RS_PORT
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
EOF
}

# start_blast NAME MY_ADDR MY_ASN PEER_ADDR PEER_ASN N  (synthetic fast announcer)
start_blast() {
  local name=$1 me=$2 myas=$3 peer=$4 peeras=$5 n=$6
  check_loopback "$me" "$peer"
  start_bg "$name" "$WORK/$name.out" python3 "$PEERS_DIR/bgpblast.py" --local "$me" --peer "$peer" \
    --port "$RS_PORT" --asn "$myas" --peer-asn "$peeras" --n "$n" --base "$PFX_BASE" --plen "$PLEN" \
    --nh "$ANN_NH" --linger "${BLAST_LINGER:-1800}"
}
