// Schema registry access behind our interface: register with BACKWARD compatibility, and a serde over the wire format.
// Two implementations: the Confluent-API client (Apicurio ccompat or Confluent), and an in-memory one for unit tests.
// The URL says how to connect: `https://` with `?tls-ca=<PEM file>` for a private CA, `user:password@` for HTTP basic
// auth (Confluent's basic.auth.credentials.source=URL); config/load.ts merges schemaRegistry.username, password and
// tls.caFile into it.
import { readFileSync } from 'node:fs';
import { request as httpRequest, type Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import avro from 'avsc';
import {
  SchemaRegistry as ConfluentClient,
  COMPATIBILITY,
  SchemaType,
} from '@kafkajs/confluent-schema-registry';
import { TagstreamError, recordError } from '../../errors.ts';
import { redactUrl } from '../../redact.ts';
import { decodeWire, encodeWire } from './wire.ts';
import { tlsCertCodes } from '../net/tls.ts';

/** A parsed Avro schema (JSON). */
export type AvroSchemaJson = object;

/** What tagstream needs from a registry. */
export interface SchemaRegistryClient {
  /** Registers (or finds) the schema under `subject`, setting BACKWARD compatibility for a new subject; returns its id. */
  register(subject: string, schema: AvroSchemaJson): Promise<number>;
  /** The writer schema for an id; throws DECODE_UNKNOWN_SCHEMA when the registry does not know it. */
  schemaById(id: number): Promise<AvroSchemaJson>;
  /** The subjects a schema id is registered under (one schema text has one id across subjects). */
  subjectsOf(id: number): Promise<string[]>;
}

export const valueSubject = (topic: string): string => `${topic}-value`;

/** AvroSerde.decodeNow's answer when the registry has to be asked first (AvroSerde.decode). */
export const NOT_YET: unique symbol = Symbol('not yet known');

function fromBody(type: avro.Type, schemaId: number, body: Buffer): unknown {
  try {
    return type.fromBuffer(body);
  } catch (e) {
    throw recordError(
      'DECODE_MALFORMED',
      `Avro body does not match writer schema ${schemaId}: ${(e as Error).message}`,
    );
  }
}

/** Encodes and decodes Avro values in the wire format, caching compiled avsc types per schema id. */
export class AvroSerde {
  private readonly types = new Map<number, avro.Type>();
  private readonly pending = new Map<number, Promise<avro.Type>>();
  /**
   * Whether a schema id belongs to a topic (see decode), per topic and id: `true` once it is known to, so that
   * decodeNow need not wait; until then (or when it does not) the check itself.
   */
  private readonly belongs = new Map<string, Map<number, Promise<void> | true>>();

  constructor(private readonly registry: SchemaRegistryClient) {}

  private typeFor(id: number): Promise<avro.Type> {
    const cached = this.types.get(id);
    if (cached) return Promise.resolve(cached);
    let p = this.pending.get(id);
    if (!p) {
      p = this.registry.schemaById(id).then((schema) => {
        const type = avro.Type.forSchema(schema as avro.Schema);
        this.types.set(id, type);
        return type;
      });
      p.finally(() => this.pending.delete(id)).catch(() => undefined);
      this.pending.set(id, p);
    }
    return p;
  }

  /** Registers `schema` for the topic's value subject (BACKWARD compatibility); returns its id. */
  register(topic: string, schema: AvroSchemaJson): Promise<number> {
    return this.registry.register(valueSubject(topic), schema);
  }

  /** Registers `schema` for the topic's value subject and returns an encoder bound to its id. */
  async encoderFor<T>(topic: string, schema: AvroSchemaJson): Promise<(value: T) => Buffer> {
    const id = await this.register(topic, schema);
    const type = await this.typeFor(id);
    return (value: T) => {
      try {
        return encodeWire(id, type.toBuffer(value));
      } catch (e) {
        throw new TagstreamError('INTERNAL', `cannot encode for ${topic}: ${(e as Error).message}`, {
          cause: e,
        });
      }
    };
  }

  /**
   * Decodes with the writer schema named in the bytes. Bad bytes throw a record error; a registry outage does not.
   * With the topic the bytes were read from, the schema id must also be registered under one of the topic's
   * subjects (`<topic>-value`, the record's full name, or `<topic>-<full name>`: Confluent's three naming
   * strategies), or the record is refused as DECODE_WRONG_SUBJECT instead of being decoded with a schema that
   * happens to carry its id: a record written with another topic's schema, or one written before a registry lost
   * its storage and handed its id to another schema.
   */
  async decode(bytes: Buffer | null, topic?: string): Promise<unknown> {
    const { schemaId, body } = decodeWire(bytes);
    const type = await this.typeFor(schemaId);
    if (topic !== undefined) await this.checkSubject(topic, schemaId, type);
    return fromBody(type, schemaId, body);
  }

  /**
   * decode() without waiting, once the writer schema and its topic check are known (every record of a topic after
   * its first few): the value, or NOT_YET when decode() has to ask the registry. Bad bytes throw the same record
   * errors. Most records take this path: a promise and its turns per record were a share of a stage's allocations.
   */
  decodeNow(bytes: Buffer | null, topic?: string): unknown {
    const { schemaId, body } = decodeWire(bytes);
    const type = this.types.get(schemaId);
    if (type === undefined || (topic !== undefined && this.belongs.get(topic)?.get(schemaId) !== true))
      return NOT_YET;
    return fromBody(type, schemaId, body);
  }

  /** `type` is the id's writer type (its `name` is the record's full name: the record-name strategies' subject). */
  private checkSubject(topic: string, id: number, type: avro.Type): Promise<void> {
    let ids = this.belongs.get(topic);
    if (!ids) this.belongs.set(topic, (ids = new Map()));
    const known = ids.get(id);
    if (known === true) return Promise.resolve();
    if (known) return known;
    const p = (async () => {
      const subjects = await this.registry.subjectsOf(id);
      const name = type.name;
      const allowed = [valueSubject(topic), ...(name ? [name, `${topic}-${name}`] : [])];
      if (!subjects.some((s) => allowed.includes(s)))
        throw recordError(
          'DECODE_WRONG_SUBJECT',
          `schema id ${id} is registered under ${subjects.join(', ') || 'no subject'}, not under ${valueSubject(topic)}: written with another topic's schema, or before the registry lost its storage and gave the id to another schema; not decoded`,
        );
      ids.set(id, true);
    })();
    // A registry outage is retried with the record; an answer (either way) is kept.
    p.catch((e: unknown) => {
      if (!(e instanceof TagstreamError && e.isRecordError)) ids.delete(id);
    });
    ids.set(id, p);
    return p;
  }
}

interface HttpishError {
  status?: number;
  message?: string;
  code?: string;
  cause?: { code?: string };
}

/** How to reach a registry: its API base (no credentials, no options), basic auth and a CA, from its URL. */
export interface RegistryConnection {
  readonly base: string;
  readonly auth?: { readonly username: string; readonly password: string };
  readonly caFile?: string;
}

/** The URL for messages: no password, no options. */
export const registryWhere = (url: string): string =>
  redactUrl(url)
    .replace(/[?&]tls-ca=[^&#]*/, '')
    .replace(/\/$/, '');

/** Splits a registry URL into its API base, basic auth (`user:password@`) and CA (`?tls-ca=`). */
export function parseRegistryUrl(url: string): RegistryConnection {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TagstreamError('CONFIG_INVALID', `schemaRegistry.url: ${registryWhere(url)} is not a URL`);
  }
  const caFile = u.searchParams.get('tls-ca') ?? '';
  u.searchParams.delete('tls-ca');
  const username = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  if (caFile && u.protocol !== 'https:')
    throw new TagstreamError(
      'CONFIG_INVALID',
      `schemaRegistry.tls.caFile (tls-ca) is set but schemaRegistry.url is ${u.protocol}//: use https://`,
    );
  return {
    base: u.toString().replace(/\/$/, ''),
    ...(username || password ? { auth: { username, password } } : {}),
    ...(caFile ? { caFile } : {}),
  };
}

/** An agent trusting the connection's CA (an https:// URL with tls-ca); undefined: Node's defaults. */
function agentFor(conn: RegistryConnection): HttpsAgent | undefined {
  if (!conn.caFile) return undefined;
  try {
    return new HttpsAgent({ ca: readFileSync(conn.caFile), keepAlive: true });
  } catch (e) {
    throw new TagstreamError(
      'CONFIG_INVALID',
      `schemaRegistry.tls.caFile (tls-ca): cannot read ${conn.caFile} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

/**
 * One request to the registry's API: `path` under its base, basic auth and the CA from the URL; JSON in and out. A
 * non-2xx answer throws an Error with its `status` (mapRegistryError reads it), a socket or TLS failure its `code`.
 */
export function registryRequest<T>(
  url: string,
  path: string,
  init: {
    method?: string;
    body?: unknown;
    timeoutMs?: number;
    agent?: HttpsAgent | HttpAgent;
    signal?: AbortSignal;
  } = {},
): Promise<T> {
  const conn = parseRegistryUrl(url);
  const target = new URL(`${conn.base}${path}`);
  const agent = init.agent ?? agentFor(conn);
  const body = init.body === undefined ? undefined : JSON.stringify(init.body);
  const headers: Record<string, string> = {
    Accept: 'application/vnd.schemaregistry.v1+json, application/json',
  };
  if (body !== undefined) headers['Content-Type'] = 'application/vnd.schemaregistry.v1+json';
  if (conn.auth)
    headers['Authorization'] =
      `Basic ${Buffer.from(`${conn.auth.username}:${conn.auth.password}`).toString('base64')}`;
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<T>((resolve, reject) => {
    const req = send(
      target,
      {
        method: init.method ?? 'GET',
        headers,
        ...(agent ? { agent } : {}),
        timeout: init.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) {
            reject(Object.assign(new Error(text.slice(0, 500) || `HTTP ${status}`), { status }));
            return;
          }
          try {
            resolve((text ? JSON.parse(text) : null) as T);
          } catch (e) {
            reject(e instanceof Error ? e : new Error(String(e)));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('ETIMEDOUT'), { code: 'ETIMEDOUT' })));
    init.signal?.addEventListener('abort', () => req.destroy(new Error('aborted')), { once: true });
    req.on('error', reject);
    req.end(body);
  });
}

const TLS_CERT_CODES = tlsCertCodes('EPROTO');
/** The same failures as the Confluent client reports them (status 400, the socket error's text in the message). */
const TLS_MESSAGES =
  /self[- ]signed certificate|unable to verify the first certificate|unable to get (local )?issuer certificate|Hostname\/IP does not match|certificate has expired|wrong version number/i;

function userOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).username);
  } catch {
    return '';
  }
}

/**
 * Maps client errors onto our codes: 404 on an id is the record's fault; network failures are the registry's; a
 * refused login (401, 403) and a failed TLS handshake say what to set. Messages never carry the password.
 */
export function mapRegistryError(e: unknown, url: string, what: string): TagstreamError {
  const err = (e ?? {}) as HttpishError;
  const where = registryWhere(url);
  if (err.status === 404 && what.startsWith('schema id'))
    return recordError('DECODE_UNKNOWN_SCHEMA', `${what} is not in the schema registry`);
  if (err.status === 409)
    return new TagstreamError(
      'REGISTRY_INCOMPATIBLE',
      `${what}: the registry rejected the schema as incompatible: ${err.message ?? ''}`,
      { cause: e },
    );
  if (err.status === 401 || err.status === 403) {
    const user = userOf(url);
    return new TagstreamError(
      'REGISTRY_AUTH_FAILED',
      err.status === 401
        ? `schema registry at ${where} refused ${user ? `the login of ${user}` : 'a request without a login'} for ${what} (401): ${
            user ? 'check' : 'set'
          } schemaRegistry.username and schemaRegistry.password (or passwordFile)`
        : `schema registry at ${where}: ${user || 'this client'} may not do this for ${what} (403): the registry's roles must allow it`,
      { cause: e, details: { status: err.status, ...(user ? { user } : {}) } },
    );
  }
  const code = err.code ?? err.cause?.code ?? '';
  if (TLS_CERT_CODES.has(code) || TLS_MESSAGES.test(err.message ?? ''))
    return new TagstreamError(
      'REGISTRY_TLS_FAILED',
      `TLS to the schema registry at ${where} failed for ${what} (${code || err.message}): its certificate must be signed by a CA in schemaRegistry.tls.caFile (unset: the system CAs) and name its host; a plaintext registry needs an http:// URL`,
      { cause: e },
    );
  // The Confluent client reports network failures as status 400 with the socket error in the message.
  const network = /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|socket hang up|fetch failed/.test(
    err.message ?? '',
  );
  if (network || err.status === undefined || err.status >= 500)
    return new TagstreamError(
      'REGISTRY_UNAVAILABLE',
      `schema registry at ${where} failed for ${what} (${err.message ?? err.code ?? err.cause?.code ?? 'no answer'}): is it up? run \`npm run stack -- up\` or set SCHEMA_REGISTRY_URL`,
      { cause: e, retryable: true },
    );
  return new TagstreamError(
    'REGISTRY_ERROR',
    `schema registry error for ${what}: ${err.status} ${err.message ?? ''}`,
    { cause: e },
  );
}

export function confluentRegistry(url: string): SchemaRegistryClient {
  const conn = parseRegistryUrl(url);
  const agent = agentFor(conn);
  const client = new ConfluentClient({
    host: conn.base,
    retry: { retries: 2 },
    ...(conn.auth ? { auth: conn.auth } : {}),
    // The client's type names http.Agent; mappersmith hands it to https.request for an https:// host.
    ...(agent ? { agent: agent as unknown as HttpAgent } : {}),
  });
  /** One call of the Confluent API; a non-2xx answer throws with its status (mapRegistryError reads it). */
  const call = <T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> =>
    registryRequest<T>(url, path, { ...init, ...(agent ? { agent } : {}) });
  return {
    async register(subject, schema) {
      try {
        // The subject's BACKWARD rule first, every time (idempotent): the client sets it only after a first
        // registration, so a process stopped in between (SIGKILL) left a subject without it, and a registry that
        // answers the global level for such a subject (Apicurio 3: NONE) then failed every later registration with
        // "Compatibility does not match the configuration".
        // Two processes registering a new subject at once both create the rule, and Apicurio answers one of them
        // 409 "A rule named 'COMPATIBILITY' already exists": setting it again then updates the existing rule.
        for (let attempt = 1; ; attempt++) {
          try {
            await call(`/config/${encodeURIComponent(subject)}`, {
              method: 'PUT',
              body: { compatibility: 'BACKWARD' },
            });
            break;
          } catch (e) {
            if ((e as HttpishError).status !== 409 || attempt >= 3) throw e;
          }
        }
        const { id } = await client.register(
          { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
          { subject, compatibility: COMPATIBILITY.BACKWARD },
        );
        return id;
      } catch (e) {
        throw mapRegistryError(e, url, `subject ${subject}`);
      }
    },
    async schemaById(id) {
      try {
        const body = await call<{ schema: string; schemaType?: string }>(`/schemas/ids/${id}`);
        if (body.schemaType && body.schemaType !== 'AVRO')
          throw recordError('DECODE_UNKNOWN_SCHEMA', `schema id ${id} is ${body.schemaType}, not Avro`);
        return JSON.parse(body.schema) as AvroSchemaJson;
      } catch (e) {
        if (e instanceof TagstreamError) throw e;
        throw mapRegistryError(e, url, `schema id ${id}`);
      }
    },
    async subjectsOf(id) {
      try {
        return (await call<{ subject: string }[]>(`/schemas/ids/${id}/versions`)).map((v) => v.subject);
      } catch (e) {
        throw mapRegistryError(e, url, `schema id ${id}`);
      }
    },
  };
}

/** A registry in memory, same behaviour for ids and BACKWARD checks, for the in-process driver. */
export function memoryRegistry(): SchemaRegistryClient & { subjects(): Map<string, number[]> } {
  const byId = new Map<number, AvroSchemaJson>();
  const bySubject = new Map<string, number[]>();
  let next = 1;
  return {
    async register(subject, schema) {
      const text = JSON.stringify(schema);
      const versions = bySubject.get(subject) ?? [];
      const known = versions.find((id) => JSON.stringify(byId.get(id)) === text);
      if (known !== undefined) return known;
      const latest = versions.at(-1);
      if (latest !== undefined) {
        // BACKWARD: the new schema must read data written with the subject's latest one.
        const reader = avro.Type.forSchema(schema as avro.Schema);
        const writer = avro.Type.forSchema(byId.get(latest) as avro.Schema);
        try {
          reader.createResolver(writer);
        } catch (e) {
          throw new TagstreamError('REGISTRY_INCOMPATIBLE', `subject ${subject}: ${(e as Error).message}`);
        }
      }
      // Like a real registry, the same schema text keeps one id across subjects.
      const existing = [...byId].find(([, s]) => JSON.stringify(s) === text)?.[0];
      const id = existing ?? next++;
      byId.set(id, schema);
      bySubject.set(subject, [...versions, id]);
      return id;
    },
    async schemaById(id) {
      const s = byId.get(id);
      if (!s) throw recordError('DECODE_UNKNOWN_SCHEMA', `schema id ${id} is not in the schema registry`);
      return s;
    },
    async subjectsOf(id) {
      return [...bySubject].filter(([, ids]) => ids.includes(id)).map(([subject]) => subject);
    },
    subjects: () => bySubject,
  };
}
