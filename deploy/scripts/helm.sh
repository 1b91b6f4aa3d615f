#!/usr/bin/env bash
# Prints the path of a real helm binary, extracting it on first use from the npm package
# @aws-cdk/asset-kubectl-v20 (a devDependency: its layer.zip holds the official helm 3.8.1
# linux-amd64 build). Debian has no helm package and this machine reaches no other source.
# Usage: "$(deploy/scripts/helm.sh)" template ...
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
if [[ -n "${HELM:-}" ]]; then echo "$HELM"; exit 0; fi
if command -v helm >/dev/null 2>&1; then command -v helm; exit 0; fi
zip="$root/node_modules/@aws-cdk/asset-kubectl-v20/lib/layer.zip"
out="$root/node_modules/.cache/netobserv-helm"
if [[ ! -x "$out/helm/helm" ]]; then
  [[ -f "$zip" ]] || { echo "helm.sh: $zip missing: run npm ci (devDependencies)" >&2; exit 1; }
  [[ "$(uname -m)" == x86_64 ]] || { echo "helm.sh: the packaged helm is linux-amd64; install helm and set HELM" >&2; exit 1; }
  mkdir -p "$out"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' "$zip" "$out"
  chmod 0755 "$out/helm/helm"
fi
echo "$out/helm/helm"
