// Loads the kubesonar_bpf addon (build/Release/kubesonar_bpf.node, native/bpf/). It is a
// separate addon from kubesonar so that machines without libbpf or clang still build and run
// everything else; loading never throws: the reason eBPF is off is kept for /status.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ProgramStatus {
  name: string;
  /** ELF section: the attach point, e.g. `tp_btf/kfree_skb`. */
  section: string;
  loaded: boolean;
  attached: boolean;
  /** Why it did not load or attach (errno and libbpf's own words). */
  error?: string;
}

export interface MapDump {
  count: number;
  keySize: number;
  /** Per-CPU maps: one 8-byte-aligned value per possible CPU, back to back. */
  valueSize: number;
  keys: Buffer;
  values: Buffer;
}

export interface RingHandle {
  close(): void;
  /** Consumes what the ring buffer holds now (the poll does it by itself; for tests and benchmarks). */
  drain(): number;
  stats(): { delivered: number; oversized: number };
}

/**
 * Called once per wakeup with every record available, packed as [u32 length][u32 0][record
 * padded to 8]. The buffer is reused: parse it before returning.
 */
export type RingCallback = (buffer: Buffer, bytes: number, count: number) => void;

/** A struct of an object's BTF, in bytes. */
export interface BtfStruct {
  size: number;
  /** `bits`: bitfields only, their width (`offset` is then the byte holding their first bit). */
  members: { name: string; offset: number; size: number; bits?: number }[];
}

/** A global variable of an object's data sections, from its BTF. */
export interface GlobalVariable {
  name: string;
  /** `.rodata` (`const volatile`), `.data` or `.bss`. */
  section: string;
  offset: number;
  size: number;
}

export interface BpfObject {
  /** Loads what loads and attaches what attaches; one status per program. Once. */
  load(): ProgramStatus[];
  /**
   * Layout of a struct of the object's own BTF (after open, before or after load); throws when
   * the object has no such struct (clang -g only emits types that a global or a map uses).
   */
  btfStruct(name: string): BtfStruct;
  /** [value, name] of every member of an enum of the object's own BTF; throws when it has none. */
  btfEnum(name: string): [number, string][];
  /** The object's global variables (.rodata, .data, .bss). */
  globals(): GlobalVariable[];
  /**
   * Initial value of a global variable, before load() (a `const volatile` the programs read);
   * throws when there is no such variable, the size differs, or the object is loaded.
   */
  setGlobal(name: string, value: Buffer): void;
  /** Makes this object use another object's map (same name and definition) instead of its own; before load(). False: it has no such map. */
  shareMap(map: string, fd: number): boolean;
  /** The fd of a loaded map, for another object's shareMap(); valid while this object is open. */
  mapFd(map: string): number;
  mapDump(map: string): MapDump;
  mapUpdate(map: string, key: Buffer, value: Buffer): void;
  mapDelete(map: string, key: Buffer): boolean;
  ringBuffer(map: string, cb: RingCallback): RingHandle;
  /** Kernel id and run statistics per loaded program (counts need kernel.bpf_stats_enabled=1). */
  programStats(): { name: string; id: number; runCount: number; runTimeNs: number }[];
  /** Attaches a loaded program again after detach(); false when it already was attached. Throws why it cannot. */
  attach(program: string): boolean;
  /** Detaches one program (it stays loaded with its maps); false when it was not attached. */
  detach(program: string): boolean;
  /** Detaches every program and frees the maps. */
  close(): void;
}

export interface BpfAddon {
  /** Opens an object file (throws when it is missing or not a BPF object). */
  open(file: string): BpfObject;
  /** [value, name] of every member of an enum in the running kernel's BTF. */
  btfEnum(name: string): [number, string][];
  /** CLOCK_REALTIME - CLOCK_MONOTONIC in ns: bpf_ktime_get_ns() + this = epoch ns. */
  clockOffsetNs(): bigint;
  possibleCpus: number;
  libbpfVersion: string;
}

export interface BpfState {
  addon?: BpfAddon;
  /** Directory of the compiled BPF objects (<name>.bpf.o). */
  objectDir?: string;
  error?: string;
}

const KERNEL_BTF = '/sys/kernel/btf/vmlinux';

function packageRoot(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Loads the addon at `file` with its objects in `objectDir`; exported for tests, the agent uses nativeBpf(). */
export function loadBpfAddon(file: string, objectDir: string): BpfState {
  file = path.resolve(file);
  if (!existsSync(file)) {
    return { error: `eBPF addon not built: ${file} is missing (it needs libbpf-dev, clang and bpftool at build time, then \`npm install\` or \`node-gyp rebuild\`)` };
  }
  if (!existsSync(KERNEL_BTF)) return { error: `kernel has no BTF (${KERNEL_BTF} missing): CO-RE eBPF programs cannot load` };
  try {
    const addon = createRequire(import.meta.url)(file) as BpfAddon;
    if (typeof addon.open !== 'function') return { error: `eBPF addon ${file} has no open() (stale build?)` };
    return { addon, objectDir: path.resolve(objectDir) };
  } catch (err) {
    return { error: `eBPF addon ${file} failed to load: ${(err as Error).message}` };
  }
}

let state: BpfState | undefined;

/** The eBPF addon, or why it is unavailable; loaded once, never throws. */
export function nativeBpf(): BpfState {
  if (!state) {
    const root = packageRoot();
    state = root
      ? loadBpfAddon(path.join(root, 'build', 'Release', 'kubesonar_bpf.node'), path.join(root, 'build', 'Release', 'bpf'))
      : { error: `eBPF addon not found: no package.json above ${fileURLToPath(import.meta.url)}` };
  }
  return state;
}
