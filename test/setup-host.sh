#!/usr/bin/env bash
# What the tests need on a fresh Debian machine (root): the build toolchain and the test tools
# (see deploy/host-setup.sh), then the eBPF addon if `npm ci` ran before clang and libbpf existed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/host-setup.sh --test
[[ -f build/Release/kubesonar_bpf.node ]] || node-gyp rebuild
