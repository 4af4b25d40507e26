# L2 mode with real IPVS (L2VmTests), sourced by vm-guest.sh after its set-up when its mode is l2. A cluster's
# shape in network namespaces: nodes n1..n3 on one segment (a bridge in `sw`), pod networks 10.244.N.0/24 routed
# host-gw between the nodes, two web pods on the worker n3's pod bridge, and a client on the segment. LB pods run
# on n1 and n2 as the L2 overlay runs them: in the node's namespace, `portable-lb run` supervising keepalived, which
# holds the VIP by VRRP and balances it with IPVS. Each check appends PASS|FAIL to checks.txt; the failover numbers
# go to l2.txt as "SCENARIO failed=N of=M moved_ms=T".
vip=172.18.0.200

step "l2 topology: segment 172.18.0.0/24 (client .100, n1..n3 .2-.4), pods 10.244.N.0/24 behind each node"
modprobe ip_vs
ip netns add sw; ip -n sw link set lo up
ip -n sw link add br0 type bridge; ip -n sw link set br0 up
plug() { # plug NS PORT HOST: NS's eth0 is a port of the segment, at 172.18.0.HOST
  ip netns add "$1"; ip -n "$1" link set lo up
  ip -n sw link add "$2" type veth peer name eth0 netns "$1"
  ip -n sw link set "$2" master br0 up
  ip -n "$1" addr add "172.18.0.$3/24" dev eth0; ip -n "$1" link set eth0 up
}
plug client cl 100
for n in 1 2 3; do
  plug "n$n" "p$n" $((n + 1))
  ip netns exec "n$n" sysctl -qw net.ipv4.ip_forward=1
done
# What the L2 overlay asks of the LB nodes (a host-network pod cannot set them).
for n in 1 2; do
  ip netns exec "n$n" sysctl -qw net.ipv4.vs.conntrack=1 net.ipv4.vs.expire_nodest_conn=1 net.ipv4.vs.expire_quiescent_template=1
done
for n in 1 2 3; do for m in 1 2 3; do
  [ "$n" = "$m" ] || ip -n "n$n" route add "10.244.$m.0/24" via "172.18.0.$((m + 1))"
done; done

# On a worker, so a failed LB node takes no web pod with it (that would be a second failure, which keepalived's
# health checks handle, not VRRP).
step "web pods: web1 and web2 on n3's pod bridge (nginx: its name on /, the source address it sees on /client)"
# shellcheck source=tests/vm/lab.sh
source "$(dirname "${BASH_SOURCE[0]}")/lab.sh"
ip -n n3 link add cni0 type bridge; ip -n n3 addr add 10.244.3.1/24 dev cni0; ip -n n3 link set cni0 up
pod_netns web1 10.244.3.10/24 10.244.3.1 cni0 n3; web_server web1
pod_netns web2 10.244.3.11/24 10.244.3.1 cni0 n3; web_server web2

