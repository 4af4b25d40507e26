#!/usr/bin/env bash
# The thesis' redundancy experiment (Table 7.2, Fig. 7.2) in network namespaces, with real routing daemons and
# PortableLb in the loop. Runs where the kernel has IPVS (EcmpTests runs it in the test VM): each LB pod's keepalived
# programs its namespace's IPVS, and an LB pod announces only what keepalived serves.
#
#   ecmp-lab.sh up LAB_DIR              fabric, router (FRR bgpd+zebra), route reflector (gobgpd), web servers
#   ecmp-lab.sh lb-start LAB_DIR N SVC… LB pod N (namespace <lab>-lbN): portable-lb run (supervising keepalived) + exabgp, serving SVC…
#   ecmp-lab.sh lb-stop LAB_DIR N       graceful: SIGTERM to portable-lb (withdraw → grace → exit), then exabgp
#   ecmp-lab.sh lb-kill LAB_DIR N       hard failure: SIGSTOP exabgp (the router notices after the hold time)
#   ecmp-lab.sh lb-unlink LAB_DIR N     hard failure: take LB N's link down
#   ecmp-lab.sh lb-clean LAB_DIR N      after a hard failure: kill what is left of LB N
#   ecmp-lab.sh endpoints LAB_DIR SVC true|false   web-SVC's endpoints serving or not (rewrites its EndpointSlice)
#   ecmp-lab.sh routes LAB_DIR PREFIX   the router's kernel FIB for PREFIX (`ip route show`)
#   ecmp-lab.sh down LAB_DIR            kill everything the lab started and delete its namespaces
#
# Addresses live only inside the lab's namespaces: fabric 10.99.0.0/24 on a bridge (router .1, reflector .2,
# LB pods' "nodes" .11-.14, web pods .21-.22). Service addresses: 10.1.1.10 (web-a), 10.1.2.10 (web-b).
# Environment: PORTABLE_LB (command that runs portable-lb, default "portable-lb"), HOLD_TIME (default 6).
set -euo pipefail

step() { echo "== $*" >&2; }

lab_name() { basename "$1"; }
frr_dir() { echo "/run/$(lab_name "$1")-frr"; }
ns() { echo "$(lab_name "$1")-$2"; }
in_ns() { local n="$1"; shift; ip netns exec "$n" "$@"; }

# One namespace on the fabric bridge, with its address and lo up.
attach() {
  local dir="$1" role="$2" address="$3" name
  name="$(ns "$dir" "$role")"
  ip netns add "$name"
  ip -n "$name" link set lo up
  # Both ends are made inside the lab's namespaces, so nothing is ever named in the host's.
  ip -n "$(ns "$dir" sw)" link add "ve-$role" type veth peer name eth0 netns "$name"
  ip -n "$(ns "$dir" sw)" link set "ve-$role" master br0 up
  ip -n "$name" addr add "$address/24" dev eth0
  ip -n "$name" link set eth0 up
}

# Starts a daemon in a namespace, in the background, output to LAB_DIR/logs/NAME.log, pid to LAB_DIR/pids/NAME.
spawn() {
  local dir="$1" name="$2" namespace="$3"; shift 3
  mkdir -p "$dir/logs" "$dir/pids"
  ip netns exec "$namespace" "$@" >"$dir/logs/$name.log" 2>&1 &
  echo $! >"$dir/pids/$name"
}

