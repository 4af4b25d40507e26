#!/bin/bash
# Runs inside the VM that vm-host.sh boots (PID 1, on an overlay of the host's /). The LB pod of the thesis as
# network namespaces: `client` ── `lb` ── `web1..3`. portable-lb runs in `lb` in the supervised layout, so it
# starts keepalived, which programs this kernel's IPVS. Each check appends "PASS|FAIL name: detail" to
# RESULTS/checks.txt; timings go to RESULTS/timings.txt. The exit code is the number of failed checks.
#
#   vm-guest.sh PORTABLE_LB [EVENTS]     PORTABLE_LB: the published executable, or portable-lb.dll (run with dotnet)
set -uo pipefail

step() { echo "== guest: $*"; }
arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p"; }

step "setup: kernel filesystems, this kernel's modules, modprobe on demand"
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev 2>/dev/null
results="$(arg plb.results)"; modules="$(arg plb.modules)"
program="$1"; events="${2:-20}"
# The published ReadyToRun build starts far faster under emulation: most of its code needs no JIT.
if [[ "$program" == *.dll ]]; then portable_lb=(dotnet "$program"); else portable_lb=("$program"); fi
mkdir -p /lib/modules /run/netns /tmp/bin
ln -sfn "$modules" "/lib/modules/$(uname -r)"
ln -sf "$modules/../../../bin/busybox" /tmp/bin/busybox
ln -sf busybox /tmp/bin/modprobe
echo /tmp/bin/modprobe >/proc/sys/kernel/modprobe
export PATH="/tmp/bin:$PATH" DOTNET_CLI_TELEMETRY_OPTOUT=1 HOME=/root
: >"$results/checks.txt"; : >"$results/timings.txt"; : >"$results/events.txt"
failed=0
check() { # check NAME CONDITION-COMMAND...
  local name="$1"; shift
  if "$@"; then echo "PASS $name" >>"$results/checks.txt"; else echo "FAIL $name" >>"$results/checks.txt"; failed=$((failed + 1)); fi
}
finish() {
  cp -r /run/plb "$results/lb-volume" 2>/dev/null
  ip netns exec lb ipvsadm -Ln >"$results/ipvsadm-final.txt" 2>&1
  echo "$failed" >"$results/exit-code"
  sync
  echo o >/proc/sysrq-trigger
  sleep 60
}
trap finish EXIT

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

step "web pods: busybox httpd answering with their own name"
# Port 80 serves the thesis Service, 8080 web-vip, so each virtual server's real servers are told apart in IPVS.
web_start() {
  mkdir -p "/srv/web$1"; echo "web$1" >"/srv/web$1/index.html"
  for port in 80 8080; do ip netns exec "web$1" busybox httpd -p "$port" -h "/srv/web$1"; done
}
web_stop() { ip netns exec "web$1" pkill -f "busybox httpd -p 8080 -h /srv/web$1"; }
for i in 1 2 3; do web_start "$i"; done

step "manifests: the thesis Service (prefix 10.1.1.0/24, fwmark) and web-vip (10.1.2.10) over web1 and web2"
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
# slice NAME SERVICE "IP:ready:terminating"...
slice() {
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
  } >"$objects/.$name.tmp"
  mv "$objects/.$name.tmp" "$objects/$name.yaml"
}
slice web-1 web 10.0.2.11:true:false 10.0.2.12:true:false
slice web-vip-1 web-vip 10.0.2.11:true:false 10.0.2.12:true:false
cat >/srv/tuning.yaml <<'YAML'
virtualServer:
  scheduler: lc
  forwarding: nat
  delayLoop: 1
  healthCheck: {type: tcp, connectTimeout: 1, retry: 1, delayBeforeRetry: 1}
YAML

step "portable-lb run in lb: supervised keepalived, data plane on"
ip netns exec lb "${portable_lb[@]}" run --objects "$objects" --tuning /srv/tuning.yaml --node-ip 10.0.1.1 --pod-ip 10.0.1.1 \
  --config-dir /run/plb --keepalived supervise --keepalived-pidfile /run/plb/keepalived.pid --exabgp-pidfile /run/plb/exabgp.pid \
  --listen 127.0.0.1:9101 --debounce 10 --withdraw-grace 1 --data-plane on >"$results/portable-lb.log" 2>&1 &
controller=$!

