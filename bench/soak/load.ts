// The soak's load: real containerd pods coming and going, an event storm inside a pod, and a Loki
// that goes down and comes back. Each runs until stopped and keeps its own figures.
import { spawn, type ChildProcess } from 'node:child_process';
import { newUid, type PrivateContainerd, type RunningPod } from '../../test/helpers/containerd.js';
import { inNetns } from '../../test/helpers/exec.js';
import type { LokiReceiver } from '../../test/helpers/loki-receiver.js';
import { stopProcess, waitForLine } from '../../test/helpers/wait.js';
import { netnsOf } from './process.js';

/** A pod with the inode of its network namespace, read while it was alive. */
export interface LivePod extends RunningPod {
  netns: number;
}

/** Starts a pod and reads its namespace's inode. */
export async function startPod(ctrd: PrivateContainerd, name: string): Promise<LivePod> {
  const pod = await ctrd.runPodSandbox({ name, namespace: 'soak', uid: newUid() });
  return { ...pod, netns: netnsOf(pod.pid) };
}

/**
 * Every `periodMs` a new pod (soak-churn-<n>) is created, sees one refused connection (so an
 * event names it and the agent resolves its namespace), and the previous one is deleted.
 */
export class PodChurn {
  readonly live = new Map<string, LivePod>();
  created = 0;
  deleted = 0;
  readonly errors: string[] = [];
  private stopped = false;
  private loop?: Promise<void>;

  constructor(private readonly ctrd: PrivateContainerd, private readonly periodMs: number) {}

  start(): this {
    this.loop = this.run();
    return this;
  }

  private async run(): Promise<void> {
    for (let next = Date.now(); !this.stopped; next += this.periodMs) {
      await this.sleepUntil(next);
      if (this.stopped) break;
      let pod: LivePod | undefined;
      try {
        pod = await startPod(this.ctrd, `soak-churn-${this.created}`);
        this.live.set(pod.id, pod);
        this.created++;
        await inNetns(pod.pid, 'python3', ['-c', `import socket\ntry: socket.create_connection(('${pod.ip}', 9), 2)\nexcept OSError: pass`]);
      } catch (err) {
        this.errors.push((err as Error).message.split('\n')[0]!);
      }
      for (const old of [...this.live.values()]) if (old !== pod) await this.remove(old);
    }
    for (const pod of [...this.live.values()]) await this.remove(pod);
  }

  private async remove(pod: LivePod): Promise<void> {
    try {
      await this.ctrd.stopAndRemove(pod);
      this.deleted++;
    } catch (err) {
      this.errors.push((err as Error).message.split('\n')[0]!);
    }
    this.live.delete(pod.id);
  }

  private wake?: () => void;
  private sleepUntil(t: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, t - Date.now()));
      this.wake = () => (clearTimeout(timer), resolve());
    });
  }

  /** Stops creating pods and deletes the ones left. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }
}

// Connections refused at `rate` a second: each SYN to the closed port is dropped (NO_SOCKET) and
// answered with a reset, two kernel events. Paced by the clock, catching up at most one second.
const STORM_PY = `
import socket, sys, time
rate, host = float(sys.argv[1]), sys.argv[2]
print("ready", flush=True)
start, n = time.monotonic(), 0
while True:
    due = int((time.monotonic() - start) * rate)
    if due - n > rate:
        n = due - int(rate)
    while n < due:
        s = socket.socket()
        try:
            s.connect((host, 9))
        except OSError:
            pass
        s.close()
        n += 1
    time.sleep(0.002)
`;

/** The event storm: refused connections inside `pod`, to its own address. */
export class EventStorm {
  private proc?: ChildProcess;
  constructor(private readonly pod: RunningPod, private readonly connectsPerSecond: number) {}

  async start(): Promise<this> {
    this.proc = spawn('nsenter', [`--net=/proc/${this.pod.pid}/ns/net`, 'python3', '-c', STORM_PY, String(this.connectsPerSecond), this.pod.ip],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    await waitForLine(this.proc, /ready/, 30_000);
    return this;
  }

  async stop(): Promise<void> {
    if (this.proc) await stopProcess(this.proc, 'SIGKILL');
  }
}

/**
 * The Loki receiver down for the first half of every `cycleMs` and up for the second: the
 * warm-up always holds an outage, so the figures it sets include a full queue.
 */
export class LokiFlapping {
  outages = 0;
  private timer?: NodeJS.Timeout;
  private toggling: Promise<void> = Promise.resolve();
  up = true;

  constructor(private readonly loki: LokiReceiver, private readonly cycleMs: number) {}

  async start(): Promise<this> {
    await this.set(false);
    this.timer = setInterval(() => void this.set(!this.up), this.cycleMs / 2);
    return this;
  }

  private set(up: boolean): Promise<void> {
    this.toggling = this.toggling.then(async () => {
      if (up === this.up) return;
      if (up) await this.loki.start();
      else {
        await this.loki.stop();
        this.outages++;
      }
      this.up = up;
    });
    return this.toggling;
  }

  /** Stops flapping and leaves the receiver up. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.set(true);
  }
}
