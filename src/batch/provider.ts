// Where the batch collectors get their rows: a provider interface, a JSON-lines file provider (the simulator's files),
// an HTTP JSON provider, and a retry wrapper with exponential backoff and jitter that reads `retryable`, never text.
import { readFile } from 'node:fs/promises';
import { TagstreamError, toTagstreamError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { redactUrl as redactPassword } from '../redact.ts';
import { isoDay, type DayRange } from './records.ts';

/** A source of rows for a range of days (epoch days, both ends inclusive). */
export interface Provider<T> {
  /** Shown in logs and written as the `source` of the Avro records, e.g. `file:weather.jsonl`. */
  readonly name: string;
  fetch(range: DayRange): Promise<T[]>;
}

/**
 * Parses JSON lines with `parseLine`; blank lines are skipped. Any failure names the file and the 1-based line.
 * Pure: the file provider and the tests call it on text.
 */
export function parseJsonLines<T>(text: string, parseLine: (value: unknown) => T, file: string): T[] {
  const out: T[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw badData(`${file}:${i + 1}: not JSON (${(e as Error).message})`, e, { file, line: i + 1 });
    }
    try {
      out.push(parseLine(value));
    } catch (e) {
      throw badData(`${file}:${i + 1}: ${(e as Error).message}`, e, { file, line: i + 1 });
    }
  }
  return out;
}

function badData(message: string, cause: unknown, details: Record<string, unknown>): TagstreamError {
  return new TagstreamError('PROVIDER_BAD_DATA', message, { cause, details });
}

/** Reads a JSON-lines file on every fetch; the collector keeps the rows in its range. */
export function fileProvider<T>(path: string, parseLine: (value: unknown) => T): Provider<T> {
  const name = `file:${path.split('/').pop() ?? path}`;
  return {
    name,
    async fetch() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === 'ENOENT')
          throw new TagstreamError(
            'PROVIDER_MISSING',
            `${path} does not exist: run \`npm run simulate\` or pass --source-dir (collectors.sourceDir)`,
            { cause: e, details: { file: path } },
          );
        // EMFILE, EAGAIN and the like pass; EACCES, EISDIR do not.
        const retryable = code === 'EMFILE' || code === 'ENFILE' || code === 'EAGAIN' || code === 'EBUSY';
        throw new TagstreamError('PROVIDER_ERROR', `cannot read ${path}: ${code ?? (e as Error).message}`, {
          cause: e,
          retryable,
          details: { file: path },
        });
      }
      return parseJsonLines(text, parseLine, path);
    },
  };
}

/**
 * A URL fit for logs: the password hidden, and the values of query parameters that look like credentials
 * (api_key, token, secret, appid, signature, ...) replaced by ***.
 */
