// How the adapter's clients authenticate and encrypt (kafka.security / kafka.sasl / kafka.ssl), in one form both
// implementations read, and the classification of the failures that security causes: a refused login, a missing ACL,
// a TLS handshake that failed, a plaintext client at a TLS listener. Pure but for reading the PEM files.
import { readFileSync } from 'node:fs';
import type { Config } from '../../../config/schema.ts';
import { TagstreamError } from '../../errors.ts';
import { oauthBearerProvider, type OAuthBearerToken, type OAuthSettings } from './oauth.ts';

export type SecurityProtocol = Config['kafka']['security']['protocol'];
export type SaslMechanism = Config['kafka']['sasl']['mechanism'];

export interface KafkaSecurity {
  readonly protocol: SecurityProtocol;
  /**
   * With SASL_PLAINTEXT and SASL_SSL. OAUTHBEARER: `oauth` set, the username its client id (the principal a
   * client-credentials token usually names) and the password empty.
   */
  readonly sasl?: {
    readonly mechanism: SaslMechanism;
    readonly username: string;
    readonly password: string;
    readonly oauth?: OAuthSettings;
  };
  /** With SSL and SASL_SSL; file paths (PEM), an empty CA meaning the system's CAs. */
  readonly ssl?: {
    readonly caFile: string;
    readonly certFile: string;
    readonly keyFile: string;
    readonly keyPassword: string;
  };
}

export const PLAINTEXT: KafkaSecurity = { protocol: 'PLAINTEXT' };

/** The security settings of validated config (its secrets already read from their files by config/load.ts). */
export function securityFrom(kafka: Config['kafka']): KafkaSecurity {
  const { protocol } = kafka.security;
  return {
    protocol,
    ...(protocol.startsWith('SASL_')
      ? {
          sasl:
            kafka.sasl.mechanism === 'OAUTHBEARER'
              ? {
                  mechanism: kafka.sasl.mechanism,
                  username: kafka.sasl.oauth?.clientId ?? '',
                  password: '',
                  oauth: {
                    tokenEndpointUrl: kafka.sasl.oauth?.tokenEndpointUrl ?? '',
                    clientId: kafka.sasl.oauth?.clientId ?? '',
                    clientSecret: kafka.sasl.oauth?.clientSecret ?? '',
                    scope: kafka.sasl.oauth?.scope ?? '',
                    extensions: { ...kafka.sasl.oauth?.extensions },
                  },
                }
              : {
                  mechanism: kafka.sasl.mechanism,
                  username: kafka.sasl.username,
                  password: kafka.sasl.password,
                },
        }
      : {}),
    ...(protocol.endsWith('SSL')
      ? {
          ssl: {
            caFile: kafka.ssl.caFile,
            certFile: kafka.ssl.certFile,
            keyFile: kafka.ssl.keyFile,
            keyPassword: kafka.ssl.keyPassword,
          },
        }
      : {}),
  };
}

export const usesTls = (s: KafkaSecurity | undefined): boolean => s?.ssl !== undefined;

/** The secrets of these settings: what must never reach a log line or an error message. */
export function secretsOf(s: KafkaSecurity | undefined): string[] {
  return [s?.sasl?.password ?? '', s?.sasl?.oauth?.clientSecret ?? '', s?.ssl?.keyPassword ?? ''].filter(
    (x) => x.length > 0,
  );
}

/** `text` with every secret replaced by ***; secrets shorter than 4 characters are left (they would hide words). */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***');
  return out;
}

/** Every string in a log entry's details, scrubbed (objects and arrays copied, anything else kept). */
export function scrubDeep(value: unknown, secrets: readonly string[], depth = 0): unknown {
  if (!secrets.length || depth > 8) return value;
  if (typeof value === 'string') return scrub(value, secrets);
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, secrets, depth + 1));
  if (typeof value === 'object' && value !== null && !Buffer.isBuffer(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubDeep(v, secrets, depth + 1)]));
  return value;
}

