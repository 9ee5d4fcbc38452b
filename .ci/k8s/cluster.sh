#!/usr/bin/env bash
# A real single-node Kubernetes on this machine, for the Kubernetes runner's tests:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and a kubelet over a
# second containerd's CRI (Docker's containerd is left alone), everything on 127.0.0.1.
#
#   cluster.sh up     start it (binaries from build-kubernetes.sh); prints the kubeconfig
#   cluster.sh down   stop it and undo what the kubelet changed on the host
#   cluster.sh load IMAGE   import a Docker image into the cluster's containerd
#
# State lives under $GT_K8S_ROOT (default /tmp/gastown-k8s). Call `down` from a trap.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="${GT_K8S_ROOT:-/tmp/gastown-k8s}"
sock="$root/containerd/containerd.sock"
log() { printf '[k8s] %s\n' "$*" >&2; }

ctr_() { ctr -a "$sock" -n k8s.io "$@"; }

start() { # name, then the command: runs in the background, pid and log under $root
  local name="$1"; shift
  "$@" >"$root/log/$name.log" 2>&1 &
  echo $! >"$root/pid/$name"
}

wait_for() { # what, seconds, command
  local what="$1" secs="$2"; shift 2
  for _ in $(seq 1 "$secs"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  log "$what did not come up within ${secs}s; its log:"
  tail -n 30 "$root/log/$what.log" >&2 || true
  return 1
}

kubeconfig() { # user, token: a kubeconfig for the apiserver on loopback
  cat <<KC
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: "$(base64 -w0 "$root/pki/ca.crt")"}}]
users: [{name: $1, user: {token: "$2"}}]
contexts: [{name: local, context: {cluster: local, user: $1}}]
current-context: local
KC
}

