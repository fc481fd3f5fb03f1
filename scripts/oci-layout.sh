# shellcheck shell=bash
# Sourced, not run: packs a root tree as a one-layer OCI image layout, the
# way scripts/make-demo.sh and tests/make-system-image.sh both need it.
# Reproducible: sorted entries, mtime 0, owner 0, no compressor timestamp,
# so the same tree gives the same digests. A script that sources this file
# must put it in its cache key: a change here changes the layout.
#
#   oci_layout OUT ROOT COMPRESSION CONFIG CREATED_BY [TAR_OPTION...]
#
#   OUT          a directory to create (it must not exist): the layout,
#                one manifest tagged "latest"
#   ROOT         the tree to pack (the layer is ROOT's contents)
#   COMPRESSION  gzip or zstd: the layer's compression and media type
#   CONFIG       the JSON object that is the image config's "config"
#                (Entrypoint, Cmd, Env, ...)
#   CREATED_BY   the history entry's created_by
#   TAR_OPTION   more options for tar (e.g. --xattrs)

# oci_put OUT FILE -> prints "DIGEST SIZE" after moving FILE into OUT's blobs.
oci_put() {
	local d s
	d=$(sha256sum "$2" | cut -d' ' -f1)
	s=$(stat -c %s "$2")
	mv "$2" "$1/blobs/sha256/$d"
	echo "$d $s"
}

# oci_layout OUT ROOT COMPRESSION CONFIG CREATED_BY [TAR_OPTION...] (above).
oci_layout() {
	local out=$1 root=$2 comp=$3 config=$4 created_by=$5
	shift 5
	local layer diff_id layer_d layer_s cfg_d cfg_s man_d man_s
	case $comp in
	gzip | zstd) ;;
	*) echo "oci-layout: $comp: unknown compression (gzip or zstd)" >&2; return 1 ;;
	esac
	[ ! -e "$out" ] || { echo "oci-layout: $out: already exists" >&2; return 1; }
	mkdir -p "$out/blobs/sha256"
	layer=$out/blobs/layer.tar
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner "$@" \
		-C "$root" -cf "$layer" .
	diff_id=$(sha256sum "$layer" | cut -d' ' -f1)
	if [ "$comp" = gzip ]; then
		gzip -n -9 "$layer" && layer=$layer.gz
	else
		zstd -q -T0 -3 --rm "$layer" && layer=$layer.zst
	fi
	read -r layer_d layer_s < <(oci_put "$out" "$layer")

	cat >"$out/blobs/config.json" <<EOF
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",
 "config":$config,
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]},
 "history":[{"created":"1970-01-01T00:00:00Z","created_by":"$created_by"}]}
EOF
	read -r cfg_d cfg_s < <(oci_put "$out" "$out/blobs/config.json")

	cat >"$out/blobs/manifest.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$cfg_d","size":$cfg_s},
 "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+$comp","digest":"sha256:$layer_d","size":$layer_s}]}
EOF
	read -r man_d man_s < <(oci_put "$out" "$out/blobs/manifest.json")

	echo '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
	cat >"$out/index.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
 "manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$man_d","size":$man_s,
  "annotations":{"org.opencontainers.image.ref.name":"latest"}}]}
EOF
}
