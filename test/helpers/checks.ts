// A check scheduler as the tests drive it: a fake clock, every event recorded, one run per step.
import { severityOf } from '../../src/catalogue/index.js';
import { CheckScheduler, checkOptions } from '../../src/checks/index.js';
import type { Check, CheckOptions, DeepPartial } from '../../src/checks/model.js';
import type { NetEvent } from '../../src/events/model.js';
import type { Entity } from '../../src/model.js';
import configcheck from '../../src/probes/configcheck.js';

/** A scheduler over `checks` with a fake clock and an event recorder. */
export function harness(checks: Check[], entities: Entity[], hostNetns: string | null, options: DeepPartial<CheckOptions> = {}) {
  const events: NetEvent[] = [];
  const clock = { now: 1_700_000_000_000 };
  const scheduler = new CheckScheduler({
    checks,
    entities: () => entities,
    hostNetns,
    options: checkOptions({ nodeName: 'test-node', reminderIntervalSeconds: 3600, ...options }),
    publisher: { publish: (e) => events.push(e) },
    clock: () => clock.now,
    severity: severityOf,
  });
  /** Runs once and returns the events of that run. */
  const step = async (advanceMs = 1000): Promise<NetEvent[]> => {
    clock.now += advanceMs;
    const from = events.length;
    await scheduler.runOnce();
    return events.slice(from);
  };
  return { scheduler, events, clock, step };
}

/** What a test compares of an event. */
export const brief = (es: NetEvent[]) => es.map((e) => ({ type: e.type, msg: e.msg, finding: e.attrs.finding, severity: e.severity }));
export const ofType = (es: NetEvent[], type: string) => es.filter((e) => e.type === type);

/** The configcheck gauge's samples (schedulers that are running), collected with `entities` as the cycle's. */
export async function gaugeSeries(entities: Entity[] = []) {
  const ctx = { options: {}, entities, note: () => {}, shared: <T>(_k: string, read: () => Promise<T>) => read() };
  return configcheck.metric!.collect({ netns: 0, isHost: true, pids: [process.pid] }, ctx);
}

/** The configcheck gauge's series as `type subject`. */
export async function gauge(entities: Entity[] = []): Promise<string[]> {
  return (await gaugeSeries(entities)).map((s) => `${s.labels!.type} ${s.labels!.subject}`).sort();
}