up() {
  if [ -f "$root/kubeconfig" ] && kubectl --kubeconfig "$root/kubeconfig" get --raw /readyz >/dev/null 2>&1; then
    log "already up"
    echo "$root/kubeconfig"
    return 0
  fi
  local bin
  bin="$("$here/build-kubernetes.sh")"
  export DEBIAN_FRONTEND=noninteractive
  local need=()
  command -v kubectl >/dev/null || need+=(kubernetes-client)
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
  command -v containerd >/dev/null || need+=(containerd)
  command -v gcc >/dev/null || need+=(gcc)
  if [ "${#need[@]}" -gt 0 ]; then
    apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  mkdir -p "$root"/{log,pid,pki,etcd,cni/net.d,cni/ipam,containerd,kubelet}
  # The kubelet sets these on the host; `down` puts back what was there.
  [ -f "$root/sysctl.saved" ] || for k in vm.overcommit_memory kernel.panic kernel.panic_on_oops; do
    printf '%s=%s\n' "$k" "$(sysctl -n "$k")"
  done >"$root/sysctl.saved"
  # etcd from its package, unpacked so no service of the distribution starts.
  if [ ! -x "$root/etcd-pkg/usr/bin/etcd" ]; then
    (cd "$root" && apt-get download -qq etcd-server >/dev/null && dpkg -x etcd-server_*.deb etcd-pkg && rm -f etcd-server_*.deb)
  fi
  # Credentials: one static admin token, a service-account key pair.
  [ -f "$root/pki/token" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$root/pki/token"
  local token; token="$(cat "$root/pki/token")"
  printf '%s,admin,admin,system:masters\n' "$token" >"$root/pki/tokens.csv"
  [ -f "$root/pki/sa.key" ] || openssl genrsa -out "$root/pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$root/pki/sa.key" -pubout -out "$root/pki/sa.pub" 2>/dev/null
  # A CA and the API server's certificate signed by it: clients verify the server
  # (kube-rs with rustls refuses a self-signed CA certificate used as a server's).
  if [ ! -f "$root/pki/ca.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=gastown-test-ca \
      -keyout "$root/pki/ca.key" -out "$root/pki/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver \
      -keyout "$root/pki/serving.key" -out "$root/pki/serving.csr" 2>/dev/null
    printf '%s\n' "subjectAltName=DNS:localhost,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.96.0.1" \
      "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" >"$root/pki/serving.ext"
    openssl x509 -req -in "$root/pki/serving.csr" -CA "$root/pki/ca.crt" -CAkey "$root/pki/ca.key" \
      -CAcreateserial -days 30 -extfile "$root/pki/serving.ext" -out "$root/pki/serving.crt" 2>/dev/null
  fi
  kubeconfig admin "$token" >"$root/kubeconfig"

  log "etcd"
  start etcd "$root/etcd-pkg/usr/bin/etcd" --data-dir "$root/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380
  wait_for etcd 30 curl -sf http://127.0.0.1:2379/health

  log "kube-apiserver"
  start kube-apiserver "$bin/kube-apiserver" --etcd-servers http://127.0.0.1:2379 \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port 6443 --insecure-port 0 \
    --tls-cert-file "$root/pki/serving.crt" --tls-private-key-file "$root/pki/serving.key" \
    --token-auth-file "$root/pki/tokens.csv" --authorization-mode Node,RBAC \
    --service-account-key-file "$root/pki/sa.pub" --service-account-signing-key-file "$root/pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc \
    --service-cluster-ip-range 10.96.0.0/24 \
    --kubelet-preferred-address-types Hostname,InternalIP
  wait_for kube-apiserver 60 kubectl --kubeconfig "$root/kubeconfig" get --raw /readyz

  log "controller-manager and scheduler"
  start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig "$root/kubeconfig" \
    --leader-elect=false --service-account-private-key-file "$root/pki/sa.key" \
    --use-service-account-credentials=false --root-ca-file "$root/pki/ca.crt" \
    --controllers '*,-nodeipam,-service,-route,-cloud-node-lifecycle' \
    --bind-address 127.0.0.1 --secure-port 10257
  start kube-scheduler "$bin/kube-scheduler" --kubeconfig "$root/kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1 --secure-port 10259

  log "containerd (a second one, its own root and socket)"
  sed -e "s|@ROOT@|$root|g" -e "s|@CNI_BIN@|/usr/lib/cni|g" "$here/containerd-config.toml" >"$root/containerd/config.toml"
  sed -e "s|@ROOT@|$root|g" "$here/cni-bridge.conflist" >"$root/cni/net.d/10-gastown.conflist"
  start containerd containerd --config "$root/containerd/config.toml"
  wait_for containerd 30 ctr -a "$sock" version
  # The pod sandbox image, which no registry can give: a static pause binary.
  if ! ctr_ images ls -q | grep -qx registry.k8s.io/pause:3.10; then
    local p; p="$(mktemp -d)"
    gcc -static -O2 -o "$p/pause" "$here/pause.c"
    tar -C "$p" -cf "$p/layer.tar" pause
    ( cd "$p" && mkdir img && mv layer.tar img/ && \
      printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
        "$(sha256sum img/layer.tar | cut -d' ' -f1)" >img/config.json && \
      printf '[{"Config":"config.json","RepoTags":["registry.k8s.io/pause:3.10"],"Layers":["layer.tar"]}]' >img/manifest.json && \
      tar -C img -cf pause.tar . )
    ctr_ images import "$p/pause.tar" >/dev/null
    rm -rf "$p"
  fi

  log "kubelet"
  kubeconfig kubelet "$token" >"$root/kubelet/kubeconfig"
  start kubelet "$bin/kubelet" --config "$here/kubelet.yaml" --kubeconfig "$root/kubelet/kubeconfig" \
    --container-runtime=remote --container-runtime-endpoint "unix://$sock" \
    --hostname-override=localhost --root-dir "$root/kubelet/root" \
    --cert-dir "$root/kubelet/pki" --fail-swap-on=false
  wait_for kubelet 90 sh -c "kubectl --kubeconfig '$root/kubeconfig' get node localhost -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
  log "cluster up; kubeconfig: $root/kubeconfig"
  echo "$root/kubeconfig"
}

load() {
  docker save "$1" | ctr_ images import - >/dev/null
}

down() {
  [ -d "$root" ] || return 0
  kubectl --kubeconfig "$root/kubeconfig" delete pods --all --all-namespaces --grace-period=0 --force >/dev/null 2>&1 || true
  for name in kubelet kube-scheduler kube-controller-manager kube-apiserver; do
    [ -f "$root/pid/$name" ] && kill "$(cat "$root/pid/$name")" 2>/dev/null || true
  done
  if [ -S "$sock" ]; then
    for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
    sleep 1
    for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$t" >/dev/null 2>&1 || true; done
    for c in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$c" >/dev/null 2>&1 || true; done
  fi
  for name in containerd etcd; do
    [ -f "$root/pid/$name" ] && kill "$(cat "$root/pid/$name")" 2>/dev/null || true
  done
  # Whatever else of this cluster still runs (a pid file lost to a crash): every one
  # of its processes names the state directory on its command line.
  sleep 1
  pkill -KILL -f -- "$root/" 2>/dev/null || true
  # What the kubelet changed on the host.
  for cg in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/k8s.io; do
    [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  ip link delete gtk8s0 2>/dev/null || true
  for m in $(mount | awk -v r="$root" '$3 ~ "^"r {print $3}' | sort -r); do umount -l "$m" 2>/dev/null || true; done
  rm -rf /var/lib/kubelet /var/log/pods /var/log/containers
  if [ -f "$root/sysctl.saved" ]; then
    while read -r kv; do sysctl -qw "$kv" 2>/dev/null || true; done <"$root/sysctl.saved"
    rm -f "$root/sysctl.saved"
  fi
  rm -rf "${root:?}/pid" "$root/containerd/state" "$root/kubelet/root" "$root/etcd"
  log "cluster down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  load) load "$2" ;;
  *) echo "usage: $0 up|down|load IMAGE" >&2; exit 2 ;;
esac
