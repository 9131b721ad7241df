#!/usr/bin/env bash
# CI for deploy/: the container image built without a Docker engine and
# checked, then the Helm chart, manifests, alerts and dashboard checked
# offline. Run from anywhere: bash deploy/ci.sh. About two minutes on two
# cores with a warm module cache.
#
# The image is of the commit (HEAD, exported with git archive), not of the
# working tree: its digest must be the same for everyone who builds that
# commit. IMAGE_OUT=dir keeps the OCI layout and the tarball there.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=${IMAGE_OUT:-$work/out}
mkdir -p "$out"

commit=$(git rev-parse HEAD)
# The commit's time, not the clock's: the image's file times and config
# dates come from it, so that the digest depends on the commit alone.
date=$(TZ=UTC git show -s --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ HEAD)
version=${VERSION:-$(git describe --tags --match 'v*' --exact-match 2>/dev/null || echo "v0.0.0-$(TZ=UTC git show -s --format=%cd --date=format-local:%Y%m%d%H%M%S HEAD)-${commit:0:12}")}
echo "==> image of $commit ($version, $date)"

# build SRC BINARY: the static connector from an export of HEAD in SRC.
build() {
  mkdir -p "$1"
  git archive "$commit" | tar -x -C "$1"
  (cd "$1" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X main.version=$version -X main.commit=$commit -X main.date=$date" \
    -o "$2" ./cmd/connector)
}

# image BINARY OCI TARBALL: the image of BINARY; prints its digest.
image() {
  go -C deploy/image run . build -binary "$1" -version "$version" -revision "$commit" \
    -created "$date" -tag "bulkstream/connector:$version" -oci "$2" ${3:+-tarball "$3"}
}

echo "==> static binary with version stamps"
build "$work/src1" "$work/connector"
digest=$(image "$work/connector" "$out/oci" "$out/bulkstream-connector.tar")
echo "image $digest: $out/oci (OCI layout), $out/bulkstream-connector.tar (crane push / docker load)"

echo "==> the image holds the binary, runs as non-root, labels name the commit; the tarball holds the same image"
go -C deploy/image run . check -oci "$out/oci" -tarball "$out/bulkstream-connector.tar" -revision "$commit" -extract "$work/rootfs"

echo "==> connector version, run inside the image's root file system as its user"
if [ "$(id -u)" = 0 ] && command -v chroot >/dev/null; then
  # No shell, no libc in there: this runs only if the binary is static.
  printed=$(chroot --userspec=65532:65532 "$work/rootfs" /usr/local/bin/connector version)
else
  echo "(not root: running the extracted binary without chroot)"
  printed=$("$work/rootfs/usr/local/bin/connector" version)
fi
echo "$printed"
case "$printed" in
  *"commit $commit"*) ;;
  *) echo "connector version does not print the commit $commit"; exit 1 ;;
esac

echo "==> reproducible: a second build from another directory gives the same digest"
# REPRO_COLD=1 compiles the second binary with an empty build cache (three
# more minutes on two cores); by default it comes from the build cache,
# which -trimpath keys without the directory, and the comparison checks the
# image's own build.
if [ "${REPRO_COLD:-0}" = 1 ]; then
  GOCACHE="$work/gocache" build "$work/src2" "$work/connector2"
else
  build "$work/src2" "$work/connector2"
fi
again=$(image "$work/connector2" "$work/oci2")
if [ "$digest" != "$again" ]; then
  echo "digests differ: $digest and $again"
  cmp "$work/connector" "$work/connector2" || echo "(the binaries differ)"
  exit 1
fi
echo "both $digest"

echo "==> deploy/image tests"
go -C deploy/image vet ./...
go -C deploy/image test ./...

echo "==> deploy/validate: Helm lint and template, rendered manifests against the Kubernetes schemas, kustomize manifests, alerts, dashboard, Dockerfile"
go -C deploy/validate vet ./...
go -C deploy/validate test ./...
