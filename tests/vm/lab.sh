# Small steps of a lab inside the VM, sourced by the commands the tests send (VmSession): what a node, its pod
# network and the machines around it need. Nothing here knows about PortableLb; the LB pods are the manifests'
# own, run by podman (PodmanPod.cs).
#
#   . tests/vm/lab.sh; pod_netns NAME ADDRESS/LEN GATEWAY BRIDGE [BRIDGE_NETNS]
set -euo pipefail

in_ns() { local ns="$1"; shift; if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi; }

# Whether COMMAND's output (stdout and stderr) has a line matching PATTERN (grep's basic regex). The output is taken
# whole before it is searched: under pipefail, `COMMAND | grep -q` fails whenever grep's early exit kills a COMMAND
# still writing (SIGPIPE), and nft, gobgp and podman write line by line, so a match could read as none.
#
#   prints PATTERN COMMAND [ARG...]
prints() { local pattern="$1" output; shift; output="$("$@" 2>&1)" || true; grep -q -- "$pattern" <<<"$output"; }

# A network namespace with one veth on BRIDGE (in BRIDGE_NETNS, or this namespace) and a default route via GATEWAY:
# how a CNI plugin wires a pod.
pod_netns() {
  local name="$1" address="$2" gateway="$3" bridge="$4" bridge_ns="${5:-}"
  ip netns add "$name"
  ip -n "$name" link set lo up
  in_ns "$bridge_ns" ip link add "v-$name" type veth peer name eth0 netns "$name"
  in_ns "$bridge_ns" ip link set "v-$name" master "$bridge" up
  ip -n "$name" addr add "$address" dev eth0
  ip -n "$name" link set eth0 up
  ip -n "$name" route add default via "$gateway"
}

# nginx in namespace NAME answering "NAME" on port 80 (and 8080), as a web pod would, and at /client the address the
# request came from; its files in /srv/NAME.
web_server() {
  local name="$1" dir="/srv/$1"
  mkdir -p "$dir/tmp"
  cat >"$dir/nginx.conf" <<NGINX
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body; proxy_temp_path $dir/tmp/proxy; fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi; scgi_temp_path $dir/tmp/scgi;
  server {
    listen 80; listen 8080; default_type text/plain;
    location / { return 200 "$name\n"; }
    location /client { return 200 "\$remote_addr\n"; }
  }
}
NGINX
  ip netns exec "$name" nginx -c "$dir/nginx.conf"
}

# A gobgpd route reflector or peer, from a YAML config, API on API_ADDRESS:50051; output in DIR/gobgpd.log.
gobgpd_start() {
  local ns="$1" config="$2" api="$3" dir; dir="$(dirname "$config")"
  # Not through in_ns: a function in the background is a subshell, and its pid is not gobgpd's.
  if [ -n "$ns" ]; then ip netns exec "$ns" gobgpd -t yaml -f "$config" --api-hosts "$api:50051" -p >"$dir/gobgpd.log" 2>&1 &
  else gobgpd -t yaml -f "$config" --api-hosts "$api:50051" -p >"$dir/gobgpd.log" 2>&1 &
  fi
  echo $! >"$dir/gobgpd.pid"
  for _ in $(seq 100); do in_ns "$ns" gobgp -u "$api" neighbor >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "gobgpd did not come up: $(tail -n 5 "$dir/gobgpd.log")" >&2
  return 1
}

# The prefixes gobgpd has from its peers, "PREFIX NEXTHOP" per path, sorted.
gobgp_routes() {
  local ns="$1" api="$2"
  in_ns "$ns" gobgp -u "$api" global rib -j | python3 -c '
import json, sys
rib = json.load(sys.stdin)
for prefix, paths in sorted(rib.items()):
    for path in paths:
        hop = next((a.get("nexthop") for a in path.get("attrs", []) if a.get("type") == 3), "?")
        print(prefix, hop)'
}

# The BGP session states gobgpd sees, "PEER STATE" per neighbour (6 = established).
gobgp_sessions() {
  local ns="$1" api="$2"
  in_ns "$ns" gobgp -u "$api" neighbor -j | python3 -c '
import json, sys
for peer in json.load(sys.stdin):
    state = peer["state"]
    print(state["neighbor_address"], state["session_state"])'
}

# Milliseconds since boot, from the kernel: good for intervals measured inside the VM.
now_ms() { local t; read -r t _ </proc/uptime; echo $(( ${t/./} * 10 )); }

# Waits until CONDITION (a command) holds, polling every 20 ms for at most SECONDS; prints the milliseconds it took.
wait_ms() {
  local seconds="$1"; shift
  local start; start="$(now_ms)"
  while ! "$@" >/dev/null 2>&1; do
    if [ $(( $(now_ms) - start )) -gt $(( seconds * 1000 )) ]; then echo timeout; return 1; fi
    sleep 0.02
  done
  echo $(( $(now_ms) - start ))
}

