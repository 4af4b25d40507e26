#!/bin/bash
# Runs inside the VM that vm-host.sh boots (PID 1, on an overlay of the host's /). The LB pod of the thesis as
# network namespaces: `client` ── `lb` ── `web1..3`. portable-lb runs in `lb` in the supervised layout, so it
# starts keepalived, which programs this kernel's IPVS.
#
#   vm-guest.sh PORTABLE_LB checks [EVENTS]   the acceptance checks (IpvsVmTests), EVENTS more add/remove rounds
#   vm-guest.sh PORTABLE_LB bench [EVENTS]    event → IPVS at 10 and 1,000 real servers (EVENTS each, default 24),
#                                             then the thesis' Fig. 6.4: wrk through IPVS NAT, nft DNAT, nginx, direct
#   vm-guest.sh PORTABLE_LB l2                L2 mode instead (l2-guest.sh): VRRP masters with real IPVS, failovers
#
# PORTABLE_LB: the published executable, or portable-lb.dll (run with dotnet). Each check appends "PASS|FAIL name"
# to RESULTS/checks.txt; event timings go to RESULTS/events.txt as "SIZE LABEL MS", wrk results to
# RESULTS/throughput.txt as "PATH ROUND REQUESTS/S". The exit code is the number of failed checks; a set-up step that
# fails is a failed check too (errexit and the ERR trap below), so nothing carries on from a half-made topology.
set -eEuo pipefail

step() { echo "== guest: $*"; }
arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p"; }

step "setup: kernel filesystems, this kernel's modules, modprobe on demand"
mount -t proc proc /proc; mount -t sysfs sys /sys; mountpoint -q /dev || mount -t devtmpfs dev /dev
# What udev adds on any Linux machine and devtmpfs does not: without /dev/fd, bash's <(…) reads nothing.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
results="$(arg plb.results)"; modules="$(arg plb.modules)"
program="$1"; mode="${2:-checks}"
if [ "$mode" = bench ]; then events="${3:-24}"; else events="${3:-20}"; fi
# The published ReadyToRun build starts far faster under emulation: most of its code needs no JIT.
if [[ "$program" == *.dll ]]; then portable_lb=(dotnet "$program"); else portable_lb=("$program"); fi
mkdir -p /lib/modules /run/netns /tmp/bin
ln -sfn "$modules" "/lib/modules/$(uname -r)"
# A copy, not a link: it lives in the tmpfs, so it still runs while power-off tears down the 9p shares.
cp "$modules/../../../bin/busybox" /tmp/bin/busybox
ln -sf busybox /tmp/bin/modprobe
echo /tmp/bin/modprobe >/proc/sys/kernel/modprobe
export PATH="/tmp/bin:$PATH" DOTNET_CLI_TELEMETRY_OPTOUT=1 HOME=/root
: >"$results/checks.txt"; : >"$results/events.txt"; : >"$results/throughput.txt"
failed=0
trap 'echo "FAIL set-up step at line $LINENO: $BASH_COMMAND" >>"$results/checks.txt"; failed=$((failed + 1))' ERR
check() { # check NAME CONDITION-COMMAND...
  local name="$1"; shift
  if "$@"; then echo "PASS $name" >>"$results/checks.txt"; else echo "FAIL $name" >>"$results/checks.txt"; failed=$((failed + 1)); fi
}
finish() {
  trap - ERR
  cp -r /run/plb "$results/lb-volume" 2>/dev/null || true
  ip netns exec lb ipvsadm -Ln >"$results/ipvsadm-final.txt" 2>&1 || true
  echo "$failed" >"$results/exit-code"
  sync
  echo o >/proc/sysrq-trigger
  exec /tmp/bin/busybox sleep 60
}
trap finish EXIT

if [ "$mode" = l2 ]; then
  # shellcheck source=tests/vm/l2-guest.sh
  source "$(dirname "$0")/l2-guest.sh"
  exit 0
fi

