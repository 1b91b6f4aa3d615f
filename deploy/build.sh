#!/usr/bin/env bash
# The image's build, runnable without Docker: the Dockerfile's build stage runs exactly this,
# and test/deploy-build.test.ts runs it in a clean copy of the repository.
#   deploy/build.sh [OUT]   builds in the current checkout, then assembles the runtime tree in
#                           OUT (default ./deploy/out): package.json, dist/, node_modules
#                           (production only), build/Release/*.node and bpf/*.bpf.o, the .proto
#                           files the CRI client loads at run time.
# Needs: Node 20 with npm, python3, make, g++ (native addon); clang, llvm, libbpf-dev, bpftool,
# libelf-dev, zlib1g-dev, pkg-config for the BPF objects when the build has them.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-deploy/out}"
npm ci --no-audit --no-fund
npm run build
npm prune --omit=dev --no-audit --no-fund
rm -rf "$out"
mkdir -p "$out/build/Release"
cp package.json package-lock.json "$out/"
cp -a node_modules "$out/"
# Compiled JavaScript of the agent only (tests and benchmarks stay out of the image).
mkdir -p "$out/dist"
cp -a dist/src "$out/dist/"
# The native addon and any compiled BPF objects next to it; without them the agent still runs
# its procfs probes and /status says what is missing.
shopt -s nullglob
for f in build/Release/*.node; do cp -a "$f" "$out/build/Release/"; done
bpf_objects=(build/Release/bpf/*.bpf.o)
if ((${#bpf_objects[@]})); then
  mkdir -p "$out/build/Release/bpf"
  cp -a "${bpf_objects[@]}" "$out/build/Release/bpf/"
fi
# Run-time data files under src/ (the CRI API .proto the client loads).
while IFS= read -r f; do mkdir -p "$out/$(dirname "$f")"; cp -a "$f" "$out/$f"; done < <(find src -name '*.proto')
echo "runtime tree in $out: $(du -sh "$out" | cut -f1)"
