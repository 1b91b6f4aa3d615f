#!/usr/bin/env bash
# Installs and mounts what the agent's tests need on a fresh Debian machine (run as root).
# Used by .ci/run and by the README's test command; safe to run twice.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(iproute2 iptables conntrack ipvsadm ethtool iperf3 procps
      containerd runc containernetworking-plugins busybox-static
      prometheus prometheus-node-exporter
      clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's packages start daemons of their own; the tests start the ones they need.
for svc in prometheus prometheus-node-exporter containerd; do
  (systemctl stop "$svc" 2>/dev/null || service "$svc" stop 2>/dev/null) || true
done
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