step "topology: client 10.0.1.2 ── 10.0.1.1 lb 10.0.2.1 ── web1..3 10.0.2.11-13"
ip link set lo up
for n in client lb web1 web2 web3; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add c0 netns client type veth peer name l0 netns lb
ip -n client addr add 10.0.1.2/24 dev c0; ip -n client link set c0 up; ip -n client route add default via 10.0.1.1
ip -n lb addr add 10.0.1.1/24 dev l0; ip -n lb link set l0 up
ip -n lb link add br0 type bridge; ip -n lb addr add 10.0.2.1/24 dev br0; ip -n lb link set br0 up
for i in 1 2 3; do
  ip -n lb link add "w$i" type veth peer name eth0 netns "web$i"
  ip -n lb link set "w$i" master br0 up
  ip -n "web$i" addr add "10.0.2.1$i/24" dev eth0; ip -n "web$i" link set eth0 up; ip -n "web$i" route add default via 10.0.2.1
done
ip netns exec lb sysctl -qw net.ipv4.ip_forward=1
[ "$(ip netns exec lb sysctl -n net.ipv4.ip_forward)" = 1 ]
# Many real servers without many pods: web1 answers for all of 10.0.16.0/20 (a local route), lb routes it there.
ip -n web1 route add local 10.0.16.0/20 dev lo
ip -n lb route add 10.0.16.0/20 via 10.0.2.11

