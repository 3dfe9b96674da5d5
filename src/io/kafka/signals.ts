// Security failures a client sees out of band, before the call waiting on it would time out: librdkafka logs a
// refused login or a failed handshake at once but fails connect() only after its own timeout; a broker's TLS listener
// closes a plaintext connection without a word, and kafkajs retries that for some 20 s. Each client carries a
// SecuritySignals source (under SECURITY_SIGNALS); guarded.ts fails the calls in progress with our coded error.
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export type SignalListener = (error: Error & { topic?: string }) => void;

export interface SecuritySignals {
  /** Registers a listener; returns the function that removes it. */
  on(listener: SignalListener): () => void;
  emit(error: Error & { topic?: string }): void;
}

/** Where a KafkaClient keeps its signals (not part of the KafkaClient interface: only guarded.ts reads it). */
export const SECURITY_SIGNALS = Symbol('tagstream.kafka.securitySignals');

/** `client` carrying `signals`. */
export function withSignals<T extends object>(client: T, signals: SecuritySignals): T {
  return Object.assign(client, { [SECURITY_SIGNALS]: signals });
}

/** The signals a client carries, if any. */
export const signalsOf = (client: object): SecuritySignals | undefined =>
  (client as { [SECURITY_SIGNALS]?: SecuritySignals })[SECURITY_SIGNALS];

export function securitySignals(): SecuritySignals {
  const listeners = new Set<SignalListener>();
  return {
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    emit(error) {
      for (const l of [...listeners]) l(error);
    },
  };
}

/** A plaintext client at a TLS listener (the error the detector signals). */
export class TlsListenerError extends Error {
  readonly code = 'TAGSTREAM_TLS_LISTENER';
  constructor(readonly address: string) {
    super(`the listener at ${address} answers in TLS, and this client does not speak it`);
    this.name = 'TlsListenerError';
  }
}

/** The first bytes of a TLS record: content type alert (21) or handshake (22), protocol version 3.x. */
export const looksLikeTls = (chunk: Buffer): boolean =>
  chunk.length >= 3 && (chunk[0] === 0x15 || chunk[0] === 0x16) && chunk[1] === 0x03 && chunk[2]! <= 0x04;

/** True when host:port completes a TLS handshake (its certificate not checked: only the protocol matters). */
export function speaksTls(host: string, port: number, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host,
      port,
      rejectUnauthorized: false,
      ...(isIP(host) ? {} : { servername: host }),
    });
    const done = (yes: boolean) => {
      socket.destroy();
      resolve(yes);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('secureConnect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Checks an address that closed a plaintext connection without a word, once per 30 s: when it speaks TLS, `signals`
 * says so (a TlsListenerError).
 */
export function tlsListenerCheck(signals: SecuritySignals): (host: string, port: number) => void {
  const checked = new Map<string, Promise<boolean>>();
  return (host, port) => {
    const address = `${host}:${port}`;
    let probe = checked.get(address);
    if (!probe) {
      probe = speaksTls(host, port);
      checked.set(address, probe);
      // Checked again after a while: a listener can change with a broker restart.
      setTimeout(() => checked.delete(address), 30_000).unref();
    }
    void probe.then((tls) => {
      if (tls) signals.emit(new TlsListenerError(address));
    });
  };
}

/**
 * kafkajs's socket factory for a plaintext client: its sockets as kafkajs makes them, watched. A first answer that is
 * a TLS record, or a connection the broker closes before a single byte came back (checked once for TLS), means the
 * listener speaks TLS: `signals` says so.
 */
export function watchedPlainSockets(signals: SecuritySignals) {
  const check = tlsListenerCheck(signals);
  return ({ host, port, onConnect }: { host: string; port: number; onConnect: () => void }): Socket => {
    const socket = netConnect({ host, port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    let connected = false;
    let answered = false;
    socket.once('connect', () => (connected = true));
    socket.once('data', (chunk: Buffer) => {
      answered = true;
      // A TLS record (an alert or a handshake, version 3.x): a Kafka response would start with its 4-byte size,
      // and one this large (0x15 or 0x16 first) is never sent.
      if (looksLikeTls(chunk)) signals.emit(new TlsListenerError(`${host}:${port}`));
    });
    socket.once('close', () => {
      if (connected && !answered) check(host, port);
    });
    return socket;
  };
}
