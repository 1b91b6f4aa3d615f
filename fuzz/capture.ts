export async function capture(log: (l: string) => void): Promise<void> {
  log('capture: not yet');
}
