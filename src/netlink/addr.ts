// Text form of raw IPv4/IPv6 addresses as netlink carries them (network byte order).

export const AF_INET = 2;
export const AF_INET6 = 10;

export function formatIPv4(b: Buffer, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** RFC 5952 form (what ss and ip print): lowercase, longest zero run as "::", v4-mapped as ::ffff:a.b.c.d. */
export function formatIPv6(b: Buffer, off = 0): string {
  const groups = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(off + 2 * i));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${formatIPv4(b, off + 12)}`;
  // Longest run of at least two zero groups; the first one wins a tie.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** `family` is AF_INET (2) or AF_INET6 (10); a too-short buffer yields undefined. */
export function formatAddress(family: number, b: Buffer | undefined, off = 0): string | undefined {
  if (!b) return undefined;
  if (family === AF_INET && b.length >= off + 4) return formatIPv4(b, off);
  if (family === AF_INET6 && b.length >= off + 16) return formatIPv6(b, off);
  return undefined;
}