cmd_up() {
  local dir="$1" hold="${HOLD_TIME:-6}"
  mkdir -p "$dir"
  step "fabric: a bridge in its own namespace"
  ip netns add "$(ns "$dir" sw)"
  ip -n "$(ns "$dir" sw)" link add br0 type bridge
  ip -n "$(ns "$dir" sw)" link set br0 up

  step "router (FRR bgpd + zebra, maximum-paths ibgp 16) and route reflector (gobgpd, dynamic neighbours, add-paths)"
  attach "$dir" rtr 10.99.0.1
  attach "$dir" rr 10.99.0.2
  # FRR drops to its own user: it must reach its config and write its pid files and sockets there. Sockets need a
  # local filesystem (LAB_DIR may be a shared folder that cannot hold them), so FRR lives in /run.
  local frr; frr="$(frr_dir "$dir")"
  mkdir -p "$frr"
  chmod 777 "$frr"
  cat >"$frr/frr.conf" <<CONF
frr defaults traditional
hostname rtr
log file $frr/frr.log
!
router bgp 65021
 bgp router-id 10.99.0.1
 no bgp ebgp-requires-policy
 neighbor 10.99.0.2 remote-as 65021
 neighbor 10.99.0.2 timers 1 3
 neighbor 10.99.0.2 timers connect 1
 address-family ipv4 unicast
  maximum-paths ibgp 16
 exit-address-family
exit
CONF
  local rtr; rtr="$(ns "$dir" rtr)"
  spawn "$dir" zebra "$rtr" /usr/lib/frr/zebra -N "$rtr" -i "$frr/zebra.pid" -z "$frr/zserv.api" --vty_socket "$frr" -A 127.0.0.1 -P 0
  for _ in $(seq 50); do [ -S "$frr/zserv.api" ] && break; sleep 0.1; done
  spawn "$dir" bgpd "$rtr" /usr/lib/frr/bgpd -N "$rtr" -i "$frr/bgpd.pid" -z "$frr/zserv.api" --vty_socket "$frr" -A 127.0.0.1 -P 0 -f "$frr/frr.conf"

  cat >"$dir/gobgpd.yaml" <<CONF
global:
  config: {as: 65021, router-id: 10.99.0.2, port: 179, local-address-list: [10.99.0.2]}
peer-groups:
  - config: {peer-group-name: k8s, peer-as: 65021}
    transport: {config: {passive-mode: true}}
    timers: {config: {hold-time: $hold, keepalive-interval: $((hold / 3))}}
    afi-safis:
      - config: {afi-safi-name: ipv4-unicast}
dynamic-neighbors:
  - config: {prefix: 10.99.0.8/29, peer-group: k8s}
neighbors:
  - config: {neighbor-address: 10.99.0.1, peer-as: 65021}
    timers: {config: {hold-time: 3, keepalive-interval: 1, connect-retry: 1}}
    route-reflector: {config: {route-reflector-client: true, route-reflector-cluster-id: 10.99.0.2}}
    afi-safis:
      - config: {afi-safi-name: ipv4-unicast}
        add-paths: {config: {send-max: 255}}
CONF
  spawn "$dir" gobgpd "$(ns "$dir" rr)" gobgpd -t yaml -f "$dir/gobgpd.yaml" --api-hosts 10.99.0.2:50051 -p

  step "web pods: HTTP servers, the Services' endpoints"
  for i in 1 2; do
    attach "$dir" "web$i" "10.99.0.2$i"
    mkdir -p "$dir/web$i" && echo "web$i" >"$dir/web$i/index.html"
    spawn "$dir" "web$i" "$(ns "$dir" "web$i")" python3 -m http.server 80 --bind "10.99.0.2$i" --directory "$dir/web$i"
  done

  step "the cluster as manifests: two Services, both served by web1 and web2"
  mkdir -p "$dir/objects"
  for svc in a b; do
    local octet; octet=$([ "$svc" = a ] && echo 1 || echo 2)
    cat >"$dir/objects/web-$svc.yaml" <<YAML
apiVersion: v1
kind: Service
metadata: {name: web-$svc, namespace: lab}
spec: {type: LoadBalancer, loadBalancerClass: portable-lb.io/ipvs, loadBalancerIP: 10.1.$octet.10, ports: [{name: http, port: 80}]}
YAML
    endpoints_file "$dir" "$svc" true
  done
  cat >"$dir/tuning.yaml" <<YAML
bgp: {peers: [10.99.0.2], holdTime: $hold, nextHop: node}
YAML
}

