// Shared `unsupported` check of the probes that need the native addon (netlink in a namespace).
import { nativeAddon } from '../native/addon.js';

export async function needsNative(): Promise<string | undefined> {
  const { error } = nativeAddon();
  return error ? `native addon unavailable: ${error}` : undefined;
}
