#!/bin/bash
# Install, with apt-get, whatever nestbox needs to build, test and run that is
# missing. Idempotent and quick when everything is there (one dpkg-query).
set -euo pipefail

PKGS=(
	# build
	meson ninja-build pkg-config gcc clang musl-tools
	libjson-c-dev libcurl4-openssl-dev libarchive-dev libssl-dev libcmocka-dev
	libfuse3-dev
	# run: QEMU, the default guest kernel's tooling, FUSE
	qemu-system-x86 kmod cpio xz-utils zstd fuse3 ca-certificates
	# docs, lint
	scdoc clang-tidy cppcheck
	# tests and peers for benchmarks
	python3 python3-pytest python3-pytest-timeout busybox-static sshfs
	docker-registry skopeo umoci apache2-utils debootstrap openssh-server
	# pjdfstest (tests/integration/test_pjdfstest.py builds it from its tarball)
	autoconf automake libtool perl
	# the bootable Debian test image for run --system (tests/make-system-image.sh)
	mmdebstrap openssh-client
)

missing=()
while read -r name status; do
	[ "$status" = "installed" ] || missing+=("$name")
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PKGS[@]}" 2>/dev/null || true)
# dpkg-query prints nothing for packages it has never heard of.
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed ||
		[[ " ${missing[*]} " == *" $p "* ]] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${missing[*]} (run as root, or apt-get install them)" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# docker-registry starts a system service on :5000 when installed; tests run
# their own instance on a free loopback port instead.
systemctl disable --now docker-registry >/dev/null 2>&1 || true