/** The principal the broker sees, as ACLs name it (a certificate's principal is its subject, mapped by the broker). */
export function principalOf(s: KafkaSecurity | undefined): string {
  if (s?.sasl) return `User:${s.sasl.username}`;
  if (s?.ssl?.certFile) return `the principal of the client certificate ${s.ssl.certFile}`;
  return 'User:ANONYMOUS';
}

/** Reads a PEM file named by a config key; a missing file is CONFIG_INVALID naming the key. */
export function readPem(file: string, key: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new TagstreamError(
      'CONFIG_INVALID',
      `${key}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      { cause: e },
    );
  }
}

/** kafkajs's `ssl` and `sasl` options. */
export function kafkajsSecurityOptions(s: KafkaSecurity | undefined): {
  ssl?: { ca?: string[]; cert?: string; key?: string; passphrase?: string };
  sasl?:
    | { mechanism: 'scram-sha-512'; username: string; password: string }
    | { mechanism: 'oauthbearer'; oauthBearerProvider: () => Promise<OAuthBearerToken> };
} {
  const out: ReturnType<typeof kafkajsSecurityOptions> = {};
  if (s?.ssl) {
    const { caFile, certFile, keyFile, keyPassword } = s.ssl;
    out.ssl = {
      ...(caFile ? { ca: [readPem(caFile, 'kafka.ssl.caFile')] } : {}),
      ...(certFile ? { cert: readPem(certFile, 'kafka.ssl.certFile') } : {}),
      ...(keyFile ? { key: readPem(keyFile, 'kafka.ssl.keyFile') } : {}),
      ...(keyPassword ? { passphrase: keyPassword } : {}),
    };
  }
  if (s?.sasl?.oauth)
    out.sasl = { mechanism: 'oauthbearer', oauthBearerProvider: oauthBearerProvider(s.sasl.oauth) };
  else if (s?.sasl)
    out.sasl = {
      // kafkajs's type is a union per mechanism; the three take the same options.
      mechanism: s.sasl.mechanism.toLowerCase() as 'scram-sha-512',
      username: s.sasl.username,
      password: s.sasl.password,
    };
  return out;
}

/** librdkafka's properties (the confluent client takes them beside its kafkaJS block). */
export function librdkafkaSecurityOptions(s: KafkaSecurity | undefined): Record<string, string> {
  if (!s) return {};
  const out: Record<string, string> = { 'security.protocol': s.protocol.toLowerCase() };
  const oauth = s.sasl?.oauth;
  if (oauth) {
    // librdkafka's built-in OIDC client credentials (it fetches and refreshes the token itself).
    Object.assign(out, {
      'sasl.mechanisms': 'OAUTHBEARER',
      'sasl.oauthbearer.method': 'oidc',
      'sasl.oauthbearer.token.endpoint.url': oauth.tokenEndpointUrl,
      'sasl.oauthbearer.client.id': oauth.clientId,
      'sasl.oauthbearer.client.secret': oauth.clientSecret,
    });
    if (oauth.scope) out['sasl.oauthbearer.scope'] = oauth.scope;
    const extensions = Object.entries(oauth.extensions);
    if (extensions.length)
      out['sasl.oauthbearer.extensions'] = extensions.map(([k, v]) => `${k}=${v}`).join(',');
  } else if (s.sasl)
    Object.assign(out, {
      'sasl.mechanisms': s.sasl.mechanism,
      'sasl.username': s.sasl.username,
      'sasl.password': s.sasl.password,
    });
  if (s.ssl) {
    const { caFile, certFile, keyFile, keyPassword } = s.ssl;
    // Read once here so that a missing file fails as kafkajs's does (CONFIG_INVALID naming the key).
    if (caFile) readPem(caFile, 'kafka.ssl.caFile');
    if (certFile) readPem(certFile, 'kafka.ssl.certFile');
    if (keyFile) readPem(keyFile, 'kafka.ssl.keyFile');
    if (caFile) out['ssl.ca.location'] = caFile;
    if (certFile) out['ssl.certificate.location'] = certFile;
    if (keyFile) out['ssl.key.location'] = keyFile;
    if (keyPassword) out['ssl.key.password'] = keyPassword;
  }
  return out;
}

// --- Failures --------------------------------------------------------------------------------------------------

/** What a call was doing, for an error that names the resource and the ACL it lacks. */
export interface KafkaOperation {
  /** The ACL operation the call needs on its topics: Write, Read, Create, Describe, DescribeConfigs, Delete. */
  readonly action: string;
  readonly topics?: readonly string[];
  readonly group?: string;
  readonly transactionalId?: string;
  /** What was done, for the message: "producing", "joining the group". */
  readonly what: string;
}

export type SecurityFailure =
  | { readonly kind: 'auth'; readonly detail: string }
  | { readonly kind: 'mechanism'; readonly detail: string }
  | {
      readonly kind: 'denied';
      readonly resource: 'Topic' | 'Group' | 'Cluster' | 'TransactionalId';
      readonly type: string;
      readonly topics?: readonly string[];
    }
  | { readonly kind: 'tls'; readonly detail: string }
  /** The listener speaks TLS and the client does not (needsTls), or the other way round. */
  | { readonly kind: 'mismatch'; readonly needsTls: boolean; readonly detail: string };

interface ErrorLike {
  name?: string;
  message?: string;
  type?: string;
  code?: string | number;
  topic?: string;
  cause?: unknown;
  originalError?: unknown;
  errors?: unknown[];
}

/** The error and what it wraps (kafkajs: cause, originalError, an aggregate's errors), depth-first. */
function chain(e: unknown, seen = new Set<unknown>()): ErrorLike[] {
  if (typeof e !== 'object' || e === null || seen.has(e)) return [];
  seen.add(e);
  const x = e as ErrorLike;
  return [
    x,
    ...chain(x.cause, seen),
    ...chain(x.originalError, seen),
    ...(Array.isArray(x.errors) ? x.errors.flatMap((c) => chain(c, seen)) : []),
  ];
}

/** Broker error names as kafkajs spells them (librdkafka's ERR_ prefix dropped). */
const typeOf = (x: ErrorLike): string => (x.type ?? '').replace(/^ERR_(?!_)/, '');

const DENIED: Record<string, 'Topic' | 'Group' | 'Cluster' | 'TransactionalId'> = {
  TOPIC_AUTHORIZATION_FAILED: 'Topic',
  GROUP_AUTHORIZATION_FAILED: 'Group',
  CLUSTER_AUTHORIZATION_FAILED: 'Cluster',
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 'TransactionalId',
};

/** librdkafka's wording of the same broker errors, in log lines and messages ("Broker: Topic authorization failed"). */
const DENIED_TEXT: Array<[RegExp, string]> = [
  [/Topic authorization failed/i, 'TOPIC_AUTHORIZATION_FAILED'],
  [/Group authorization failed/i, 'GROUP_AUTHORIZATION_FAILED'],
  [/Cluster authorization failed/i, 'CLUSTER_AUTHORIZATION_FAILED'],
  [/Transactional Id authorization failed/i, 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED'],
];

/** A plaintext client at a TLS listener: our detector (signals.ts), librdkafka's own guess. */
const NEEDS_TLS = /TAGSTREAM_TLS_LISTENER|connecting to a SSL listener/i;
/** A TLS client at a plaintext listener: OpenSSL reads a Kafka response as a TLS record. */
const NOT_TLS = /wrong version number|packet length too long|record layer failure|unknown protocol/i;

/** Node's and OpenSSL's certificate errors (tls.connect), by code. */
const TLS_CODES =
  /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL|EPROTO|HOSTNAME|ALTNAME|UNABLE_TO_DECRYPT|BAD_DECRYPT/;
const TLS_TEXT =
  /certificate|self[- ]signed|wrong version number|SSL routines|TLS|handshake|altnames|bad decrypt/i;

/** The security failure an error of either client describes, or undefined when it is something else. */
export function classifySecurityError(e: unknown): SecurityFailure | undefined {
  const all = chain(e);
  // Another adapter's coded error anywhere in the chain (a sink's MYSQL_* or REDIS_* thrown inside a consumer, whose
  // text the client's wrapper copies) is not a Kafka failure, whatever the text says.
  if (all.some((x) => x instanceof TagstreamError && !x.code.startsWith('KAFKA_'))) return undefined;
  for (const x of all) {
    const text = `${typeof x.code === 'string' ? x.code : ''} ${x.message ?? ''}`;
    if (NEEDS_TLS.test(text)) return { kind: 'mismatch', needsTls: true, detail: x.message ?? '' };
    if (NOT_TLS.test(text)) return { kind: 'mismatch', needsTls: false, detail: x.message ?? '' };
  }
  for (const x of all) {
    const t = DENIED[typeOf(x)] ? typeOf(x) : DENIED_TEXT.find(([re]) => re.test(x.message ?? ''))?.[1];
    const resource = t ? DENIED[t] : undefined;
    if (resource && t) {
      const topics = all.map((y) => y.topic).filter((y): y is string => typeof y === 'string');
      return { kind: 'denied', resource, type: t, ...(topics.length ? { topics } : {}) };
    }
  }
  for (const x of all) {
    const t = typeOf(x);
    if (
      t === 'UNSUPPORTED_SASL_MECHANISM' ||
      /mechanism .* not enabled|Unsupported SASL mechanism/i.test(x.message ?? '')
    )
      return { kind: 'mechanism', detail: x.message ?? t };
    if (
      x.name === 'KafkaJSSASLAuthenticationError' ||
      t === 'SASL_AUTHENTICATION_FAILED' ||
      t === 'ERR__AUTHENTICATION' ||
      /SASL authentication (error|failed)|Authentication failed/i.test(x.message ?? '')
    )
      return { kind: 'auth', detail: x.message ?? t };
  }
  for (const x of all) {
    const code = typeof x.code === 'string' ? x.code : '';
    if (TLS_CODES.test(code) || typeOf(x) === 'ERR__SSL' || TLS_TEXT.test(x.message ?? ''))
      return { kind: 'tls', detail: x.message ?? code };
  }
  return undefined;
}

/** kafka-acls' words for an operation, as the hint's command line takes them. */
const aclCommand = (principal: string, action: string, resource: string, name: string): string => {
  const flag =
    resource === 'Topic'
      ? `--topic ${name}`
      : resource === 'Group'
        ? `--group ${name}`
        : resource === 'TransactionalId'
          ? `--transactional-id ${name}`
          : '--cluster';
  return `kafka-acls.sh --add --allow-principal ${principal} --operation ${action} ${flag}`;
};

/**
 * Our coded error for a security failure, naming the principal, the brokers, the resource and what to change;
 * undefined when `e` is not one. Never includes a secret.
 */
export function securityError(
  e: unknown,
  brokers: readonly string[],
  security: KafkaSecurity | undefined,
  op?: KafkaOperation,
): TagstreamError | undefined {
  // The OAuth token endpoint refused the client (oauth.ts): that error already says what to change.
  const refused = chain(e).find(
    (x): x is TagstreamError =>
      x instanceof TagstreamError && x.code === 'KAFKA_AUTH_FAILED' && 'tokenEndpointUrl' in x.details,
  );
  if (refused) return refused;
  const failure = classifySecurityError(e);
  const at = brokers.join(',');
  const principal = principalOf(security);
  const secrets = secretsOf(security);
  const clean = (s: string) => scrub(s, secrets);
  const doing = op ? ` while ${op.what}` : '';
  if (!failure) return undefined;
  switch (failure.kind) {
    case 'auth':
      return new TagstreamError(
        'KAFKA_AUTH_FAILED',
        security?.sasl?.oauth
          ? `Kafka at ${at} refused the OAuth token of client ${security.sasl.oauth.clientId} (OAUTHBEARER, from ` +
              `${security.sasl.oauth.tokenEndpointUrl})${doing}: check kafka.sasl.oauth.clientId, scope and extensions ` +
              `(Confluent Cloud: logicalCluster, identityPoolId) (${clean(failure.detail)})`
          : security?.sasl
            ? `Kafka at ${at} refused the login of ${security.sasl.username} (${security.sasl.mechanism})${doing}: wrong user or password; ` +
              `check kafka.sasl.username and kafka.sasl.password / passwordFile (KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD_FILE) (${clean(failure.detail)})`
            : `Kafka at ${at} refused the connection's authentication${doing} (${clean(failure.detail)}): the listener wants SASL: ` +
              `set kafka.security.protocol to SASL_SSL and kafka.sasl.username / password`,
        { cause: e, retryable: false, details: { principal, brokers: at } },
      );
    case 'mechanism':
      return new TagstreamError(
        'KAFKA_AUTH_FAILED',
        `Kafka at ${at} does not accept SASL mechanism ${security?.sasl?.mechanism ?? '(none)'}${doing}: set kafka.sasl.mechanism ` +
          `to one the listener enables (sasl.enabled.mechanisms) (${clean(failure.detail)})`,
        { cause: e, retryable: false, details: { principal, brokers: at } },
      );
    case 'tls':
      return new TagstreamError(
        'KAFKA_TLS_FAILED',
        usesTls(security)
          ? `TLS with Kafka at ${at} failed${doing} (${clean(failure.detail)}): check that kafka.ssl.caFile (${security?.ssl?.caFile || 'the system CAs'}) ` +
              `holds the CA that signed the broker's certificate and that the certificate names the host in kafka.brokers; ` +
              `if the listener does not use TLS, set kafka.security.protocol to PLAINTEXT or SASL_PLAINTEXT`
          : `TLS error from Kafka at ${at}${doing} (${clean(failure.detail)})`,
        { cause: e, retryable: false, details: { brokers: at } },
      );
    case 'mismatch':
      return new TagstreamError(
        'KAFKA_PROTOCOL_MISMATCH',
        failure.needsTls
          ? `Kafka at ${at} speaks TLS, but kafka.security.protocol is ${security?.protocol ?? 'PLAINTEXT'}${doing}: set it ` +
              `(KAFKA_SECURITY_PROTOCOL) to SSL or SASL_SSL, with kafka.ssl.caFile, or use the broker's plaintext listener (${clean(failure.detail)})`
          : `Kafka at ${at} does not speak TLS, but kafka.security.protocol is ${security?.protocol ?? 'PLAINTEXT'}${doing}: ` +
              `set it to PLAINTEXT or SASL_PLAINTEXT, or use the broker's TLS listener (${clean(failure.detail)})`,
        { cause: e, retryable: false, details: { protocol: security?.protocol ?? 'PLAINTEXT', brokers: at } },
      );
    case 'denied':
      return deniedError(e, failure, at, principal, op);
  }
}

