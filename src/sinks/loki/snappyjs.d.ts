// snappyjs ships no types; the raw (block) snappy format is what Loki's push API expects.
declare module 'snappyjs' {
  export function compress<T extends ArrayBuffer | Uint8Array | Buffer>(input: T): T;
  export function uncompress<T extends ArrayBuffer | Uint8Array | Buffer>(input: T, maxLength?: number): T;
}