step "web pods: nginx answering with its pod's name on 80 (the thesis Service) and 8080 (web-vip)"
# Two ports, so each virtual server's real servers are told apart in IPVS. nginx rather than a forking server:
# the throughput comparison must measure the load balancers, not the backends.
web_start() {
  local dir="/srv/web$1"; mkdir -p "$dir/tmp"
  cat >"$dir/nginx.conf" <<NGINX
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body; proxy_temp_path $dir/tmp/proxy; fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi; scgi_temp_path $dir/tmp/scgi;
  keepalive_requests 1000000;
  server { listen 80; listen 8080; default_type text/plain; location / { return 200 "web$1\n"; } }
}
NGINX
  ip netns exec "web$1" nginx -c "$dir/nginx.conf"
}
web_stop() {
  local pid; read -r pid <"/srv/web$1/nginx.pid"; kill -QUIT "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}
for i in 1 2 3; do web_start "$i"; done

step "manifests: the thesis Service (prefix 10.1.1.0/24, fwmark) and web-vip (10.1.2.10)"
objects=/srv/objects; mkdir -p "$objects"
cat >"$objects/services.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default, annotations: {portable-lb.io/addresses: "10.1.1.0/24"}}
spec: {type: LoadBalancer, loadBalancerClass: portable-lb.io/ipvs, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-vip, namespace: default}
spec: {type: LoadBalancer, loadBalancerClass: portable-lb.io/ipvs, loadBalancerIP: 10.1.2.10, ports: [{name: http, port: 80}]}
YAML
# draft NAME SERVICE "IP:ready:terminating"... writes the slice beside the folder's files; publish NAME is the event.
draft() {
  local name="$1" service="$2"; shift 2
  {
    echo "apiVersion: discovery.k8s.io/v1"; echo "kind: EndpointSlice"
    echo "metadata: {name: $name, namespace: default, labels: {kubernetes.io/service-name: $service}}"
    echo "addressType: IPv4"; echo "ports: [{name: http, port: $([ "$service" = web ] && echo 80 || echo 8080)}]"; echo "endpoints:"
    for e in "$@"; do
      IFS=: read -r ip ready terminating <<<"$e"
      echo "  - addresses: [$ip]"
      echo "    conditions: {ready: $ready, serving: true, terminating: $terminating}"
    done
  } >"$objects/.$name.next"
}
publish() { mv "$objects/.$1.next" "$objects/$1.yaml"; }
slice() { draft "$@"; publish "$1"; }
slice web-1 web 10.0.2.11:true:false 10.0.2.12:true:false
slice web-vip-1 web-vip 10.0.2.11:true:false 10.0.2.12:true:false
# 1,000 real servers checked every second would be the benchmark's load; a 30 s loop is what such a pool gets.
# The checks want keepalived to notice a dead backend within seconds.
if [ "$mode" = bench ]; then delay_loop=30 connect_timeout=3; else delay_loop=1 connect_timeout=1; fi
cat >/srv/tuning.yaml <<YAML
virtualServer:
  scheduler: lc
  forwarding: nat
  delayLoop: $delay_loop
  healthCheck: {type: tcp, connectTimeout: $connect_timeout, retry: 1, delayBeforeRetry: 1}
YAML

step "portable-lb run in lb: supervised keepalived, data plane on"
ip netns exec lb "${portable_lb[@]}" run --objects "$objects" --tuning /srv/tuning.yaml --node-ip 10.0.1.1 --pod-ip 10.0.1.1 \
  --config-dir /run/plb --keepalived supervise --keepalived-pidfile /run/plb/keepalived.pid --exabgp-pidfile /run/plb/exabgp.pid \
  --listen 127.0.0.1:9101 --debounce 10 --withdraw-grace 1 --data-plane on >"$results/portable-lb.log" 2>&1 &
controller=$!

# IPVS as lb's network namespace has it, read with a shell builtin through a process that lives there (keepalived):
# /proc/net is per namespace, and starting ipvsadm costs up to 0.6 s under emulation. Into $ipvs_table, one line
# per entry joined by spaces, rather than printed: a $(…) would fork on every 10 ms poll.
read_ipvs() {
  local pid lines=()
  ipvs_table=""
  { read -r pid </run/plb/keepalived.pid; } 2>/dev/null || return 0
  { mapfile -t lines <"/proc/$pid/net/ip_vs"; } 2>/dev/null || return 0
  ipvs_table="${lines[*]}"
}
hex() { printf '%02X%02X%02X%02X:%04X' ${1//./ } "$2"; }
until_ipvs() { # until_ipvs TIMEOUT_S REGEX present|absent
  local deadline=$((SECONDS + $1))
  while [ $SECONDS -lt $deadline ]; do
    # Without the controller (it supervises keepalived) nothing will change: fail now, not at the deadline.
    kill -0 "$controller" 2>/dev/null || return 1
    read_ipvs
    if [ "$3" = present ]; then [[ "$ipvs_table" =~ $2 ]] && return 0; else [[ "$ipvs_table" =~ $2 ]] || return 0; fi
    sleep 0.01
  done
  return 1
}
now_ms() { local t; read -r t _ </proc/uptime; echo "${t/./}0"; }
# measure SIZE LABEL NAME PATTERN present|absent: publish the drafted slice NAME, time until IPVS shows it.
measure() {
  local size="$1" label="$2" name="$3" pattern="$4" want="$5" t0 t1
  t0="$(now_ms)"
  publish "$name"
  if until_ipvs 120 "$pattern" "$want"; then t1="$(now_ms)"; echo "$size $label $((t1 - t0))" >>"$results/events.txt"; return 0; fi
  echo "$size $label timeout" >>"$results/events.txt"; return 1
}
requests() { # requests ADDRESS N → the backends that answered, sorted and unique
  for _ in $(seq "$2"); do ip netns exec client curl -sS -m 3 "http://$1/" 2>>"$results/requests.log" || true; done | sort -u | tr '\n' ' '
}
w1="$(hex 10.0.2.11 8080)"; w2="$(hex 10.0.2.12 8080)"; w3="$(hex 10.0.2.13 8080)"

check "keepalived programs IPVS from the rendered ipvs.conf" until_ipvs 240 "$(hex 10.0.2.12 80)" present

acceptance_checks() {
  sleep 3
  ip netns exec lb ipvsadm -Ln >"$results/ipvsadm-initial.txt" 2>&1
  local mark seen
  mark="$(awk '/fwmark/{print $3; exit}' /run/plb/ipvs.conf)"
  check "ipvsadm -Ln: FWM $mark lc, both real servers Masq 1 (thesis Fig. 5.4)" \
    bash -c "grep -qE '^FWM  $mark lc' '$results/ipvsadm-initial.txt' && [ \$(grep -cE '10.0.2.1[12]:80 +Masq +1' '$results/ipvsadm-initial.txt') -eq 2 ]"
  check "ipvsadm -Ln: TCP 10.1.2.10:80 lc" grep -qE '^TCP  10.1.2.10:80 lc' "$results/ipvsadm-initial.txt"
  seen="$(requests 10.1.2.10 12)"
  check "requests from client to 10.1.2.10 reach web1 and web2 (got: $seen)" test "$seen" = "web1 web2 "
  seen="$(requests 10.1.1.77 12)"
  check "the fwmark path: 10.1.1.77 (inside 10.1.1.0/24) reaches web1 and web2 (got: $seen)" test "$seen" = "web1 web2 "

  step "edits: remove, add, terminate; event → /proc/net/ip_vs changed"
  draft web-vip-1 web-vip 10.0.2.11:true:false
  check "an endpoint removed leaves IPVS" measure 2 remove web-vip-1 "$w2" absent
  draft web-vip-1 web-vip 10.0.2.11:true:false 10.0.2.13:true:false
  check "an endpoint added joins IPVS" measure 2 add web-vip-1 "$w3" present
  draft web-vip-1 web-vip 10.0.2.11:false:true 10.0.2.13:true:false
  check "a terminating endpoint drains at weight 0" measure 2 terminate web-vip-1 "$w1 +Masq +0 " present
  draft web-vip-1 web-vip 10.0.2.13:true:false
  check "and is gone when its slice drops it" measure 2 gone web-vip-1 "$w1" absent
  for _ in $(seq "$events"); do
    draft web-vip-1 web-vip 10.0.2.12:true:false 10.0.2.13:true:false
    measure 2 add web-vip-1 "$w2" present || break
    draft web-vip-1 web-vip 10.0.2.13:true:false
    measure 2 remove web-vip-1 "$w2" absent || break
  done

  step "health checks as tuned: stop web3, keepalived removes it; restart, it returns"
  slice web-vip-1 web-vip 10.0.2.12:true:false 10.0.2.13:true:false
  until_ipvs 30 "$w3" present
  web_stop 3
  check "keepalived's TCP_CHECK removes a dead backend" until_ipvs 30 "$w3" absent
  web_start 3
  check "and puts it back once it answers" until_ipvs 30 "$w3" present
}

# throughput ROUNDS SECONDS: the same two backends behind each path, wrk from client, paths interleaved per round.
throughput() {
  step "throughput: nft DNAT on 10.1.3.10, an nginx reverse proxy on 10.1.4.10, IPVS NAT on 10.1.2.10, direct to web1"
  ip netns exec lb nft -f - <<'NFT'
table ip portable-lb-bench {
  chain prerouting {
    type nat hook prerouting priority dstnat;
    ip daddr 10.1.3.10 tcp dport 80 dnat to numgen inc mod 2 map { 0 : 10.0.2.11, 1 : 10.0.2.12 } : 8080
  }
}
NFT
  ip -n lb addr add 10.1.4.10/32 dev lo
  mkdir -p /srv/proxy/tmp
  cat >/srv/proxy/nginx.conf <<'NGINX'
worker_processes auto;
pid /srv/proxy/nginx.pid;
error_log /srv/proxy/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path /srv/proxy/tmp/body; proxy_temp_path /srv/proxy/tmp/proxy; fastcgi_temp_path /srv/proxy/tmp/fastcgi;
  uwsgi_temp_path /srv/proxy/tmp/uwsgi; scgi_temp_path /srv/proxy/tmp/scgi;
  keepalive_requests 1000000;
  upstream web { server 10.0.2.11:8080; server 10.0.2.12:8080; keepalive 64; }
  server {
    listen 10.1.4.10:80;
    location / { proxy_pass http://web; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
  ip netns exec lb nginx -c /srv/proxy/nginx.conf
  local -A url=([direct]=10.0.2.11:8080 [ipvs]=10.1.2.10 [nft]=10.1.3.10 [nginx]=10.1.4.10)
  local path seen rps
  for path in direct ipvs nft nginx; do
    seen="$(requests "${url[$path]}" 6)"
    if [ "$path" = direct ]; then check "direct answers (got: $seen)" test "$seen" = "web1 "
    else check "$path spreads over web1 and web2 (got: $seen)" test "$seen" = "web1 web2 "; fi
  done
  for round in $(seq "$1"); do
    for path in direct ipvs nft nginx; do
      ip netns exec client wrk -t2 -c32 -d"$2"s "http://${url[$path]}/" >"$results/wrk-$path-$round.txt" 2>&1
      rps="$(awk '/^Requests\/sec:/{print $2}' "$results/wrk-$path-$round.txt")"
      echo "$path $round ${rps:-0}" >>"$results/throughput.txt"
      check "wrk through $path, round $round: no socket errors, ${rps:-no} requests/s" \
        bash -c "! grep -q 'Socket errors\|Non-2xx' '$results/wrk-$path-$round.txt' && [ -n '$rps' ]"
    done
  done
  kill -QUIT "$(cat /srv/proxy/nginx.pid)"
}

# metrics NAME: the controller's /metrics now, so the benchmark can tell its share (render, apply) per phase.
metrics() { ip netns exec lb curl -sS -m 10 http://127.0.0.1:9101/metrics >"$results/metrics-$1.txt" 2>&1; }
pool_address() { echo "10.0.$((16 + $1 / 250)).$(($1 % 250 + 1))"; }
# event_latency SIZE EVENTS: web-vip over SIZE real servers of the pool, then one more added and removed in turn.
event_latency() {
  local size="$1" n endpoints=() extra
  step "event → IPVS at $size real servers, $2 events"
  for n in $(seq "$size"); do endpoints+=("$(pool_address "$n"):true:false"); done
  extra="$(pool_address $((size + 1)))"
  draft web-vip-1 web-vip "${endpoints[@]}"
  check "$size real servers reach IPVS" measure "$size" initial web-vip-1 "$(hex "$(pool_address "$size")" 8080)" present
  sleep 3
  metrics "$size-before"
  for n in $(seq "$2"); do
    if [ $((n % 2)) -eq 1 ]; then
      draft web-vip-1 web-vip "${endpoints[@]}" "$extra:true:false"
      measure "$size" add web-vip-1 "$(hex "$extra" 8080)" present || break
    else
      draft web-vip-1 web-vip "${endpoints[@]}"
      measure "$size" remove web-vip-1 "$(hex "$extra" 8080)" absent || break
    fi
    # Each event alone: a reload still being confirmed would fold the next event into it.
    sleep 1
  done
  metrics "$size-after"
  # The controller's floor at this size: it validates every changed ipvs.conf with keepalived -t before the swap.
  # (A parse needs no namespace; `ip netns exec` would add a process start to the time.)
  for _ in 1 2 3; do
    local t0; t0="$(now_ms)"; keepalived -t -f /run/plb/ipvs.conf >/dev/null 2>&1
    echo "$size keepalived-t $(($(now_ms) - t0))" >>"$results/events.txt"
  done
  check "$2 events at $size real servers each reached IPVS" test "$n" -eq "$2" -a "$(grep -c "^$size \(add\|remove\) [0-9]" "$results/events.txt")" -eq "$2"
}

if [ "$mode" = bench ]; then
  throughput 5 10
  event_latency 10 "$events"
  event_latency 1000 "$events"
else
  acceptance_checks
fi

step "shutdown: SIGTERM to portable-lb stops keepalived after the grace period"
keepalived_pid="$(cat /run/plb/keepalived.pid)"
kill -TERM "$controller"
stopped() { for _ in $(seq 300); do kill -0 "$controller" 2>/dev/null || kill -0 "$keepalived_pid" 2>/dev/null || return 0; sleep 0.2; done; return 1; }
check "SIGTERM stops portable-lb and, last, keepalived" stopped
