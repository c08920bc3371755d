#!/usr/bin/env bash
# e2e.sh - end-to-end route-server benchmark on loopback, side by side.
#
# One sender (fabric-sim/examples/bgp_blast.rs: UPDATEs encoded before the session starts)
# announces N IPv4 /24s to the route server under test, which passes them to K BIRD
# receivers. Per run:
#   wall_s      sender's session Established -> every receiver holds all N prefixes
#   withdraw_s  sender starts withdrawing everything -> every receiver holds none of them
#   rs_cpu_s    route server CPU s (whole process tree; live threads from schedstat, ns)
#               up to "all received"
#   rs_cpu_total_s  the same at the end (announce + withdraw)
#   rs_peak_mib peak RSS (VmHWM, summed over the process tree) at the end, to 0.1 MiB
#   rs_file_mib of the RSS at the end, what is mapped from files (RssFile: the binary's
#               and the libraries' code and data, shared with the page cache)
# Route servers: serve (fabric-sim serve, release build, --quiet), bird (rs client),
# gobgp (route-server-client), frr (route-server-client), openbgpd (transparent-as).
#
# usage: tools/bench/e2e.sh [--rs "serve bird gobgp frr openbgpd"] [--n "100000 1000000"]
#                           [--receivers "1 3"] [--reps 3] [--timeout 300] [--out F.csv]
# Prints CSV rows, then a markdown table of medians. Loopback only (127.22.S.0/24, port
# 1790 on each speaker's own address); every process is recorded and killed by PID.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"

RS_LIST="serve bird gobgp frr openbgpd"; N_LIST="100000 1000000"; K_LIST="1 3"; REPS=3
TIMEOUT=300; POLL=0.05; OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rs) RS_LIST=$2; shift 2;;
    --n) N_LIST=$2; shift 2;;
    --receivers) K_LIST=$2; shift 2;;
    --reps) REPS=$2; shift 2;;
    --timeout) TIMEOUT=$2; shift 2;;
    --out) OUT=$2; shift 2;;
    -h|--help) sed -n '2,20p' "$0"; exit 0;;
    *) die "unknown arg $1";;
  esac
done

# serve is the daemon-only binary built with the `dist` profile (release, fat LTO, one
# codegen unit: less code resident). SERVE_BIN may name any build of it, or of `fabric-sim`
# itself, which is then run as `fabric-sim serve`.
SERVE_BIN=${SERVE_BIN:-$ROOT/target/dist/fabric-sim-serve}
BLAST_BIN=${BLAST_BIN:-$ROOT/target/release/examples/bgp_blast}
if [ ! -x "$SERVE_BIN" ]; then
  (cd "$ROOT" && cargo build --profile dist -p fabric-sim --bin fabric-sim-serve) || die "build failed"
fi
if [ ! -x "$BLAST_BIN" ]; then
  (cd "$ROOT" && cargo build --release -p fabric-sim --example bgp_blast) || die "build failed"
fi
SERVE_CMD=("$SERVE_BIN")
[ "$(basename "$SERVE_BIN")" = fabric-sim ] && SERVE_CMD+=(serve)

slot_of() { case "$1" in serve) echo 1;; bird) echo 2;; gobgp) echo 3;; frr) echo 4;; openbgpd) echo 5;; *) die "unknown rs $1";; esac; }
rcv_addr() { echo "127.22.$1.$((10 + $2))"; }

# serve_conf RS CLIENTS > serve.toml : an Azure instance without its route limit
serve_conf() {
  local rs=$1 clients=$2 name a asn
  printf '[[instance]]\nlisten = "%s:%s"\nnext_hop = "198.51.100.1"\nhold_time = 180\n' "$rs" "$RS_PORT"
  printf 'max_routes_per_peer = 0\nvnet_prefixes = ["10.1.0.0/16"]\n'
  while read -r name a asn; do
    [ -n "$name" ] || continue
    check_loopback "$a"
    printf '\n[[instance.peer]]\naddress = "%s"\nasn = %s\n' "$a" "$asn"
  done <"$clients"
}

CUR_WORK=""
on_exit() { [ -n "$CUR_WORK" ] && kill_recorded "$CUR_WORK"; }
trap on_exit EXIT
trap 'exit 130' INT TERM

count_all() {  # prints the smallest and largest receiver counts
  local k=$1 i c min=-1 max=0
  for i in $(seq 1 "$k"); do
    set -- $(bird_proto_routes "rcv$i" to_rs); c=${1:-0}
    [ "$min" -lt 0 ] || [ "$c" -lt "$min" ] && min=$c
    [ "$c" -gt "$max" ] && max=$c
  done
  echo "$min $max"
}