function deniedError(
  e: unknown,
  failure: Extract<SecurityFailure, { kind: 'denied' }>,
  at: string,
  principal: string,
  op: KafkaOperation | undefined,
): TagstreamError {
  const action =
    failure.resource === 'Group'
      ? op?.action === 'Delete'
        ? 'Delete'
        : 'Read'
      : failure.resource === 'TransactionalId'
        ? 'Write'
        : failure.resource === 'Cluster'
          ? op?.action === 'Write'
            ? 'IdempotentWrite'
            : (op?.action ?? 'Describe')
          : (op?.action ?? 'Describe');
  const names =
    failure.resource === 'Topic'
      ? [...(failure.topics ?? op?.topics ?? [])]
      : failure.resource === 'Group'
        ? op?.group
          ? [op.group]
          : []
        : failure.resource === 'TransactionalId'
          ? op?.transactionalId
            ? [op.transactionalId]
            : []
          : ['kafka-cluster'];
  const named = names.length
    ? `${failure.resource} ${names.join(', ')}`
    : `the ${failure.resource.toLowerCase()}`;
  const hint = aclCommand(
    principal.startsWith('User:') ? principal : '<principal>',
    action,
    failure.resource,
    names[0] ?? '<name>',
  );
  return new TagstreamError(
    'KAFKA_NOT_AUTHORIZED',
    `${principal} is not authorized to ${action} ${named} at ${at}${op ? ` (while ${op.what})` : ''}: ` +
      `the ACL allowing ${action} on ${named} for ${principal} is missing (${failure.type}); an admin adds it with ${hint}`,
    {
      cause: e,
      retryable: false,
      details: {
        principal,
        resource: failure.resource,
        names,
        operation: action,
        brokerError: failure.type,
      },
    },
  );
}
