import { PrivateContainerd, newUid } from './helpers/containerd.js';
import { EntityDiscovery } from '../src/entities/discovery.js';
const c = await PrivateContainerd.start();
try {
  const a = await c.runPodSandbox({ name: 'a', namespace: 'ns1', uid: newUid(), labels: { app: 'x' } });
  const h = await c.runPodSandbox({ name: 'h', namespace: 'ns1', uid: newUid(), hostNetwork: true });
  console.log(a, h);
  const d = new EntityDiscovery({ runtimeSocket: c.socket });
  console.log(JSON.stringify(await d.discover(), (k, v) => k === 'pids' ? v.length : v, 1), d.criError);
  d.close();
  console.log(require);
} catch (e) { console.error(e); } finally { await c.stop(); }
