// Entry of the benchmarks that measure each client in a child process of their own: the child
// (argv `child <client> <url> <n>`) reports its result to the parent over IPC; the parent runs main.
export function benchEntry<R>(main: () => Promise<void>, child: (client: string, url: string, n: number) => Promise<R>): void {
  const fail = (err: unknown) => {
    console.error(err);
    process.exit(1);
  };
  if (process.argv[2] === 'child') {
    const [, , , client, url, n] = process.argv;
    child(client!, url!, Number(n)).then((r) => process.send!(r, () => process.exit(0)), fail);
  } else {
    main().catch(fail);
  }
}
