#!/usr/bin/env bash
# Builds the Kubernetes server binaries a single-node test cluster needs
# (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet) from Debian 12's
# own source package: no registry ships them and the Go module proxy is not reachable
# here. About 13 min cold on 2 cores; the binaries are cached per Debian version, so
# only the first run on a machine pays. Prints the directory holding them.
#
# Kubernetes 1.20 is old, but the pod, exec, log and delete APIs the runner uses are
# stable; the runner is written for current clusters and tested against this one.
set -euo pipefail

log() { printf '[k8s-build] %s\n' "$*" >&2; }

cache_root="${GT_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gastown/kubernetes}"
binaries=(kube-apiserver kube-controller-manager kube-scheduler kubelet)
here="$(cd "$(dirname "$0")" && pwd)"

export DEBIAN_FRONTEND=noninteractive
need=()
command -v rsync >/dev/null || need+=(rsync)
[ -x /usr/lib/go-1.19/bin/go ] || need+=(golang-1.19-go)
command -v dpkg-source >/dev/null || need+=(dpkg-dev)
if [ ! -f /etc/apt/sources.list.d/gastown-src.sources ]; then
  # The source package needs a deb-src line; the machine has only binary ones.
  cat >/etc/apt/sources.list.d/gastown-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq
elif [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
fi
[ "${#need[@]}" -gt 0 ] && apt-get install -y -qq "${need[@]}" >/dev/null

version="$(apt-cache showsrc kubernetes | awk '/^Version:/ {print $2; exit}')"
[ -n "$version" ] || { log "no kubernetes source package in apt"; exit 1; }
out="$cache_root/$version"
if [ -n "$(ls "$out" 2>/dev/null)" ] && for b in "${binaries[@]}"; do [ -x "$out/$b" ] || exit 1; done; then
  log "cached: $out"
  echo "$out"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
log "fetching the kubernetes $version source package"
apt-get source --download-only -qq kubernetes >/dev/null
orig="$(ls kubernetes_*.orig.tar.* | head -1)"
export GOPATH="$work/go"
src="$GOPATH/src/k8s.io/kubernetes"
mkdir -p "$src"
tar -xf "$orig" -C "$src" --strip-components=1
cd "$src"
# The vendored modern-go/reflect2 1.0.1 crashes kube-apiserver under Go >= 1.18.
patch -p0 -s <"$here/reflect2-go118.patch"
export PATH="/usr/lib/go-1.19/bin:$PATH" GO111MODULE=off CGO_ENABLED=0 GOFLAGS=-mod=vendor
export GOCACHE="${GOCACHE:-$cache_root/go-build}"
log "generating the OpenAPI definitions"
make gen_openapi >/dev/null
# "1.20.5+really1.20.2-1.1+deb12u1": what it really is, as a version Kubernetes parses.
upstream="$(printf '%s' "$version" | sed -E 's/.*really//; s/-.*//')"
minor="$(printf '%s' "$upstream" | cut -d. -f2)"
pkg=k8s.io/kubernetes/vendor/k8s.io
ldflags="-s -w -X $pkg/client-go/pkg/version.gitVersion=v$upstream \
  -X $pkg/component-base/version.gitVersion=v$upstream \
  -X $pkg/client-go/pkg/version.gitMajor=1 -X $pkg/component-base/version.gitMajor=1 \
  -X $pkg/client-go/pkg/version.gitMinor=$minor \
  -X $pkg/component-base/version.gitMinor=$minor"
mkdir -p "$out.tmp"
for b in "${binaries[@]}"; do
  log "building $b"
  GOFLAGS= go build -o "$out.tmp/$b" -ldflags "$ldflags" "./cmd/$b"
done
rm -rf "$out" && mv "$out.tmp" "$out"
log "built into $out"
echo "$out"
