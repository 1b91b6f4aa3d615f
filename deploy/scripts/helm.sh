#!/usr/bin/env bash
# Prints the path of a real helm binary, extracting it on first use from the npm package
# @aws-cdk/asset-kubectl-v20 (a devDependency: its layer.zip holds the official helm 3.8.1
# linux-amd64 build). Debian has no helm package and this machine reaches no other source.
# Usage: "$(deploy/scripts/helm.sh)" template ...
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
# The pinned binary first, so that deploy/manifests/ renders the same everywhere; $HELM or a
# helm on PATH only where the package is not installed (or not runnable: not linux-amd64).
if [[ -n "${HELM:-}" ]]; then echo "$HELM"; exit 0; fi
zip="$root/node_modules/@aws-cdk/asset-kubectl-v20/lib/layer.zip"
out="$root/node_modules/.cache/kubesonar-helm"
if [[ ! -x "$out/helm/helm" ]]; then
  if [[ ! -f "$zip" || "$(uname -m)" != x86_64 ]] && command -v helm >/dev/null 2>&1; then command -v helm; exit 0; fi
  [[ -f "$zip" ]] || { echo "helm.sh: $zip missing: run npm ci (devDependencies)" >&2; exit 1; }
  [[ "$(uname -m)" == x86_64 ]] || { echo "helm.sh: the packaged helm is linux-amd64; install helm and set HELM" >&2; exit 1; }
  mkdir -p "$out/helm"
  # Extract beside the target and rename, so a concurrent caller never runs a partial file.
  tmp="$(mktemp -d "$out/extract.XXXXXX")"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' "$zip" "$tmp"
  chmod 0755 "$tmp/helm/helm"
  mv -f "$tmp/helm/helm" "$out/helm/helm"
  rm -rf "$tmp"
fi
echo "$out/helm/helm"
