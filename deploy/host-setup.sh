#!/usr/bin/env bash
# Installs what building and running the agent needs on a Debian host (as root): the compiler
# toolchain for the native addons and the BPF objects, and the tools the checks call. With
# `--test`, also what the tests use (containerd, Prometheus, ...). Safe to run twice.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(python3 make g++ pkg-config clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev iproute2 iptables)
if [[ "${1:-}" == --test ]]; then
  pkgs+=(conntrack ipvsadm ethtool iperf3 procps util-linux git
         containerd runc containernetworking-plugins busybox-static
         prometheus prometheus-node-exporter)
fi
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ "${1:-}" == --test ]]; then
  # Debian's packages start daemons of their own; the tests start the ones they need.
  for svc in prometheus prometheus-node-exporter containerd; do
    (systemctl stop "$svc" 2>/dev/null || service "$svc" stop 2>/dev/null) || true
  done
fi
# tp_btf/raw_tp programs need neither, but tracepoint attach and pinning do.
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