step "manifests: Service web at $vip, its slice, the two LB pods (ready), the L2 tuning"
objects=/srv/l2-objects; mkdir -p "$objects"
cat >"$objects/objects.yaml" <<YAML
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default, annotations: {portable-lb.io/addresses: "$vip"}}
spec: {type: LoadBalancer, loadBalancerClass: portable-lb.io/ipvs, ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 80}]
endpoints: [{addresses: [10.244.3.10]}, {addresses: [10.244.3.11]}]
---
apiVersion: v1
kind: Pod
metadata: {name: lb-1, namespace: portable-lb, labels: {app.kubernetes.io/name: portable-lb}}
spec: {nodeName: node-1, hostNetwork: true}
status: {podIP: 172.18.0.2, conditions: [{type: Ready, status: "True"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: lb-2, namespace: portable-lb, labels: {app.kubernetes.io/name: portable-lb}}
spec: {nodeName: node-2, hostNetwork: true}
status: {podIP: 172.18.0.3, conditions: [{type: Ready, status: "True"}]}
YAML
# Health checks as the shipped tuning has them (3 s connect timeout, 2 retries).
cat >/srv/l2-tuning.yaml <<'YAML'
mode: l2
virtualServer: {scheduler: rr, delayLoop: 2, healthCheck: {type: tcp, connectTimeout: 3, retry: 2, delayBeforeRetry: 1}}
l2: {advertInterval: 1, preemptDelay: 5}
status: {ipMode: Proxy}
YAML

lb_start() { # lb_start N: the LB pod on node N, as the overlay's DaemonSet runs it (withdraw grace and drain 0)
  mkdir -p "/run/plb$1"
  ip netns exec "n$1" "${portable_lb[@]}" run --objects "$objects" --tuning /srv/l2-tuning.yaml \
    --node-ip "172.18.0.$(($1 + 1))" --pod-ip "172.18.0.$(($1 + 1))" --pod-name "lb-$1" \
    --config-dir "/run/plb$1" --keepalived supervise --keepalived-pidfile "/run/plb$1/keepalived.pid" --exabgp-pidfile "/run/plb$1/exabgp.pid" \
    --listen 127.0.0.1:9101 --debounce 10 --withdraw-grace 0 --drain-limit 0 --data-plane on >>"$results/lb$1.log" 2>&1 &
  controllers[$1]=$!
}
declare -a controllers
step "portable-lb run on n1 and n2: supervised keepalived (IPVS and VRRP), data plane on"
lb_start 1; lb_start 2

# A node whose link is down holds nothing the segment can reach, whatever its eth0 still carries.
holders() { local n; for n in 1 2; do ip -n "n$n" -br addr show dev eth0 up | grep -q " $vip/32" && echo -n "n$n "; done; true; }
until_held_by() { # until_held_by TIMEOUT_S NODE: NODE alone holds the VIP
  local deadline=$((SECONDS + $1))
  while [ $SECONDS -lt $deadline ]; do [ "$(holders)" = "$2 " ] && return 0; sleep 0.05; done
  return 1
}
requests() { # requests PATH N → what answered, sorted and unique
  for _ in $(seq "$2"); do ip netns exec client curl -sS -m 3 "http://$vip$1" 2>>"$results/requests.log" || true; done | sort -u | tr '\n' ' '
}

# The master the assignment names, from what the pods rendered (both render the same masters).
until [ -s /run/plb1/ipvs.conf ] && grep -q "master lb-" /run/plb1/ipvs.conf || [ $SECONDS -gt 600 ]; do sleep 1; done
master="n$(sed -n 's/^# default\/web: master lb-\([0-9]\)$/\1/p' /run/plb1/ipvs.conf)"
backup="n$((3 - ${master#n}))"
check "both LB pods render the same master for $vip ($master)" bash -c "grep -q 'master lb-${master#n}' /run/plb2/ipvs.conf"
check "$master alone holds $vip, as its assignment names" until_held_by 300 "$master"
check "ipvsadm -Ln on $master: TCP $vip:80 rr, both web pods Masq" \
  bash -c "ip netns exec $master ipvsadm -Ln | tee '$results/ipvsadm-l2.txt' | grep -q '^TCP  $vip:80 rr' && [ \$(grep -cE '10.244.3.1[01]:80 +Masq' '$results/ipvsadm-l2.txt') -eq 2 ]"
# datapath NODE FILE: what NODE's data path and the client's neighbours look like now, a failure's context.
datapath() {
  { echo "# $1"; ip netns exec "$1" nft list table inet portable_lb; ip netns exec "$1" ipvsadm -Ln --stats
    ip netns exec "$1" ipvsadm -Lnc; ip -n client neigh; ip -n "$1" -br addr; tail -5 "$results/requests.log"; } >"$results/$2" 2>&1 || true
}
seen="$(requests / 12)"
datapath "$master" l2-datapath.txt
check "requests from the client to $vip reach web1 and web2 (got: $seen)" test "$seen" = "web1 web2 "
seen="$(requests /client 8)"
check "the web pods see an LB node's address, not the client's (got: $seen)" bash -c "[ -n '$seen' ] && ! grep -q 172.18.0.100 <<<'$seen'"

# load SECONDS FILE: a new connection per request from the client to the VIP, "START_MS HTTP_CODE curl-exit=RC" per line.
load() {
  local end=$((SECONDS + $1)) t0 code rc
  while [ $SECONDS -lt $end ]; do
    t0="$(now_ms)"
    code="$(ip netns exec client curl -s -o /dev/null -w '%{http_code}' -m 2 "http://$vip/")" && rc=0 || rc=$?
    echo "$t0 ${code:-000} curl-exit=$rc" >>"$2"
    sleep 0.05
  done
}
# failover SCENARIO NODE_TO GO_COMMAND...: load for 30 s, GO after 5 s, time until NODE_TO alone holds the VIP;
# every request started a second after that must succeed.
failover() {
  local scenario="$1" to="$2" log="$results/load-$1.txt" t0 moved failed total late; shift 2
  : >"$log"
  load 30 "$log" & local loader=$!
  sleep 5
  t0="$(now_ms)"
  "$@"
  if until_held_by 60 "$to"; then moved=$(($(now_ms) - t0)); else moved=timeout; fi
  wait "$loader"
  datapath "$to" "l2-datapath-$scenario.txt"
  failed="$(awk '$2 != 200' "$log" | wc -l)"; total="$(wc -l <"$log")"
  late="$(awk -v t=$((t0 + ${moved/timeout/60000} + 1000)) '$1 >= t && $2 != 200' "$log" | wc -l)"
  echo "$scenario failed=$failed of=$total moved_ms=$moved" >>"$results/l2.txt"
  awk -v t0="$t0" '$2 != 200 { print "  a request started at", $1 - t0, "ms failed:", $2, $3 }' "$log" >>"$results/l2.txt"
  check "$scenario: $to holds $vip after $moved ms; $failed of $total requests failed, none started after the move" test "$late" -eq 0 -a "$moved" != timeout
}
stop_pod() { kill -TERM "${controllers[${1#n}]}"; }
fail_node() { # the node is lost: everything of its LB pod dies at once, and its link goes down
  ip netns pids "$1" | xargs -r kill -9 || true
  ip -n "$1" link set eth0 down
}

step "a rolling update's step: the master's LB pod stops (SIGTERM), its VIP moves to $backup"
failover stop "$backup" stop_pod "$master"
step "the pod comes back: after preemptDelay it takes its VIP back"
lb_start "${master#n}"
check "$master holds $vip again once it is back" until_held_by 300 "$master"
step "the master's node fails: $backup takes $vip after 3 adverts"
failover node-failure "$backup" fail_node "$master"
cp -r /run/plb1 /run/plb2 "$results/" 2>/dev/null || true
