// One error type for the whole project: every error carries a code, a cause and whether a retry can help.
// Retry logic and DLQ routing read `code` and `retryable`, never the message text.

/** Input that can never succeed: routed to dlq.<source> with this code as the reason, never retried. */
const RECORD_CODES = [
  'DECODE_MAGIC_BYTE',
  'DECODE_UNKNOWN_SCHEMA',
  'DECODE_MALFORMED',
  'DECODE_SCHEMA_MISMATCH',
  'DECODE_WRONG_SUBJECT',
  // Bounded inputs: a record or key over pipeline.maxRecordBytes / maxKeyBytes, a field over its limit.
  'RECORD_TOO_LARGE',
  'KEY_TOO_LONG',
  'FIELD_TOO_LONG',
  'MISSING_FIELD',
  'UNKNOWN_SCAN_TYPE',
  'UNKNOWN_STORE',
  'EVENT_TIME_FUTURE',
  'EVENT_TIME_TOO_OLD',
  'BAD_QUANTITY',
  'BAD_PRICE',
  'TOTAL_MISMATCH',
  'EMPTY_ITEMS',
  'BAD_QUALITY_GRADE',
  'NOT_FINITE',
  'ENCODE_FAILED',
  // A sink (MySQL, Redis) refused the record's content: a value too long or out of range, a failed CHECK.
  'SINK_REJECTED',
] as const;

/**
 * Security refusals (docs/security.md). Kafka (src/io/kafka/security.ts): a refused login, a missing ACL, a failed TLS
 * handshake, a client whose kafka.security.protocol does not match the listener (plaintext at a TLS listener, or the
 * other way round). The data services: a refused login, a missing grant or ACL, a failed or missing TLS handshake.
 * Never retryable: the credentials, the grants or the TLS settings must change.
 */
const SECURITY_CODES = [
  'KAFKA_AUTH_FAILED',
  'KAFKA_NOT_AUTHORIZED',
  'KAFKA_TLS_FAILED',
  'KAFKA_PROTOCOL_MISMATCH',
  'REGISTRY_AUTH_FAILED',
  'REGISTRY_TLS_FAILED',
  'MYSQL_AUTH_FAILED',
  'MYSQL_NOT_AUTHORIZED',
  'MYSQL_TLS_FAILED',
  'REDIS_AUTH_FAILED',
  'REDIS_NOT_AUTHORIZED',
  'REDIS_TLS_FAILED',
] as const;

export const ERROR_CODES = [
  ...RECORD_CODES,
  // Dependencies and operations.
  'CONFIG_INVALID',
  'KAFKA_UNAVAILABLE',
  'KAFKA_ERROR',
  ...SECURITY_CODES,
  'REGISTRY_UNAVAILABLE',
  'REGISTRY_INCOMPATIBLE',
  'REGISTRY_ERROR',
  'MYSQL_UNAVAILABLE',
  'MYSQL_ERROR',
  'REDIS_UNAVAILABLE',
  'REDIS_ERROR',
  'STACK_TOOL_MISSING',
  'STACK_START_FAILED',
  'SHUTDOWN_TIMEOUT',
  // Work given up because the job is stopping (a wait on another consumer group's progress): left uncommitted and
  // done again at the next start.
  'STOPPING',
  'INTERNAL',
  // Batch collectors' providers (src/batch/provider.ts).
  'PROVIDER_UNAVAILABLE',
  'PROVIDER_MISSING',
  'PROVIDER_BAD_DATA',
  'PROVIDER_ERROR',
  // Model loading and inference (src/ml/onnx/session.ts, src/ml/predict.ts): a bad model or input shape.
  'MODEL_ERROR',
  // Model registry (src/ml/registry/): unknown version, nothing to roll back to, artefact checksum, announcement.
  'MODEL_NOT_FOUND',
  'MODEL_NO_ROLLBACK',
  'MODEL_CHECKSUM_MISMATCH',
  'MODEL_CONFLICT',
  'MODEL_PUBLISH_FAILED',
  // REST API (src/api/): a bad or unauthorised request, and what it asked for that does not exist.
  'API_BAD_REQUEST',
  'API_UNAUTHORIZED',
  'API_FORBIDDEN',
  'API_RATE_LIMITED',
  'API_PAYLOAD_TOO_LARGE',
  'API_NOT_FOUND',
  'UNKNOWN_SERVICE',
  'PREDICTION_NOT_FOUND',
  'DLQ_NOT_FOUND',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Codes that describe the record itself: the record is dead-lettered, never retried. */
export const RECORD_ERROR_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(RECORD_CODES);

/**
 * Codes no retry or restart can fix: a refused login, a missing grant or ACL, a failed TLS handshake, a wrong
 * setting. A running job stops on one (as Kafka Streams' SHUTDOWN_CLIENT), leaving the failed batch uncommitted;
 * an outage (`*_UNAVAILABLE`, a timeout) is retried instead (src/runtime/kafka-runner.ts).
 */
export const FATAL_ERROR_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'CONFIG_INVALID',
  ...SECURITY_CODES,
]);

export interface TagstreamErrorOptions {
  readonly cause?: unknown;
  readonly retryable?: boolean;
  /** Extra context for logs (a field name, a topic); never secrets. */
  readonly details?: Readonly<Record<string, unknown>>;
}

export class TagstreamError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: TagstreamErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TagstreamError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }

  /** True when this error describes a bad record (goes to the DLQ) rather than a failed dependency. */
  get isRecordError(): boolean {
    return RECORD_ERROR_CODES.has(this.code);
  }

  /** True when retrying cannot help (credentials, grants, TLS, configuration): a running job stops on it. */
  get isFatal(): boolean {
    return !this.retryable && FATAL_ERROR_CODES.has(this.code);
  }
}

export function isTagstreamError(e: unknown): e is TagstreamError {
  return e instanceof TagstreamError;
}

export function recordError(
  code: ErrorCode,
  message: string,
  details?: Record<string, unknown>,
): TagstreamError {
  return new TagstreamError(code, message, details === undefined ? {} : { details });
}

/** Wraps anything thrown into a TagstreamError, keeping ours as they are. */
export function toTagstreamError(e: unknown, fallback: ErrorCode = 'INTERNAL'): TagstreamError {
  if (e instanceof TagstreamError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new TagstreamError(fallback, message, { cause: e });
}
