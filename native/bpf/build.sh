#!/bin/sh
# Compiles every native/bpf/*.bpf.c into OUTDIR/<name>.bpf.o (CO-RE, clang -target bpf),
# with a vmlinux.h generated from this machine's kernel BTF into OUTDIR (never committed).
# Run by the kubesonar_bpf target of binding.gyp; usable by hand: native/bpf/build.sh build/Release/bpf
set -eu
out=${1:?usage: build.sh OUTDIR}
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
if [ ! -s "$out/vmlinux.h" ]; then
  bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$out/vmlinux.h.tmp"
  mv "$out/vmlinux.h.tmp" "$out/vmlinux.h"
fi
case $(uname -m) in
  x86_64) arch=x86 ;;
  aarch64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac
for f in "$src"/*.bpf.c; do
  name=$(basename "$f" .c)
  clang -target bpf -O2 -g -Wall -D__TARGET_ARCH_$arch -I"$out" -I"$src" -c "$f" -o "$out/$name.o"
done
touch "$out/objects.stamp"  # the gyp action's single output
