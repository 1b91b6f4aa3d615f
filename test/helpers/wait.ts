// Waiting in tests: for a condition, for a line of a child process, for a process to exit.
// Every wait has a bound given by the caller and fails naming what it waited for; nothing
// here sleeps a guessed time.
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

/** Thrown from a waitFor probe to stop waiting at once (the awaited thing can no longer happen). */
class GiveUp extends Error {}

/** Ends a waitFor with `message`, e.g. when the process it waits on has exited. */
export function giveUp(message: string): never {
  throw new GiveUp(message);
}

/**
 * Polls `probe` until it returns something other than undefined or false, and returns that.
 * A probe that throws is polled again (a server may not listen yet); after `timeoutMs` the
 * wait fails with `what` and the last error. The poll starts at 5 ms and backs off to 100 ms.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  detail?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (let interval = 5; ; interval = Math.min(interval * 1.5, 100)) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      if (err instanceof GiveUp) throw new Error(`gave up waiting for ${what}: ${err.message}`);
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError ? `: ${(lastError as Error).message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}${detail ? `\n${detail()}` : ''}`);
    }
    await sleep(Math.min(interval, Math.max(1, deadline - Date.now())));
  }
}

/**
 * Checks that `cond` stays true for `ms`, polling it throughout: how a test shows that
 * something does NOT happen (no second event, no push after close). Fails as soon as it breaks.
 */
export async function holdsFor(what: string, cond: () => boolean | Promise<boolean>, ms: number, detail?: () => string): Promise<void> {
  const start = Date.now();
  for (;;) {
    if (!(await cond())) throw new Error(`${what}: no longer true after ${Date.now() - start} ms (checked for ${ms} ms)${detail ? `\n${detail()}` : ''}`);
    if (Date.now() - start >= ms) return;
    await sleep(Math.min(10, ms - (Date.now() - start) + 1));
  }
}

/** Resolves with the first stdout line of `child` matching `pattern` (a helper saying it is ready). */
export function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    let stderr = '';
    const timer = setTimeout(() => done(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}; stdout: ${buffered}; stderr: ${stderr}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString();
      const line = buffered.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) done(undefined, line);
    };
    const onErr = (chunk: Buffer): void => void (stderr += chunk.toString());
    const onClose = (code: number | null): void => done(new Error(`process exited (${code}) before ${pattern}; stderr: ${stderr}`));
    function done(err?: Error, line?: string): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onErr);
      child.off('close', onClose);
      if (err) reject(err);
      else resolve(line!);
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onErr);
    // 'close', not 'exit': a line printed just before exiting is still read ('exit' can come first).
    child.once('close', onClose);
  });
}

/** Resolves with the exit code once `child` has exited (at once if it has). */
export async function waitForExit(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const timer = new Promise<never>((_, reject) => {
    const t = setTimeout(() => reject(new Error(`process ${child.pid} (${child.spawnfile}) did not exit within ${timeoutMs} ms`)), timeoutMs);
    void exited.then(() => clearTimeout(t));
  });
  return Promise.race([exited, timer]);
}

/** Signals `child` and waits for it to exit; SIGKILL if it has not after `timeoutMs`. Returns its exit code. */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 5000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  child.kill(signal);
  try {
    return await waitForExit(child, timeoutMs);
  } catch {
    child.kill('SIGKILL');
    return waitForExit(child, 5000);
  }
}
