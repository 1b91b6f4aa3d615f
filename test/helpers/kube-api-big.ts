// A fake Kubernetes API server holding N pods (argv[2]) as a real API server
// lists them (about 1 KB of JSON each), in a process of its own so that a test measures the
// memory of its client alone. Prints one JSON line: {url, token, pageBytes} (the JSON size of
// 500 pods), then serves until killed.
import { FakeKubeApi } from './kube-api.js';

export function bigPod(i: number) {
  const app = `app-${Math.floor(i / 10)}`;
  return {
    metadata: {
      name: `${app}-${i.toString(36).padStart(5, '0')}`, namespace: `team-${i % 50}`, uid: `0000${i}-aaaa-bbbb-cccc-${String(i).padStart(12, '0')}`,
      labels: { app, 'pod-template-hash': '7d9f8c6b5d', tier: 'backend' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-7d9f8c6b5d`, uid: `rs-${i}`, controller: true }],
      creationTimestamp: '2026-11-30T10:00:00Z',
    },
    spec: {
      nodeName: `node-${i % 500}`,
      containers: [{ name: 'app', image: 'registry.example.com/team/app:1.2.3', ports: [{ containerPort: 8080, protocol: 'TCP' }],
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } } }],
    },
    status: {
      phase: 'Running', podIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, hostIP: `192.168.${(i % 500) >> 8}.${(i % 500) & 255}`,
      conditions: [{ type: 'Ready', status: 'True' }, { type: 'ContainersReady', status: 'True' }],
    },
  };
}

// Serves only when given its count: `node --test dist/test/` runs every file here, this one too,
// and a server that never exits would hold the suite.
if (process.argv[2] !== undefined) {
  const n = Number(process.argv[2]);
  const api = await new FakeKubeApi().start();
  api.load('v1/pods', Array.from({ length: n }, (_, i) => bigPod(i)));
  const pageBytes = JSON.stringify(Array.from({ length: 500 }, (_, i) => bigPod(i))).length;
  console.log(JSON.stringify({ url: api.url, token: api.token, pageBytes }));
}
