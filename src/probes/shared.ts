// Reads several probes need from the same namespace, done once per cycle through ctx.shared.
import { netnsPath, procNet, type Entity, type ProbeContext } from '../model.js';
import { links, type Link } from '../netlink/rtnetlink.js';
import { inetSockets, TCPF_ALL, type InetSocket } from '../netlink/sockdiag.js';
import { readText } from '../procfs/read.js';

export function procNetText(entity: Entity, ctx: ProbeContext, file: string): Promise<string> {
  return ctx.shared(`${entity.netns}:proc:${file}`, () => readText(procNet(entity, file)));
}

export function linksOf(entity: Entity, ctx: ProbeContext): Promise<Link[]> {
  return ctx.shared(`${entity.netns}:links`, () => links(netnsPath(entity)));
}

/** Every TCP socket of the namespace, IPv4 and IPv6, all states. */
export function tcpSocketsOf(entity: Entity, ctx: ProbeContext): Promise<InetSocket[]> {
  return ctx.shared(`${entity.netns}:tcp-sockets`, async () => {
    const path = netnsPath(entity);
    const [v4, v6] = await Promise.all([4, 6].map((family) => inetSockets(path, { family: family as 4 | 6, protocol: 'tcp', states: TCPF_ALL })));
    return [...v4!, ...v6!];
  });
}
