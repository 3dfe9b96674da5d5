// TCP reachability: whether something accepts connections at host:port, for a quick "is it there?" before a client
// library that would retry for long (the alerts reader, the local stack manager, the tests' hint when the stack is down).
import { connect } from 'node:net';

/** `host:port` as in kafka.brokers; the last colon splits, so an IPv6 host keeps its colons. */
export function parseHostPort(hp: string): { host: string; port: number } {
  const i = hp.lastIndexOf(':');
  return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
}

/** True when a TCP connection to host:port opens within timeoutMs; false on refusal, error or timeout. */
export function tcpReachable(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