export function redactUrl(url: string): string {
  return redactPassword(url).replace(
    /([?&][^=&#]*(?:key|token|secret|password|passwd|sig|appid|auth)[^=&#]*=)[^&#]*/gi,
    '$1***',
  );
}

/** Replaces {from} and {to} with the range's days as YYYY-MM-DD (URL-encoded, though they need none). */
export function expandUrl(template: string, range: DayRange): string {
  return template
    .replaceAll('{from}', encodeURIComponent(isoDay(range.from)))
    .replaceAll('{to}', encodeURIComponent(isoDay(range.to)));
}

/** HTTP statuses a later try can fix: timeouts, throttling, server errors. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/** A non-2xx answer as our error: retryable ones are PROVIDER_UNAVAILABLE; 404 is PROVIDER_MISSING. */
export function httpStatusError(url: string, status: number, body: string): TagstreamError {
  const where = redactUrl(url);
  const snippet = body.slice(0, 200).replace(/\s+/g, ' ').trim();
  const message = `GET ${where} answered ${status}${snippet ? `: ${snippet}` : ''}`;
  if (isRetryableStatus(status))
    return new TagstreamError('PROVIDER_UNAVAILABLE', message, {
      retryable: true,
      details: { url: where, status },
    });
  if (status === 404)
    return new TagstreamError('PROVIDER_MISSING', message, { details: { url: where, status } });
  return new TagstreamError('PROVIDER_ERROR', message, { details: { url: where, status } });
}

/** A network failure or timeout (fetch rejects) as a retryable PROVIDER_UNAVAILABLE. */
export function httpNetworkError(url: string, e: unknown, timeoutMs: number): TagstreamError {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  const timedOut = err.name === 'TimeoutError' || err.name === 'AbortError';
  const why = timedOut
    ? `no answer within ${timeoutMs} ms`
    : (err.cause?.code ?? err.cause?.message ?? err.message ?? String(e));
  return new TagstreamError('PROVIDER_UNAVAILABLE', `GET ${redactUrl(url)} failed: ${why}`, {
    cause: e,
    retryable: true,
    details: { url: redactUrl(url) },
  });
}

/**
 * The usual answer shape: a JSON array of rows, each parsed with `parseRow`; failures name the URL and the index.
 * Pure, so tests call it on values.
 */
export function mapJsonArray<T>(parseRow: (value: unknown) => T): (body: unknown, url: string) => T[] {
  return (body, url) => {
    if (!Array.isArray(body))
      throw badData(`${redactUrl(url)}: expected a JSON array of rows`, undefined, { url: redactUrl(url) });
    return body.map((row, i) => {
      try {
        return parseRow(row);
      } catch (e) {
        throw badData(`${redactUrl(url)} [${i}]: ${(e as Error).message}`, e, {
          url: redactUrl(url),
          index: i,
        });
      }
    });
  };
}

export interface HttpProviderOptions {
  readonly timeoutMs?: number;
  /** Injected for tests; the global fetch by default. */
  readonly fetch?: typeof fetch;
  readonly name?: string;
}

/** GETs `urlTemplate` with {from}/{to} filled in, and maps the JSON answer with `map`. */
export function httpJsonProvider<T>(
  urlTemplate: string,
  map: (body: unknown, url: string) => T[],
  options: HttpProviderOptions = {},
): Provider<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const doFetch = options.fetch ?? fetch;
  let host = urlTemplate;
  try {
    host = new URL(urlTemplate.replaceAll('{', '').replaceAll('}', '')).host;
  } catch {
    // Not a URL: the first fetch says so.
  }
  return {
    name: options.name ?? `http:${host}`,
    async fetch(range) {
      const url = expandUrl(urlTemplate, range);
      let res: Response;
      try {
        res = await doFetch(url, {
          signal: AbortSignal.timeout(timeoutMs),
          headers: { accept: 'application/json' },
        });
      } catch (e) {
        throw httpNetworkError(url, e, timeoutMs);
      }
      let text: string;
      try {
        text = await res.text();
      } catch (e) {
        throw httpNetworkError(url, e, timeoutMs);
      }
      if (!res.ok) throw httpStatusError(url, res.status, text);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (e) {
        throw badData(`${redactUrl(url)}: answer is not JSON (${(e as Error).message})`, e, {
          url: redactUrl(url),
        });
      }
      return map(body, url);
    },
  };
}

export interface RetryOptions {
  /** Further tries after the first. */
  readonly retries: number;
  readonly baseMs: number;
  readonly maxMs: number;
  readonly log?: Logger;
  /** Uniform in [0, 1); Math.random by default. */
  readonly random?: () => number;
  /** Waits; a real timer by default, a fake in tests. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Wait before retry `attempt` (0-based): min(maxMs, baseMs * 2^attempt), scaled by a factor in [0.5, 1). */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.round(ceiling * (0.5 + random() / 2));
}

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** How many tries a provider error took (set by withRetry; 1 when it was not retried). */
export function attemptsOf(e: unknown): number {
  const n = (e as { details?: { attempts?: unknown } } | undefined)?.details?.attempts;
  return typeof n === 'number' ? n : 1;
}

/**
 * Retries a failing fetch while its error is `retryable`, at most `retries` more times, waiting backoffDelay between
 * tries. The error that ends it is the last one, with `details.attempts` set to the number of tries.
 */
export function withRetry<T>(provider: Provider<T>, options: RetryOptions): Provider<T> {
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? realSleep;
  return {
    name: provider.name,
    async fetch(range) {
      for (let attempt = 0; ; attempt++) {
        try {
          return await provider.fetch(range);
        } catch (e) {
          const err = toTagstreamError(e, 'PROVIDER_ERROR');
          if (!err.retryable || attempt >= options.retries) {
            throw new TagstreamError(err.code, err.message, {
              cause: err.cause ?? err,
              retryable: err.retryable,
              details: { ...err.details, attempts: attempt + 1 },
            });
          }
          const delay = backoffDelay(attempt, options.baseMs, options.maxMs, random);
          options.log?.warn(
            { provider: provider.name, code: err.code, attempt: attempt + 1, retryInMs: delay },
            `provider ${provider.name} failed (${err.code} ${err.message}); try ${attempt + 2} of ${options.retries + 1} in ${delay} ms`,
          );
          await sleep(delay);
        }
      }
    },
  };
}
