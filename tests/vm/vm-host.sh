#!/usr/bin/env bash
# Boots Debian's own kernel (which has IPVS; this machine's does not) under QEMU and runs a guest script in it.
# The guest sees the host's / read-only over 9p with a tmpfs overlay on top, so every program installed here
# (keepalived, ipvsadm, dotnet, portable-lb's build) runs there unchanged; results come back through a second,
# writable 9p share. No network device: the guest's traffic stays in namespaces inside the guest.
#
#   vm-host.sh CACHE_DIR RESULTS_DIR GUEST_SCRIPT [GUEST_ARGS...]
#
# CACHE_DIR keeps the downloaded kernel and busybox between runs. Exit code: the guest script's.
# Environment: VM_MEMORY (MiB, default 2048), VM_TIMEOUT (s, default 600), VM_AGENT (a unix socket path: adds a
# virtio-serial port named plb.agent there, for tests/vm/vm-agent.sh), VM_NET=user (adds a user-mode NIC: the guest
# reaches this machine's loopback as 10.0.2.2 and nothing else it does not route itself).
set -euo pipefail

cache="$(realpath -m "$1")"; results="$(realpath -m "$2")"; guest="$(realpath "$3")"; shift 3
guest_args="$*"
mkdir -p "$cache" "$results"
rm -f "$results/exit-code"
step() { echo "== vm: $*" >&2; }

step "fetch: Debian's kernel and busybox-static as .deb files (apt-get download, never installed here)"
if [ ! -f "$cache/kernel.ready" ]; then
  kernel_package="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')"
  (cd "$cache" && apt-get download "$kernel_package" busybox-static >/dev/null 2>&1)
  rm -rf "$cache/root" && mkdir -p "$cache/root"
  for deb in "$cache"/*.deb; do dpkg-deb -x "$deb" "$cache/root"; done
  rm -f "$cache"/*.deb
  version="$(ls "$cache/root/lib/modules")"
  step "depmod: the package ships no modules.dep"
  "$cache/root/bin/busybox" depmod -b "$cache/root" "$version"
  echo "$version" >"$cache/kernel.ready"
fi
version="$(cat "$cache/kernel.ready")"
busybox="$cache/root/bin/busybox"
modules="$cache/root/lib/modules/$version"

step "initramfs: busybox, the modules for virtio, 9p and overlayfs, and an /init that mounts the host and switches root"
initrd="$cache/initramfs-$(sha256sum "$0" | cut -c1-12).cpio"
if [ ! -f "$initrd" ]; then
  staging="$(mktemp -d)"
  mkdir -p "$staging"/{bin,proc,sys,dev,mnt/lower,mnt/upper,newroot,lib/modules/"$version"}
  cp "$busybox" "$staging/bin/busybox"
  for module in virtio_pci 9pnet_virtio 9p overlay; do
    for file in $(awk -v m="/$module.ko:" 'index($0, m) { sub(":", ""); print }' "$modules/modules.dep"); do
      mkdir -p "$staging/lib/modules/$version/$(dirname "$file")"
      cp "$modules/$file" "$staging/lib/modules/$version/$file"
    done
  done
  cp "$modules/modules.dep" "$staging/lib/modules/$version/"
  cat >"$staging/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for module in virtio_pci 9pnet_virtio 9p overlay; do modprobe "$module"; done
arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p"; }
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 hostroot /mnt/lower
mount -t tmpfs -o size=2g tmpfs /mnt/upper
mkdir -p /mnt/upper/upper /mnt/upper/work
mount -t overlay overlay -o lowerdir=/mnt/lower,upperdir=/mnt/upper/upper,workdir=/mnt/upper/work /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 results "/newroot$(arg plb.results)"
exec switch_root /newroot /bin/sh -c "exec /bin/bash $(arg plb.guest) $(arg plb.args | tr ',' ' ')"
INIT
  chmod +x "$staging/init"
  (cd "$staging" && find . | "$busybox" cpio -o -H newc >"$initrd" 2>/dev/null)
  rm -rf "$staging"
fi

step "accelerator: KVM only where a real kvm_intel/kvm_amd works, else QEMU's software emulation"
accel=(-accel tcg,thread=multi -cpu max)
if [ -w /dev/kvm ] && grep -qE '\b(vmx|svm)\b' /proc/cpuinfo; then accel=(-accel kvm -cpu host); fi

devices=()
if [ -n "${VM_AGENT:-}" ]; then
  devices+=(-device virtio-serial-pci -chardev "socket,id=agent,path=$VM_AGENT,server=on,wait=off" -device virtserialport,chardev=agent,name=plb.agent)
fi
if [ "${VM_NET:-}" = user ]; then devices+=(-netdev user,id=net0 -device virtio-net-pci,netdev=net0); fi

step "boot: $version, ${accel[1]}, guest ${guest##*/} $guest_args"
timeout "${VM_TIMEOUT:-600}" qemu-system-x86_64 "${accel[@]}" -m "${VM_MEMORY:-2048}" -smp 2 "${devices[@]}" \
  -nodefaults -display none -serial stdio -no-reboot \
  -kernel "$cache/root/boot/vmlinuz-$version" -initrd "$initrd" \
  -append "console=ttyS0 quiet panic=-1 plb.guest=$guest plb.results=$results plb.args=${guest_args// /,} plb.modules=$modules" \
  -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
  -virtfs "local,path=$results,mount_tag=results,security_model=none" \
  | tee "$results/console.log" >&2 || true

[ -f "$results/exit-code" ] || { echo "vm: the guest did not report an exit code (see $results/console.log)" >&2; exit 97; }
exit "$(cat "$results/exit-code")"
