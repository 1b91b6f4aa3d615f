// IPv4/IPv6 addresses and CIDRs as BigInts, enough for containment and range sizes.
import { isIPv4, isIPv6 } from 'node:net';

export interface Cidr {
  family: 4 | 6;
  base: bigint;
  bits: number;
}

export function ipToBigInt(ip: string): { family: 4 | 6; value: bigint } {
  if (isIPv4(ip)) return { family: 4, value: ip.split('.').reduce((n, o) => (n << 8n) | BigInt(o), 0n) };
  if (!isIPv6(ip)) throw new Error(`not an IP address: ${ip}`);
  const [head, tail = ''] = ip.split('::');
  const groups = (s: string) => (s ? s.split(':') : []);
  let parts = groups(head!);
  let rest = groups(tail);
  // An embedded IPv4 tail (::ffff:1.2.3.4) counts as two groups.
  const last = (ip.includes('::') ? rest : parts).at(-1);
  if (last && last.includes('.')) {
    const v4 = ipToBigInt(last).value;
    const hex = [(v4 >> 16n).toString(16), (v4 & 0xffffn).toString(16)];
    if (ip.includes('::')) rest = [...rest.slice(0, -1), ...hex];
    else parts = [...parts.slice(0, -1), ...hex];
  }
  const zeros = ip.includes('::') ? 8 - parts.length - rest.length : 0;
  const all = [...parts, ...Array(zeros).fill('0'), ...rest];
  return { family: 6, value: all.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

export function parseCidr(text: string): Cidr {
  const [ip, len] = text.split('/');
  const { family, value } = ipToBigInt(ip!);
  const width = family === 4 ? 32 : 128;
  const bits = len === undefined ? width : Number(len);
  if (!Number.isInteger(bits) || bits < 0 || bits > width) throw new Error(`bad prefix length in ${text}`);
  const mask = ((1n << BigInt(bits)) - 1n) << BigInt(width - bits);
  return { family, base: value & mask, bits };
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  const { family, value } = ipToBigInt(ip);
  if (family !== cidr.family) return false;
  const width = family === 4 ? 32 : 128;
  return value >> BigInt(width - cidr.bits) === cidr.base >> BigInt(width - cidr.bits);
}

export function cidrSize(cidr: Cidr): bigint {
  return 1n << BigInt((cidr.family === 4 ? 32 : 128) - cidr.bits);
}
