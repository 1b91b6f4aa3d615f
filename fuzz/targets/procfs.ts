// The procfs text parsers, fed the real files of test/fixtures/procfs mutated. Contract: a
// file the kernel did not write this way yields fewer or odd values, never an exception.
import { readFileSync } from 'node:fs';
import { parseProcCgroup } from '../../src/entities/cgroup.js';
import { parseNsLink } from '../../src/entities/procscan.js';
import { parseSlabLine } from '../../src/probes/slab.js';
import { parseSoftnetStat } from '../../src/probes/softnet.js';
import { parseProcIo } from '../../src/procfs/pids.js';
import { parseKeyValueLines, parseSnmp } from '../../src/procfs/read.js';
import { check, showText, type Target } from '../harness.js';
import { mutateText } from '../mutate.js';
import { fixture } from '../paths.js';

/** A parser and the files it reads in production. */
interface TextParser {
  name: string;
  files: string[];
  /** Extra seeds written here, for files with no fixture (they differ per pod). */
  literal?: string[];
  parse(text: string): void;
}

const numbers = (m: Map<string, number> | Record<string, number>): void => {
  for (const v of m instanceof Map ? m.values() : Object.values(m)) check(typeof v === 'number', `a value that is not a number: ${String(v)}`);
};

const PARSERS: TextParser[] = [
  { name: 'procfs.snmp', files: ['netstat', 'snmp'], parse: (t) => numbers(Object.fromEntries(parseSnmp(t).entries())) },
  { name: 'procfs.sockstat', files: ['sockstat', 'sockstat6'], parse: (t) => numbers(parseKeyValueLines(t)) },
  { name: 'procfs.softnet', files: ['softnet_stat'], parse: (t) => numbers(parseSoftnetStat(t)) },
  {
    name: 'procfs.slabinfo', files: ['slabinfo'],
    parse: (t) => {
      let r;
      try {
        r = parseSlabLine(t, 'TCP');
      } catch (err) {
        // Documented: a TCP line cut short is an Error naming it.
        check((err as Error).message.startsWith('/proc/slabinfo: the TCP line has'), `an unexpected error: ${(err as Error).message}`);
        return;
      }
      if (r) numbers(r);
    },
  },
  { name: 'procfs.pid-io', files: ['pid-io'], parse: (t) => numbers(parseProcIo(t)) },
  {
    name: 'procfs.pid-cgroup', files: [],
    literal: [
      '0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0c1f2b5e_8a4d_4c3e_9f1a_2b3c4d5e6f70.slice/cri-containerd-1234.scope\n',
      '12:memory:/kubepods/burstable/pod0c1f2b5e-8a4d-4c3e-9f1a-2b3c4d5e6f70/1234abcd\n11:cpu:/\n0::/\n',
      'net:[4026531840]', 'net:[4026532999]',
    ],
    parse: (t) => {
      const pod = parseProcCgroup(t);
      if (pod) check(typeof pod.uid === 'string' && pod.uid.length > 0, 'a pod without a uid');
      const ino = parseNsLink(t);
      if (ino !== undefined) check(Number.isSafeInteger(ino) && ino >= 0, `an inode that is not a count: ${ino}`);
    },
  },
];

export function procfsTargets(): Target<string>[] {
  return PARSERS.map((p) => {
    let seeds: string[] = [];
    return {
      name: p.name,
      async open() {
        seeds = [...p.files.map((f) => readFileSync(fixture('procfs', f), 'utf8')), ...(p.literal ?? [])];
      },
      make: (rng) => mutateText(rng, rng.pick(seeds), seeds),
      feed: (text) => p.parse(text),
      show: showText,
    };
  });
}