# IPVS as lb's network namespace has it, read with shell builtins through a process that lives there (keepalived):
# /proc/net is per namespace, and starting ipvsadm costs up to 0.6 s under emulation.
ipvs() {
  local line all="" pid
  { read -r pid </run/plb/keepalived.pid; } 2>/dev/null || return 0
  { while IFS= read -r line; do all+="$line"$'\n'; done <"/proc/$pid/net/ip_vs"; } 2>/dev/null
  printf '%s' "$all"
}
hex() { printf '%02X%02X%02X%02X:%04X' ${1//./ } "$2"; }
until_ipvs() { # until_ipvs TIMEOUT_S REGEX present|absent
  local deadline=$((SECONDS + $1))
  while [ $SECONDS -lt $deadline ]; do
    if [ "$3" = present ]; then [[ "$(ipvs)" =~ $2 ]] && return 0; else [[ "$(ipvs)" =~ $2 ]] || return 0; fi
    sleep 0.01
  done
  return 1
}
now_ms() { local t; read -r t _ </proc/uptime; echo "${t/./}0"; }

check "keepalived programs IPVS from the rendered ipvs.conf" until_ipvs 420 "$(hex 10.0.2.12 80)" present
sleep 3
ip netns exec lb ipvsadm -Ln >"$results/ipvsadm-initial.txt" 2>&1
mark="$(awk '/fwmark/{print $3; exit}' /run/plb/ipvs.conf)"
check "ipvsadm -Ln: FWM $mark lc, both real servers Masq 1 (thesis Fig. 5.4)" \
  bash -c "grep -qE '^FWM  $mark lc' '$results/ipvsadm-initial.txt' && [ \$(grep -cE '10.0.2.1[12]:80 +Masq +1' '$results/ipvsadm-initial.txt') -eq 2 ]"
check "ipvsadm -Ln: TCP 10.1.2.10:80 lc" grep -qE '^TCP  10.1.2.10:80 lc' "$results/ipvsadm-initial.txt"

requests() { # requests ADDRESS N → the backends that answered, sorted and unique
  for _ in $(seq "$2"); do ip netns exec client curl -sS -m 3 "http://$1/" 2>>"$results/requests.log"; done | sort -u | tr '\n' ' '
}
seen="$(requests 10.1.2.10 12)"; echo "web-vip answered by: $seen" >>"$results/timings.txt"
check "requests from client to 10.1.2.10 reach web1 and web2" test "$seen" = "web1 web2 "
seen="$(requests 10.1.1.77 12)"; echo "prefix (fwmark) answered by: $seen" >>"$results/timings.txt"
check "the fwmark path: 10.1.1.77 (inside 10.1.1.0/24) reaches web1 and web2" test "$seen" = "web1 web2 "

step "edits: remove, add, terminate; event → /proc/net/ip_vs changed"
measure() { # measure LABEL PATTERN present|absent SLICE-ARGS...
  local label="$1" pattern="$2" want="$3"; shift 3
  local t0 t1; t0="$(now_ms)"
  slice web-vip-1 web-vip "$@"
  if until_ipvs 30 "$pattern" "$want"; then t1="$(now_ms)"; echo "$label $((t1 - t0))" >>"$results/events.txt"; return 0; fi
  echo "$label timeout" >>"$results/events.txt"; return 1
}
w1="$(hex 10.0.2.11 8080)"; w2="$(hex 10.0.2.12 8080)"; w3="$(hex 10.0.2.13 8080)"
check "an endpoint removed leaves IPVS" measure remove "$w2" absent 10.0.2.11:true:false
check "an endpoint added joins IPVS" measure add "$w3" present 10.0.2.11:true:false 10.0.2.13:true:false
check "a terminating endpoint drains at weight 0" measure terminate "$w1 +Masq +0 " present 10.0.2.11:false:true 10.0.2.13:true:false
check "and is gone when its slice drops it" measure gone "$w1" absent 10.0.2.13:true:false
for i in $(seq "$events"); do
  measure event-add "$w2" present 10.0.2.12:true:false 10.0.2.13:true:false || break
  measure event-remove "$w2" absent 10.0.2.13:true:false || break
done

step "health checks as tuned: kill web3, keepalived removes it; restart, it returns"
slice web-vip-1 web-vip 10.0.2.12:true:false 10.0.2.13:true:false
until_ipvs 30 "$w3" present
web_stop 3
check "keepalived's TCP_CHECK removes a dead backend" until_ipvs 30 "$w3" absent
web_start 3
check "and puts it back once it answers" until_ipvs 30 "$w3" present

step "shutdown: SIGTERM to portable-lb stops keepalived after the grace period"
keepalived_pid="$(cat /run/plb/keepalived.pid)"
kill -TERM "$controller"
stopped() { for _ in $(seq 300); do kill -0 "$controller" 2>/dev/null || kill -0 "$keepalived_pid" 2>/dev/null || return 0; sleep 0.2; done; return 1; }
check "SIGTERM stops portable-lb and, last, keepalived" stopped
