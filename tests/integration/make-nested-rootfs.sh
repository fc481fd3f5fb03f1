#!/bin/bash
# Build the "nested" root filesystem: a directory that `nestbox run --rootfs`
# boots and in which nestbox itself can run a VM (nestbox inside nestbox).
#
#   make-nested-rootfs.sh OUTDIR NESTBOX_BIN [KERNEL_DIR]
#
# It holds busybox-static, nestbox and nestbox-init from the build tree,
# qemu-system-x86_64 with the shared libraries it and nestbox load (ldd), the
# microvm firmware and the TCG accelerator module (QEMU is modular on Debian),
# and the default kernel as /var/lib/nestbox/kernels/default: its vmlinux,
# modules.dep/builtin, and only the .ko files the initramfs needs (src/boot/
# boot.c) plus vhost_vsock and its closure; a full modules tree is ~400 MB.
#
# Everything is copied, never linked, to the host's paths: the guest sees this
# directory as its whole root. A second call with unchanged inputs is a no-op.
set -euo pipefail

out=${1:?usage: make-nested-rootfs.sh OUTDIR NESTBOX_BIN [KERNEL_DIR]}
nestbox=$(realpath "${2:?usage: make-nested-rootfs.sh OUTDIR NESTBOX_BIN [KERNEL_DIR]}")
kdir=$(realpath "${3:-${NESTBOX_KERNELS:-/var/lib/nestbox/kernels}/default}")
busybox=${BUSYBOX:-/bin/busybox}
qemu=${NESTBOX_QEMU:-$(command -v qemu-system-x86_64 || true)}
bindir=$(dirname "$nestbox")
init=$bindir/src/guest/nestbox-init
[ -x "$init" ] || init=$bindir/nestbox-init

for f in "$busybox" "$qemu" "$nestbox" "$init" "$kdir/vmlinux" "$kdir/version"; do
	[ -e "$f" ] || { echo "make-nested-rootfs: $f: not found" >&2; exit 1; }
done
kver=$(cat "$kdir/version")
moddir=$kdir/lib/modules/$kver
qemu=$(realpath "$qemu")
qemu_prefix=$(dirname "$(dirname "$qemu")")
tcg_mod=$qemu_prefix/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so
firmware=$qemu_prefix/share/qemu/bios-microvm.bin

stamp=$(sha256sum "$0" "$busybox" "$qemu" "$nestbox" "$init" "$kdir/version" | sha256sum | cut -c1-64)
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
	exit 0
fi
rm -rf "$out"
mkdir -p "$out"
root=$(realpath "$out")

# Debian's merged /usr: /bin, /lib, /lib64, /sbin point into /usr.
mkdir -p "$root"/usr/{bin,sbin,lib,lib64} "$root"/{etc,proc,sys,dev,tmp,run,root,var/lib/nestbox}
chmod 1777 "$root/tmp"
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done

cp "$busybox" "$root/usr/bin/busybox"
for applet in $("$busybox" --list); do
	[ -e "$root/usr/bin/$applet" ] || ln -s busybox "$root/usr/bin/$applet"
done
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
EOF
echo 'root:x:0:' >"$root/etc/group"

# nb_init_path() finds nestbox-init next to the nestbox binary.
cp "$nestbox" "$root/usr/bin/nestbox"
cp "$init" "$root/usr/bin/nestbox-init"
cp "$qemu" "$root/usr/bin/qemu-system-x86_64"
mkdir -p "$root/usr/share/qemu" "$root/usr/lib/x86_64-linux-gnu/qemu"
cp "$firmware" "$root/usr/share/qemu/"
sofiles=()
if [ -f "$tcg_mod" ]; then
	cp "$tcg_mod" "$root/usr/lib/x86_64-linux-gnu/qemu/"
	sofiles+=("$tcg_mod")
fi

# Every library the three programs load, at the path the loader asks for.
for lib in $(ldd "$nestbox" "$qemu" "${sofiles[@]}" 2>/dev/null |
	     awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $1 !~ /:$/ {print $1}' | sort -u); do
	dest=$root/usr${lib#/usr}
	mkdir -p "$(dirname "$dest")"
	[ -e "$dest" ] || cp -L "$lib" "$dest"
done

# The kernel: vmlinux and the modules the initramfs is built from.
kout=$root/var/lib/nestbox/kernels/$kver
mkdir -p "$kout/lib/modules/$kver"
ln -s "$kver" "$root/var/lib/nestbox/kernels/default"
cp "$kdir/version" "$kdir/vmlinux" "$kout/"
cp "$moddir/modules.dep" "$moddir/modules.builtin" "$kout/lib/modules/$kver/"
for f in modules.order modules.alias modules.builtin.modinfo; do
	[ -f "$moddir/$f" ] && cp "$moddir/$f" "$kout/lib/modules/$kver/"
done
want="virtio_mmio virtio_console fuse overlay virtio_rng virtio_net vhost_vsock
	vmw_vsock_virtio_transport vsock tun virtio_pci"
for m in $want; do
	# modules.dep names the module's path, then its whole dependency closure.
	awk -v m="$m" -F: '{
		n = $1; sub(/.*\//, "", n); sub(/\.ko.*/, "", n); gsub(/-/, "_", n)
		if (n == m) { print $1; k = split($2, d, " "); for (i = 1; i <= k; i++) print d[i] }
	}' "$moddir/modules.dep"
done | sort -u | while read -r ko; do
	mkdir -p "$(dirname "$kout/lib/modules/$kver/$ko")"
	cp "$moddir/$ko" "$kout/lib/modules/$kver/$ko"
done

# modprobe (busybox's) looks in /lib/modules/$(uname -r): vhost_vsock is
# one `modprobe vhost_vsock` away, for a nestbox inside that wants vsock.
mkdir -p "$root/usr/lib/modules"
ln -s "/var/lib/nestbox/kernels/$kver/lib/modules/$kver" "$root/usr/lib/modules/$kver"

echo "$stamp" >"$root/.stamp"
