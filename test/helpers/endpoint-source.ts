// A stand-in for the agent behind the HTTP servers: empty metrics, a known /status object, and
// optionally debug routes, so endpoint tests exercise the servers alone.
import type { EndpointSource } from '../../src/exporters/http-server.js';
import type { PullMetricReader } from '../../src/exporters/telemetry.js';

export function fakeEndpointSource(debugRoutes: ReturnType<EndpointSource['debugRoutes']> = {}): EndpointSource {
  return {
    reader: { collect: async () => ({ resourceMetrics: { resource: { attributes: {} }, scopeMetrics: [] }, errors: [] }) } as unknown as PullMetricReader,
    naming: () => 'netexporter',
    status: () => ({ node: 'test-node' }),
    debugMode: () => Object.keys(debugRoutes).length > 0,
    debugRoutes: () => debugRoutes,
  };
}
