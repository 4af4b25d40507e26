# Small steps of a lab inside the VM, sourced by the commands the tests send (VmSession): what a node, its pod
# network and the machines around it need. Nothing here knows about PortableLb; the LB pods are the manifests'
# own, run by podman (PodmanPod.cs).
#
#   . tests/vm/lab.sh; pod_netns NAME ADDRESS/LEN GATEWAY BRIDGE [BRIDGE_NETNS]
set -euo pipefail

in_ns() { local ns="$1"; shift; if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi; }

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

# nginx in namespace NAME answering "NAME" on port 80 (and 8080), as a web pod would; its files in /srv/NAME.
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
  server { listen 80; listen 8080; default_type text/plain; location / { return 200 "$name\n"; } }
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
has_route() { gobgp -u "$1" global rib -a ipv4 "$2" 2>/dev/null | grep -q "^ *\*>* *$2"; }
lacks_route() { gobgp -u "$1" global rib -a ipv4 "$2" 2>&1 | grep -q "Network not in table"; }

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
