// The per-cycle reads probes share (probes/shared.ts) must not keep a failure: when the process
// a read went through exits, the collector runs the probe again through another process of the
// same namespace, in the same cycle, and that second read has to reach the file again.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import type { Entity, ProbeContext } from '../../src/model.js';
import tcp from '../../src/probes/tcp.js';
import { fixture } from '../helpers/paths.js';

const snmp = readFileSync(fixture('procfs', 'snmp'), 'utf8');

test('a parsed /proc/<pid>/net file whose read failed is read again by the retry of the same cycle', async () => {
  const pod: Entity = { netns: 4026532999, isHost: false, pids: [101, 102] };
  let exited = true; // the process read through first has exited: its /proc/<pid>/net is gone
  let reads = 0;
  // As the collector's ctx.shared (one read per key and cycle, a failed one forgotten), with
  // the file's read answered here instead of from /proc.
  const memo = new Map<string, Promise<unknown>>();
  const ctx: ProbeContext = {
    options: {}, entities: [pod], note: () => {},
    shared: <T>(key: string): Promise<T> => {
      if (!memo.has(key)) {
        reads++;
        const value = exited
          ? Promise.reject(Object.assign(new Error(`ENOENT: ${key}`), { code: 'ENOENT' }))
          : Promise.resolve(snmp);
        value.catch(() => memo.get(key) === value && memo.delete(key));
        memo.set(key, value);
      }
      return memo.get(key) as Promise<T>;
    },
  };

  await assert.rejects(tcp.metric!.collect(pod, ctx), { code: 'ENOENT' });
  exited = false;
  // The collector's retry: the same cycle (the same ctx), through the namespace's next process.
  const samples = await tcp.metric!.collect({ ...pod, pids: pod.pids.slice(1) }, ctx);
  assert.equal(samples.find((s) => s.metric === 'activeopens')?.value, 3557);
  assert.equal(reads, 2);
});