one_run() {
  local rs_impl=$1 n=$2 k=$3 rep=$4 s rs ann i
  s=$(slot_of "$rs_impl"); rs="127.22.$s.1"; ann="127.22.$s.2"
  check_loopback "$rs" "$ann"
  mk_work "$(mktemp -d /tmp/e2e.XXXXXX)"; CUR_WORK=$WORK
  printf 'ann %s %s\n' "$ann" "$ANN_ASN" >"$WORK/clients.txt"
  for i in $(seq 1 "$k"); do printf 'rcv%s %s %s\n' "$i" "$(rcv_addr "$s" "$i")" "$((65010 + i))" >>"$WORK/clients.txt"; done

  case "$rs_impl" in
    serve) serve_conf "$rs" "$WORK/clients.txt" >"$WORK/serve.toml"
           start_bg rs "$WORK/rs.out" "${SERVE_CMD[@]}" --config "$WORK/serve.toml" --json --quiet
           wait_until 20 0.1 grep -q '"listening"' "$WORK/rs.out" || die "serve did not start";;
    bird) bird_rs_conf "$rs" "$WORK/clients.txt" >"$WORK/rs.conf"; start_bird rs "$WORK/rs.conf";;
    gobgp) gobgp_rs_conf "$rs" "$WORK/clients.txt" >"$WORK/rs.toml"; start_gobgpd rs "$WORK/rs.toml" "$rs";;
    frr) frr_rs_conf "$rs" "$WORK/clients.txt" >"$WORK/rs.conf"; start_frr rs "$WORK/rs.conf" "$rs";;
    openbgpd) obgpd_rs_conf "$rs" "$WORK/clients.txt" >"$WORK/rs.conf"; start_openbgpd rs "$WORK/rs.conf";;
  esac
  local rs_pid; rs_pid=$(pid_of rs)
  for i in $(seq 1 "$k"); do
    bird_rcv_conf "$(rcv_addr "$s" "$i")" "$((65010 + i))" "$rs" "$RS_ASN" | sed "s#bird-rcv.log#bird-rcv$i.log#" >"$WORK/rcv$i.conf"
    start_bird "rcv$i" "$WORK/rcv$i.conf"
  done
  all_up() { local i; for i in $(seq 1 "$k"); do [ "$(bird_proto_state "rcv$i" to_rs)" = Established ] || return 1; done; }
  wait_until 60 0.2 all_up || { log "receivers not Established"; kill_recorded "$WORK"; CUR_WORK=""; return 1; }
  local base; base=$(count_all "$k" | awk '{print $2}')   # serve advertises its VNet range

  start_bg ann "$WORK/ann.out" "$BLAST_BIN" --local "$ann" --peer "$rs:$RS_PORT" --asn "$ANN_ASN" \
    --n "$n" --withdraw-when "$WORK/withdraw" --max-seconds $((TIMEOUT * 2 + 60))
  local deadline=$(( $(now_us) + TIMEOUT * 1000000 )) t_all="" t_gone="" cpu_all="" ok=0 mm
  while [ "$(now_us)" -lt "$deadline" ]; do
    pid_alive "$rs_pid" || { log "RS died"; break; }
    mm=$(count_all "$k")
    if [ "${mm%% *}" -ge $((base + n)) ]; then t_all=$(now_us); cpu_all=$(tree_cpu_s "$rs_pid"); break; fi
    sleep "$POLL"
  done
  if [ -n "$t_all" ]; then
    touch "$WORK/withdraw"
    while [ "$(now_us)" -lt "$deadline" ]; do
      mm=$(count_all "$k")
      if [ "${mm##* }" -le "$base" ]; then t_gone=$(now_us); ok=1; break; fi
      sleep "$POLL"
    done
  fi
  local t_est t_wd hwm cpu_end wall=NA wd=NA
  t_est=$(awk '/^established at/{print $3}' "$WORK/ann.out"); t_est=${t_est/./}
  t_wd=$(awk '/^withdrawn at/{print $3}' "$WORK/ann.out"); t_wd=${t_wd/./}
  hwm=$(tree_status_kb VmHWM "$rs_pid"); cpu_end=$(tree_cpu_s "$rs_pid"); file_kb=$(tree_status_kb RssFile "$rs_pid")
  [ -n "$t_est" ] && [ -n "$t_all" ] && wall=$(us2s $((t_all - t_est)))
  [ -n "$t_wd" ] && [ -n "$t_gone" ] && wd=$(us2s $((t_gone - t_wd)))
  local line="$rs_impl,$n,$k,$rep,$ok,$wall,$wd,${cpu_all:-NA},$cpu_end,$(awk -v k="$hwm" 'BEGIN{printf "%.1f", k / 1024}'),$(awk -v k="$file_kb" 'BEGIN{printf "%.1f", k / 1024}')"
  echo "$line"
  [ -n "$OUT" ] && echo "$line" >>"$OUT"
  kill_recorded "$WORK"; CUR_WORK=""
  rm -rf "$WORK"
}

HDR="rs,n,receivers,rep,ok,wall_s,withdraw_s,rs_cpu_s,rs_cpu_total_s,rs_peak_mib,rs_file_mib"
CSV=$(mktemp /tmp/e2e.csv.XXXXXX)
echo "$HDR" | tee "$CSV"
[ -n "$OUT" ] && [ ! -s "$OUT" ] && echo "$HDR" >"$OUT"
for n in $N_LIST; do
  for k in $K_LIST; do
    for rep in $(seq 1 "$REPS"); do
      for rs_impl in $RS_LIST; do   # interleaved, so load drifts hit every server alike
        one_run "$rs_impl" "$n" "$k" "$rep" | tee -a "$CSV"
      done
    done
  done
done
python3 - "$CSV" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
groups = {}
for r in rows:
    groups.setdefault((r["rs"], int(r["n"]), int(r["receivers"])), []).append(r)
print()
print("| route server | N | receivers | runs ok | wall s | withdraw s | RS CPU s (announce) | RS CPU s (total) | RS peak MiB | of which files MiB |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
def med(rs, key, places=2):
    v = [float(r[key]) for r in rs if r[key] not in ("NA", "")]
    return f"{statistics.median(v):.{places}f}" if v else "NA"
for (rs, n, k), g in sorted(groups.items(), key=lambda x: (x[0][1], x[0][2], x[0][0])):
    ok = [r for r in g if r["ok"] == "1"]
    print(f"| {rs} | {n} | {k} | {len(ok)}/{len(g)} | {med(ok, 'wall_s')} | {med(ok, 'withdraw_s')} | "
          f"{med(ok, 'rs_cpu_s', 3)} | {med(ok, 'rs_cpu_total_s', 3)} | {med(ok, 'rs_peak_mib', 1)} | {med(ok, 'rs_file_mib', 1)} |")
EOF
rm -f "$CSV"
