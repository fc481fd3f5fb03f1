#!/bin/bash
# Build the bootable test image for `nestbox run --system`: Debian 12 from
# Debian's own packages (mmdebstrap), systemd as init, openssh-server, and
# Debian's kernel placed where bootc images carry it,
# /usr/lib/modules/VERSION/vmlinuz. Written as an OCI image layout, tag
# "latest", one layer.
#
#   tests/make-system-image.sh OUTDIR   -> OUTDIR is an OCI layout; prints it
#
# Cached: OUTDIR/.stamp holds a key made of this script, the OCI packing it
# sources (scripts/oci-layout.sh) and the candidate version of every package
# on the list (apt-cache policy, no network); a second call with the same
# key is a no-op. The .debs are kept in
# OUTDIR.debs, so a rebuild after an edit of this script downloads nothing.
#
# What the image has and why:
#   - no ssh host keys (openssh-server's postinst makes some; they are
#     deleted): nestbox generates them on the host and injects them, as a
#     bootc image leaves them to first boot;
#   - no initramfs (update-initramfs is diverted while the kernel installs):
#     nestbox builds its own;
#   - the kernel's modules trimmed to what a virtual machine can use (no
#     GPU, sound, wireless, media, ... drivers), depmod run again, so the
#     image is ~90 MB of layer instead of ~400 MB;
#   - no docs, man pages or locales.
set -euo pipefail

out=${1:?usage: make-system-image.sh OUTDIR}
PKGS=(systemd-sysv udev dbus openssh-server linux-image-amd64 iproute2 procps)

# The OCI packing is shared with scripts/make-demo.sh; it is part of the key.
lib=$(dirname "$0")/../scripts/oci-layout.sh
# shellcheck source=scripts/oci-layout.sh
. "$lib"

command -v mmdebstrap >/dev/null ||
	{ echo "make-system-image: mmdebstrap: not found (scripts/deps.sh installs it)" >&2; exit 1; }

# linux-image-amd64 is a metapackage; its versioned kernel package decides
# the kernel, so it is part of the key too.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1)
[ -n "$kpkg" ] || { echo "make-system-image: cannot resolve linux-image-amd64 (no apt lists? apt-get update)" >&2; exit 1; }
kver=${kpkg#linux-image-}
key=$( { sha256sum "$0" "$lib" | cut -d' ' -f1
	apt-cache policy "${PKGS[@]}" "$kpkg" |
		awk '/^[^ ]/ { p = $1 } /^ *Candidate:/ { print p $2 }'; } | sha256sum | cut -c1-64)
if [ -f "$out/index.json" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$key" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$(dirname "$out")"
work=$(mktemp -d "$(dirname "$out")/.system-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
debs="$out.debs"
mkdir -p "$debs"
root=$work/rootfs

# The host's own apt sources (deb822), so the image gets exactly the
# archive (and snapshot) the host is configured for.
sources=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$sources" ] || sources=$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$sources" ] || { echo "make-system-image: no apt sources on this host" >&2; exit 1; }

# shellcheck disable=SC2016 # the hooks are expanded by mmdebstrap's shell
printf '%s\n' "$sources" | mmdebstrap --quiet --variant=apt --mode=root \
	--include="$(IFS=,; echo "${PKGS[*]}")" \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--skip=download/empty --skip=essential/unlink \
	--setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
	--setup-hook="sync-in $debs /var/cache/apt/archives" \
	--essential-hook='chroot "$1" dpkg-divert --quiet --local --rename --divert /usr/sbin/update-initramfs.nestbox --add /usr/sbin/update-initramfs' \
	--essential-hook='printf "#!/bin/sh\nexit 0\n" >"$1/usr/sbin/update-initramfs" && chmod 755 "$1/usr/sbin/update-initramfs"' \
	--customize-hook="sync-out /var/cache/apt/archives $debs" \
	--customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
	--customize-hook='rm -f "$1/usr/sbin/update-initramfs" && chroot "$1" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs' \
	bookworm "$root" -

# The kernel where bootc images carry it; /boot emptied.
mods=$root/usr/lib/modules/$kver
[ -d "$mods" ] || { echo "make-system-image: $kpkg installed no $mods" >&2; exit 1; }
mv "$root/boot/vmlinuz-$kver" "$mods/vmlinuz"
rm -rf "${root:?}"/boot/* "$root"/vmlinuz* "$root"/initrd.img*
for d in drivers/gpu drivers/media drivers/net/wireless drivers/net/ethernet drivers/infiniband \
	drivers/staging drivers/scsi drivers/usb drivers/bluetooth drivers/isdn drivers/iio \
	drivers/hwmon drivers/mmc drivers/mtd drivers/nfc drivers/thunderbolt drivers/video \
	drivers/net/can drivers/net/usb drivers/net/wwan drivers/net/ieee802154 drivers/atm \
	drivers/hid drivers/input drivers/leds drivers/power drivers/platform drivers/misc \
	drivers/md drivers/target drivers/nvme drivers/ata drivers/firewire drivers/pcmcia \
	drivers/edac drivers/crypto drivers/spi drivers/i2c drivers/gnss drivers/fpga \
	sound net/wireless net/mac80211 net/bluetooth fs/nfs fs/nfsd fs/ceph fs/smb fs/ocfs2 \
	fs/gfs2 fs/xfs fs/btrfs fs/f2fs; do
	rm -rf "${mods:?}/kernel/$d"
done
depmod -b "$root" "$kver"

# Host keys are the host's to make; nothing machine-specific stays.
rm -f "$root"/etc/ssh/ssh_host_*
: >"$root/etc/machine-id"
rm -rf "${root:?}"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log \
	"$root"/var/cache/ldconfig/aux-cache

oci_layout "$work/oci" "$root" zstd \
	'{"Cmd":["/sbin/init"],
  "Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
  "Labels":{"containers.bootc":"1","ostree.bootable":"1"}}' \
	"tests/make-system-image.sh ($kpkg)" --xattrs
echo "$kver" >"$work/oci/.kernel"
echo "$key" >"$work/oci/.stamp"
rm -rf "$out"
mv "$work/oci" "$out"
echo "$out"
