// Schema registry access behind our interface: register with BACKWARD compatibility, and a serde over the wire format.
// Two implementations: the Confluent-API client (Apicurio ccompat or Confluent), and an in-memory one for unit tests.
import avro from 'avsc';
import {
  SchemaRegistry as ConfluentClient,
  COMPATIBILITY,
  SchemaType,
} from '@kafkajs/confluent-schema-registry';
import { TagstreamError, recordError } from '../../errors.ts';
import { decodeWire, encodeWire } from './wire.ts';

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

/** Encodes and decodes Avro values in the wire format, caching compiled avsc types per schema id. */
export class AvroSerde {
  private readonly types = new Map<number, avro.Type>();
  private readonly pending = new Map<number, Promise<avro.Type>>();
  /** Whether a schema id belongs to a topic (see decode), per `topic` and id. */
  private readonly belongs = new Map<string, Promise<void>>();

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
    try {
      return type.fromBuffer(body);
    } catch (e) {
      throw recordError(
        'DECODE_MALFORMED',
        `Avro body does not match writer schema ${schemaId}: ${(e as Error).message}`,
      );
    }
  }

  /** `type` is the id's writer type (its `name` is the record's full name: the record-name strategies' subject). */
  private checkSubject(topic: string, id: number, type: avro.Type): Promise<void> {
    const key = `${topic}\u0000${id}`;
    let p = this.belongs.get(key);
    if (!p) {
      p = (async () => {
        const subjects = await this.registry.subjectsOf(id);
        const name = type.name;
        const allowed = [valueSubject(topic), ...(name ? [name, `${topic}-${name}`] : [])];
        if (!subjects.some((s) => allowed.includes(s)))
          throw recordError(
            'DECODE_WRONG_SUBJECT',
            `schema id ${id} is registered under ${subjects.join(', ') || 'no subject'}, not under ${valueSubject(topic)}: written with another topic's schema, or before the registry lost its storage and gave the id to another schema; not decoded`,
          );
      })();
      // A registry outage is retried with the record; an answer (either way) is kept.
      p.catch((e: unknown) => {
        if (!(e instanceof TagstreamError && e.isRecordError)) this.belongs.delete(key);
      });
      this.belongs.set(key, p);
    }
    return p;
  }
}

interface HttpishError {
  status?: number;
  message?: string;
  code?: string;
  cause?: { code?: string };
}

/** Maps client errors onto our codes: 404 on an id is the record's fault; network failures are the registry's. */
export function mapRegistryError(e: unknown, url: string, what: string): TagstreamError {
  const err = (e ?? {}) as HttpishError;
  if (err.status === 404 && what.startsWith('schema id'))
    return recordError('DECODE_UNKNOWN_SCHEMA', `${what} is not in the schema registry`);
  if (err.status === 409)
    return new TagstreamError(
      'REGISTRY_INCOMPATIBLE',
      `${what}: the registry rejected the schema as incompatible: ${err.message ?? ''}`,
      { cause: e },
    );
  // The Confluent client reports network failures as status 400 with the socket error in the message.
  const network = /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|socket hang up|fetch failed/.test(
    err.message ?? '',
  );
  if (network || err.status === undefined || err.status >= 500)
    return new TagstreamError(
      'REGISTRY_UNAVAILABLE',
      `schema registry at ${url} failed for ${what} (${err.message ?? err.code ?? err.cause?.code ?? 'no answer'}): is it up? run \`npm run stack -- up\` or set SCHEMA_REGISTRY_URL`,
      { cause: e, retryable: true },
    );
  return new TagstreamError(
    'REGISTRY_ERROR',
    `schema registry error for ${what}: ${err.status} ${err.message ?? ''}`,
    { cause: e },
  );
}

export function confluentRegistry(url: string): SchemaRegistryClient {
  const client = new ConfluentClient({ host: url, retry: { retries: 2 } });
  const base = url.replace(/\/$/, '');
  /** One call of the Confluent API; a non-2xx answer throws with its status (mapRegistryError reads it). */
  const call = async <T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> => {
    const res = await fetch(`${base}${path}`, {
      ...(init.method === undefined ? {} : { method: init.method }),
      ...(init.body === undefined
        ? {}
        : {
            headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
            body: JSON.stringify(init.body),
          }),
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw Object.assign(new Error(await res.text()), { status: res.status });
    return (await res.json()) as T;
  };
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