# Whether gobgpd (API on API) has PREFIX in its table.
has_route() { prints "^ *\*>* *$2" gobgp -u "$1" global rib -a ipv4 "$2"; }
lacks_route() { prints "Network not in table" gobgp -u "$1" global rib -a ipv4 "$2"; }

# After something that should withdraw ROUTE (A.B.C.D/N) and make the pod unready: polls the config file exabgp
# reads, the peer gobgpd (API on API) and READYZ together, for at most SECONDS, and prints when each first showed it
# ("config: MS", "peer: MS", "unready: MS"), counted from the call. One loop, so a short window is not missed
# between slow looks.
watch_withdrawal() {
  local config="$1" route="$2" api="$3" readyz="$4" seconds="$5" start now conf_ms="" peer_ms="" unready_ms=""
  start="$(now_ms)"
  while [ -z "$conf_ms" ] || [ -z "$peer_ms" ] || [ -z "$unready_ms" ]; do
    now="$(now_ms)"
    [ $(( now - start )) -gt $(( seconds * 1000 )) ] && break
    [ -z "$conf_ms" ] && ! grep -q "route $route " "$config" && conf_ms=$(( now - start ))
    [ -z "$unready_ms" ] && [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$readyz")" = 503 ] && unready_ms=$(( $(now_ms) - start ))
    [ -z "$peer_ms" ] && lacks_route "$api" "$route" && peer_ms=$(( $(now_ms) - start ))
  done
  echo "config: ${conf_ms:-timeout}"
  echo "peer: ${peer_ms:-timeout}"
  echo "unready: ${unready_ms:-timeout}"
}

# --- A small cluster's network, host-gw style (ClusterLab.cs): a LAN bridge, nodes on it with a pod bridge each, a
# router between the LAN and the clients, and an uplink to the VM's NIC (where the API server is).

# The LAN: a bridge in this namespace with no address of its own.
lan_up() { ip link add lan0 type bridge; ip link set lan0 up; }

# A namespace with eth0 on the LAN at ADDRESS/24 and (when given) a default route via GATEWAY.
lan_host() {
  local name="$1" address="$2" gateway="${3:-}"
  ip netns add "$name"
  ip -n "$name" link set lo up
  ip link add "l-$name" type veth peer name eth0 netns "$name"
  ip link set "l-$name" master lan0 up
  ip -n "$name" addr add "$address/24" dev eth0
  ip -n "$name" link set eth0 up
  if [ -n "$gateway" ]; then ip -n "$name" route add default via "$gateway"; fi
}

# A node: a LAN host with a pod bridge cni0 at POD_GATEWAY/24 (its pod CIDR) and forwarding on, as kubeadm and a
# bridge CNI plugin leave a node.
node_up() {
  local name="$1" address="$2" router="$3" pod_gateway="$4"
  lan_host "$name" "$address" "$router"
  ip -n "$name" link add cni0 type bridge
  ip -n "$name" addr add "$pod_gateway/24" dev cni0
  ip -n "$name" link set cni0 up
  ip netns exec "$name" sysctl -qw net.ipv4.ip_forward=1
}

# The router: FRR (zebra + bgpd) in namespace NAME, an iBGP client of the route reflector RR in AS AS, with
# ECMP over up to 16 paths and L4 hashing (one client's flows spread by port). CLIENT_SIDE (ADDRESS/LEN): its address
# on a veth to the namespace "client", which gets CLIENT (ADDRESS/LEN) and a default route via the router. UPLINK
# (three octets): a /30 to the VM's own namespace (.1 there, .2 in the router), which masquerades out of eth0 to
# where the API server is.
router_up() {
  local name="$1" address="$2" rr="$3" as="$4" client_side="$5" client="$6" uplink="$7" dir="/run/$1-frr"
  lan_host "$name" "$address"
  ip netns exec "$name" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1
  client_up client "$name" "$client_side" "$client"
  ip link add uplink0 type veth peer name uplink0 netns "$name"
  ip addr add "$uplink.1/30" dev uplink0
  ip link set uplink0 up
  ip -n "$name" addr add "$uplink.2/30" dev uplink0
  ip -n "$name" link set uplink0 up
  ip -n "$name" route add default via "$uplink.1"
  sysctl -qw net.ipv4.ip_forward=1
  nft add table ip uplink
  nft add chain ip uplink postrouting '{ type nat hook postrouting priority 100; }'
  nft add rule ip uplink postrouting oifname eth0 masquerade
  mkdir -p "$dir" && chmod 777 "$dir"
  cat >"$dir/frr.conf" <<CONF
frr defaults traditional
hostname $name
log file $dir/frr.log
!
router bgp $as
 bgp router-id $address
 neighbor $rr remote-as $as
 neighbor $rr timers 1 3
 neighbor $rr timers connect 1
 address-family ipv4 unicast
  maximum-paths ibgp 16
 exit-address-family
exit
CONF
  ip netns exec "$name" /usr/lib/frr/zebra -d -N "$name" -i "$dir/zebra.pid" -z "$dir/zserv.api" --vty_socket "$dir" -A 127.0.0.1 -P 0
  for _ in $(seq 100); do [ -S "$dir/zserv.api" ] && break; sleep 0.1; done
  ip netns exec "$name" /usr/lib/frr/bgpd -d -N "$name" -i "$dir/bgpd.pid" -z "$dir/zserv.api" --vty_socket "$dir" -A 127.0.0.1 -P 0 -f "$dir/frr.conf"
}