# EndpointSlice of Service SVC with both web pods ready (true) or neither serving (false).
endpoints_file() {
  local dir="$1" svc="$2" ready="$3"
  cat >"$dir/objects/.web-$svc-slice.tmp" <<YAML
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-$svc-1, namespace: lab, labels: {kubernetes.io/service-name: web-$svc}}
addressType: IPv4
ports: [{name: http, port: 80}]
endpoints:
  - addresses: [10.99.0.21]
    conditions: {ready: $ready, serving: $ready, terminating: false}
  - addresses: [10.99.0.22]
    conditions: {ready: $ready, serving: $ready, terminating: false}
YAML
  mv "$dir/objects/.web-$svc-slice.tmp" "$dir/objects/web-$svc-slice.yaml"
}

cmd_endpoints() { endpoints_file "$1" "$2" "$3"; }

cmd_lb_start() {
  local dir="$1" n="$2"; shift 2
  local name run services=()
  name="$(ns "$dir" "lb$n")"
  run="$dir/lb$n"
  for svc in "$@"; do services+=(--service "lab/web-$svc"); done
  [ -e "/run/netns/$name" ] || attach "$dir" "lb$n" "10.99.0.1$n"
  ip -n "$name" link set eth0 up
  # A new pod starts with an empty volume.
  rm -rf "$run" && mkdir -p "$run"
  # shellcheck disable=SC2086
  spawn "$dir" "portable-lb-$n" "$name" ${PORTABLE_LB:-portable-lb} run --objects "$dir/objects" --tuning "$dir/tuning.yaml" "${services[@]}" \
    --node-ip "10.99.0.1$n" --pod-ip "10.99.0.1$n" --config-dir "$run" --listen "127.0.0.1:0" --debounce 10 \
    --keepalived supervise --keepalived-pidfile "$run/keepalived.pid" --exabgp-pidfile "$run/exabgp.pid" --exabgp-log "$run/exabgp.log" \
    --withdraw-grace 1 --data-plane off
  for _ in $(seq 300); do grep -q '^neighbor ' "$run/exabgp.conf" 2>/dev/null && break; sleep 0.02; done
  spawn "$dir" "exabgp-$n" "$name" env exabgp_daemon_daemonize=false "exabgp_daemon_pid=$run/exabgp.pid" "exabgp_log_destination=$run/exabgp.log" \
    exabgp_tcp_bind= exabgp_api_cli=false exabgp_daemon_user=root exabgp_daemon_drop=false exabgp "$run/exabgp.conf"
}

pid_of() { cat "$1/pids/$2" 2>/dev/null || true; }

cmd_lb_stop() {
  local dir="$1" n="$2" pid
  pid="$(pid_of "$dir" "portable-lb-$n")"
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 500); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
  cmd_lb_clean "$dir" "$n"
}

cmd_lb_kill() { kill -STOP "$(cat "$1/lb$2/exabgp.pid")"; }

cmd_lb_unlink() { ip -n "$(ns "$1" "lb$2")" link set eth0 down; }

cmd_lb_clean() {
  local dir="$1" n="$2"
  for name in "exabgp-$n" "portable-lb-$n"; do
    local pid; pid="$(pid_of "$dir" "$name")"
    [ -n "$pid" ] || continue
    pkill -KILL -P "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/pids/$name"
  done
  [ -f "$dir/lb$n/exabgp.pid" ] && kill -KILL "$(cat "$dir/lb$n/exabgp.pid")" 2>/dev/null || true
  rm -f "$dir/lb$n/exabgp.pid"
}

cmd_routes() { ip -n "$(ns "$1" rtr)" route show "$2"; }

cmd_down() {
  local dir="$1" lab
  lab="$(lab_name "$dir")"
  for pidfile in "$dir"/pids/*; do
    [ -e "$pidfile" ] || continue
    pkill -KILL -P "$(cat "$pidfile")" 2>/dev/null || true
    kill -KILL "$(cat "$pidfile")" 2>/dev/null || true
  done
  for n in $(ip netns list | awk '{print $1}' | grep "^$lab-" || true); do
    # Anything still inside (exabgp re-parented to init, say) goes with its namespace.
    for pid in $(ip netns pids "$n" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$n"
  done
  rm -rf "$(frr_dir "$dir")"
}

command="$1"; shift
"cmd_${command//-/_}" "$@"
