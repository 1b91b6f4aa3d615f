// The soak's detector of pinned namespaces (bench/soak/process.ts) against a real pin: a process
// that created a netlink socket inside a namespace keeps that namespace alive after `ip netns del`,
// although none of its fd links reads net:[…]. The detector must see it, and must not count a
// namespace that a mount still holds.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { after, test } from 'node:test';
import { netnsHeldElsewhere, socketNetns } from '../../bench/soak/process.js';
import { sh } from '../helpers/exec.js';
import { stopProcess, waitForLine } from '../helpers/wait.js';

const NS = `soak-pin-${process.pid}`;
after(() => sh('ip', ['netns', 'del', NS]).catch(() => undefined));

// setns through libc: Python 3.11 has no os.setns. 0x40000000 is CLONE_NEWNET.
const HOLD_SOCKET_PY = `
import ctypes, socket, sys, time
libc = ctypes.CDLL(None, use_errno=True)
host, target = open("/proc/self/ns/net"), open(sys.argv[1])
assert libc.setns(target.fileno(), 0x40000000) == 0
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
assert libc.setns(host.fileno(), 0x40000000) == 0
target.close()
print("ready", flush=True)
time.sleep(60)
`;

test('a socket made in a deleted namespace pins it, and the soak counts it; a mounted one is not counted', async () => {
  await sh('ip', ['netns', 'add', NS]);
  const ino = statSync(`/run/netns/${NS}`).ino;
  const holder = spawn('python3', ['-c', HOLD_SOCKET_PY, `/run/netns/${NS}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await waitForLine(holder, /ready/, 10_000);
    assert.ok((await socketNetns(holder.pid!)).has(ino), 'the socket\'s namespace is found');
    assert.ok(netnsHeldElsewhere(holder.pid!).has(ino), 'while mounted, the namespace is held elsewhere');
    await sh('ip', ['netns', 'del', NS]);
    assert.ok((await socketNetns(holder.pid!)).has(ino), 'the socket still holds the deleted namespace');
    assert.ok(!netnsHeldElsewhere(holder.pid!).has(ino), 'deleted, only the holder keeps it: pinned');
  } finally {
    await stopProcess(holder, 'SIGKILL');
  }
});
