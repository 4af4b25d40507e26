#!/bin/bash
# Runs inside the VM that vm-host.sh boots (PID 1, on an overlay of the host's /), when the host wants a machine to
# drive step by step (VmSession.cs) rather than one script to run to the end. It makes the guest a Linux node with
# what a real one has (cgroup2, netfilter modules, IP forwarding off by default, podman's storage on a local
# filesystem), then answers commands on the virtio-serial port named plb.agent:
#
#   host → guest   RUN ID SECONDS BASE64(SCRIPT)     run SCRIPT with bash, killed after SECONDS
#                  POWEROFF                          sync and power off
#   guest → host   READY                             once, when set up
#                  DONE ID EXIT BASE64(OUTPUT)        stdout and stderr together
#
# One command at a time. A script that starts daemons must send their output elsewhere (>file 2>&1 &): the
# command's output is a file, so a daemon holding it open does not hold up the answer, but its output would be lost.
# The host's results folder (plb.results) is mounted writable at the same path: both sides read and write files there.
set -euo pipefail

arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p"; }
mount -t proc proc /proc
mount -t sysfs sys /sys
mountpoint -q /dev || mount -t devtmpfs dev /dev
# What udev adds on any Linux machine and devtmpfs does not: without /dev/fd, bash's <(…) reads nothing.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup
results="$(arg plb.results)"; modules="$(arg plb.modules)"

# This kernel's modules, loaded on demand through busybox modprobe (a copy in the tmpfs: it must outlive the 9p
# shares at power-off).
mkdir -p /lib/modules /run/netns /tmp/bin
ln -sfn "$modules" "/lib/modules/$(uname -r)"
cp "$modules/../../../bin/busybox" /tmp/bin/busybox
ln -sf busybox /tmp/bin/modprobe
echo /tmp/bin/modprobe >/proc/sys/kernel/modprobe
export PATH="/tmp/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" HOME=/root DOTNET_CLI_TELEMETRY_OPTOUT=1
for module in virtio_console virtio_net; do modprobe "$module"; done

# A node's network: loopback, and (when the host gave one) a user-mode NIC whose only reachable address is the host's
# loopback as 10.0.2.2. No default route: the guest talks to nothing else.
ip link set lo up
if ip link show eth0 >/dev/null 2>&1; then
  ip addr add 10.0.2.15/24 dev eth0
  ip link set eth0 up
  # QEMU's user-mode NIC would carry anything to anywhere through this machine's sockets (a pod's DNS lookup, say):
  # held to 10.0.2.2 here, refused at once otherwise, so nothing leaves the machine and nothing waits on a timeout.
  nft -f - <<'NFT'
table inet vm-nic {
  chain output { type filter hook output priority 0; oifname "eth0" ip daddr != 10.0.2.2 reject with icmpx admin-prohibited; oifname "eth0" meta nfproto ipv6 reject with icmpx admin-prohibited; }
  chain forward { type filter hook forward priority 0; oifname "eth0" ip daddr != 10.0.2.2 reject with icmpx admin-prohibited; oifname "eth0" meta nfproto ipv6 reject with icmpx admin-prohibited; }
}
NFT
fi

# podman's storage on a local filesystem (its overlay layers cannot live on the root overlay over 9p).
mkdir -p /var/lib/containers/storage /run/containers /var/tmp
mount -t tmpfs -o size="${VM_STORAGE:-3g}" tmpfs /var/lib/containers/storage

port=""
for name in /sys/class/virtio-ports/*/name; do
  [ "$(cat "$name")" = plb.agent ] && port="/dev/$(basename "$(dirname "$name")")"
done
[ -n "$port" ] || { echo "vm-agent: no virtio-serial port named plb.agent" >&2; echo o >/proc/sysrq-trigger; }

exec 3<>"$port"
echo READY >&3
output=/tmp/agent-output
while IFS=' ' read -r verb id seconds payload <&3; do
  case "$verb" in
    RUN)
      rc=0
      printf '%s' "$payload" | base64 -d >/tmp/agent-script
      timeout -k 5 "$seconds" bash /tmp/agent-script >"$output" 2>&1 </dev/null || rc=$?
      printf 'DONE %s %s %s\n' "$id" "$rc" "$(base64 -w0 "$output")" >&3
      ;;
    POWEROFF)
      break
      ;;
  esac
done
exec 3>&-
sync
echo o >/proc/sysrq-trigger
exec /tmp/bin/busybox sleep 60
