// snappyjs ships no types; the tests' receivers decode the raw (block) snappy format with it.
declare module 'snappyjs' {
  export function compress<T extends ArrayBuffer | Uint8Array | Buffer>(input: T): T;
  export function uncompress<T extends ArrayBuffer | Uint8Array | Buffer>(input: T, maxLength?: number): T;
}