# A client NAME behind ROUTER, on a veth of its own: ROUTER_SIDE (ADDRESS/LEN) on the router's end, CLIENT
# (ADDRESS/LEN) on the client's, with its default route via the router.
client_up() {
  local name="$1" router="$2" router_side="$3" client="$4"
  ip netns add "$name"
  ip -n "$name" link set lo up
  ip -n "$router" link add "$name"0 type veth peer name eth0 netns "$name"
  ip -n "$router" addr add "$router_side" dev "$name"0
  ip -n "$router" link set "$name"0 up
  ip -n "$name" addr add "$client" dev eth0
  ip -n "$name" link set eth0 up
  ip -n "$name" route add default via "${router_side%/*}"
}

# A gobgpd route reflector in namespace NAME at ADDRESS (AS AS): passive towards every peer in PEERS (a prefix:
# the pods that announce), and reflecting every path (add-paths) to its client ROUTER.
route_reflector_up() {
  local name="$1" address="$2" as="$3" peers="$4" router="$5" dir="/srv/$1"
  mkdir -p "$dir"
  cat >"$dir/gobgpd.yaml" <<CONF
global:
  config: {as: $as, router-id: $address, port: 179, local-address-list: [$address]}
peer-groups:
  - config: {peer-group-name: pods, peer-as: $as}
    transport: {config: {passive-mode: true}}
    afi-safis:
      - config: {afi-safi-name: ipv4-unicast}
dynamic-neighbors:
  - config: {prefix: $peers, peer-group: pods}
neighbors:
  - config: {neighbor-address: $router, peer-as: $as}
    timers: {config: {hold-time: 3, keepalive-interval: 1, connect-retry: 1}}
    route-reflector: {config: {route-reflector-client: true, route-reflector-cluster-id: $address}}
    afi-safis:
      - config: {afi-safi-name: ipv4-unicast}
        add-paths: {config: {send-max: 255}}
CONF
  gobgpd_start "$name" "$dir/gobgpd.yaml" "$address"
}

# The next hops for ADDRESS in namespace NS's kernel FIB (a router's or a node's), sorted, one per line, each once:
# node-routes puts an LB pod in its nexthop group twice.
next_hops() {
  ip -n "$1" route show "$2" | { grep -o 'via [0-9.]*' || true; } | cut -d' ' -f2 | sort -u
}

# What a kubelet's readiness probe makes of POD: every PERIOD seconds an HTTP GET of URL from namespace NODE; after
# FAILURES misses in a row "False", after a success "True", in DIR/POD.ready. Runs until DIR/POD.ready is removed
# or an hour has passed.
readiness_probe() {
  local pod="$1" node="$2" url="$3" period="$4" failures="$5" dir="$6"
  (
    misses=0
    echo False >"$dir/$pod.ready"
    for _ in $(seq $(( 3600 / period ))); do
      [ -e "$dir/$pod.ready" ] || exit 0
      if [ "$(ip netns exec "$node" curl -s -m 2 -o /dev/null -w '%{http_code}' "$url")" = 200 ]; then
        misses=0; echo True >"$dir/$pod.ready.new"
      else
        misses=$(( misses + 1 )); [ "$misses" -ge "$failures" ] && echo False >"$dir/$pod.ready.new"
      fi
      [ -e "$dir/$pod.ready.new" ] && { [ -e "$dir/$pod.ready" ] && mv "$dir/$pod.ready.new" "$dir/$pod.ready" || rm -f "$dir/$pod.ready.new"; }
      sleep "$period"
    done
  ) >/dev/null 2>&1 &
}

# The clients of HOST:80 from namespace NS (tests/vm/clients.py: new connections every NEW_INTERVAL seconds, LONG
# keep-alive connections with a request every LONG_INTERVAL seconds), until clients_stop REPORT or SECONDS.
clients_start() {
  local ns="$1" host="$2" report="$3" seconds="$4" new_interval="$5" long="$6" long_interval="$7"
  rm -f "$report" "$report.stop"
  ip netns exec "$ns" python3 "$(dirname "${BASH_SOURCE[0]}")/clients.py" "$host" 80 "$seconds" "$report" "$new_interval" "$long" "$long_interval" >"$report.log" 2>&1 &
}

clients_stop() {
  local report="$1"
  touch "$report.stop"
  for _ in $(seq 100); do [ -e "$report" ] && return 0; sleep 0.1; done
  echo "the clients writing $report did not stop: $(tail -n 5 "$report.log")" >&2; return 1
}
