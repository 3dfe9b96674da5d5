// TCP reachability on this machine's loopback: a listening port answers, a closed one does not; host:port parsing.
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseHostPort, tcpReachable } from '../../../src/io/net/tcp.ts';

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A server on a free loopback port; returns the port. */
async function listen(): Promise<number> {
  server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('parseHostPort', () => {
  it('splits at the last colon', () => {
    expect(parseHostPort('127.0.0.1:9092')).toEqual({ host: '127.0.0.1', port: 9092 });
    expect(parseHostPort('broker.internal:19092')).toEqual({ host: 'broker.internal', port: 19092 });
    expect(parseHostPort('::1:9092')).toEqual({ host: '::1', port: 9092 });
  });
});

describe('tcpReachable', () => {
  it('is true for a listening port and false once it is closed', async () => {
    const port = await listen();
    expect(await tcpReachable('127.0.0.1', port)).toBe(true);
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    expect(await tcpReachable('127.0.0.1', port)).toBe(false);
  });
});
