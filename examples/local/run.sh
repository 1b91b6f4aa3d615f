#!/usr/bin/env bash
# Runs the agent and Debian's Prometheus on this machine (as root, for the netlink and eBPF
# probes), then prints a query result. Ctrl-C stops both.
#   examples/local/run.sh            keep running; Prometheus on http://127.0.0.1:9090
#   examples/local/run.sh --check    stop after the first query result (used by the tests)
# Needs: a build (npm ci && npm run build) and `apt-get install prometheus` (or the Debian
# package's binary on PATH). Environment: AGENT_PORT (9102), PROM_PORT (9090),
# CONFIG (examples/local/config.yaml), AGENT_JS (dist/src/cli/main.js).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
agent_port="${AGENT_PORT:-9102}"
prom_port="${PROM_PORT:-9090}"
config="${CONFIG:-$here/config.yaml}"
agent_js="${AGENT_JS:-$root/dist/src/cli/main.js}"
check=false; [[ "${1:-}" == --check ]] && check=true

[[ -f "$agent_js" ]] || { echo "run.sh: $agent_js missing: run npm ci && npm run build" >&2; exit 1; }
command -v prometheus >/dev/null || { echo "run.sh: prometheus not found: apt-get install prometheus" >&2; exit 1; }

work="$(mktemp -d /tmp/kubesonar-local.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Prometheus config with this run's agent port; rule files resolve from the examples dir.
sed -e "s#127.0.0.1:9102#127.0.0.1:$agent_port#" -e "s#\.\./alerts\.yml#$root/examples/alerts.yml#" "$here/prometheus.yml" > "$work/prometheus.yml"

echo "agent: http://127.0.0.1:$agent_port/metrics (events on stdout: $work/agent.out)"
node "$agent_js" run --config "$config" --port "$agent_port" > "$work/agent.out" 2> "$work/agent.err" &
pids+=($!)
echo "prometheus: http://127.0.0.1:$prom_port"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$prom_port" > "$work/prometheus.log" 2>&1 &
pids+=($!)

query='sum by (k8s_node) (rate(netexporter_tcp_activeopens[1m])) or sum by (k8s_node) (netexporter_agent_entities)'
for _ in $(seq 1 60); do
  sleep 2
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "run.sh: a process exited:" >&2; tail -5 "$work/agent.err" "$work/prometheus.log" >&2; exit 1; }
  done
  result="$(node -e 'fetch(process.argv[1]).then((r) => r.text()).then((t) => process.stdout.write(t), () => {})' \
    "http://127.0.0.1:$prom_port/api/v1/query?query=netexporter_agent_entities")"
  if [[ "$result" == *'"result":[{'* ]]; then
    echo "query netexporter_agent_entities: $result"
    if $check; then exit 0; fi
    echo "try in the Prometheus UI: $query"
    echo "Ctrl-C to stop"
    wait
    exit 0
  fi
done
echo "run.sh: no result from Prometheus after 120 s" >&2
tail -5 "$work/agent.err" "$work/prometheus.log" >&2
exit 1
