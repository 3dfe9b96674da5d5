// Providers: JSON-lines parsing (errors name file and line), the file provider on fixtures, the HTTP provider's
// URL template and error mapping (with an injected fetch), and retries with backoff on a fake random and sleeper.
import { createServer } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  expandUrl,
  fileProvider,
  httpJsonProvider,
  httpNetworkError,
  httpStatusError,
  isRetryableStatus,
  mapJsonArray,
  parseJsonLines,
  redactUrl,
  withRetry,
  type Provider,
} from '../../src/batch/provider.ts';
import { parseEconomicRow, parseIsoDay, parseWeatherRow } from '../../src/batch/records.ts';
import { TagstreamError } from '../../src/errors.ts';
import { rejectionOf, thrownBy } from '../helpers/errors.ts';
import { FIXTURES, captureLog } from './fakes.ts';

const day = (s: string): number => parseIsoDay(s)!;
const JUNE = { from: day('2026-06-01'), to: day('2026-06-03') };

describe('parseJsonLines', () => {
  it('parses every non-blank line', () => {
    expect(parseJsonLines('{"a":1}\n\n  \n{"a":2}\n', (v) => v, 'f.jsonl')).toEqual([{ a: 1 }, { a: 2 }]);
  });

  it('a line that is not JSON is PROVIDER_BAD_DATA naming file and line', () => {
    const e = thrownBy(() => parseJsonLines('{"a":1}\n{"a":\n', (v) => v, 'data/f.jsonl'));
    expect(e.code).toBe('PROVIDER_BAD_DATA');
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/^data\/f\.jsonl:2: not JSON/);
    expect(e.details).toEqual({ file: 'data/f.jsonl', line: 2 });
  });

  it('a line the parser rejects names file, line and the parser message', () => {
    const e = thrownBy(() => parseJsonLines('{"location":"S1"}', parseWeatherRow, 'weather.jsonl'));
    expect(e.code).toBe('PROVIDER_BAD_DATA');
    expect(e.message).toBe('weather.jsonl:1: date: expected a date YYYY-MM-DD, got undefined');
  });
});

describe('fileProvider', () => {
  it('reads the fixture file', async () => {
    const p = fileProvider(join(FIXTURES, 'external/weather.jsonl'), parseWeatherRow);
    expect(p.name).toBe('file:weather.jsonl');
    const rows = await p.fetch(JUNE);
    expect(rows).toHaveLength(8);
    expect(rows[1]).toEqual({
      location: 'S1',
      date: day('2026-06-01'),
      temperature_f: 71.5,
      humidity_pct: 55,
      precipitation_in: 0,
    });
  });

  it('a missing file is PROVIDER_MISSING, not retryable, naming the file and what to do', async () => {
    const path = join(FIXTURES, 'nope/weather.jsonl');
    const e = await rejectionOf(fileProvider(path, parseWeatherRow).fetch(JUNE));
    expect(e.code).toBe('PROVIDER_MISSING');
    expect(e.retryable).toBe(false);
    expect(e.message).toContain(path);
    expect(e.message).toContain('npm run simulate');
  });

  it('a bad date on line 3 names the file and line 3', async () => {
    const path = join(FIXTURES, 'bad/weather.jsonl');
    const e = await rejectionOf(fileProvider(path, parseWeatherRow).fetch(JUNE));
    expect(e.code).toBe('PROVIDER_BAD_DATA');
    expect(e.message).toBe(`${path}:3: date: expected a date YYYY-MM-DD, got "2026-06-31"`);
  });

  it('a truncated last line names its line', async () => {
    const path = join(FIXTURES, 'bad/economic.jsonl');
    const e = await rejectionOf(fileProvider(path, parseEconomicRow).fetch(JUNE));
    expect(e.message).toMatch(new RegExp(`^${path.replace(/[/.]/g, '\\$&')}:2: not JSON`));
  });

  it('a directory is a PROVIDER_ERROR', async () => {
    const e = await rejectionOf(fileProvider(FIXTURES, parseWeatherRow).fetch(JUNE));
    expect(e.code).toBe('PROVIDER_ERROR');
    expect(e.retryable).toBe(false);
  });
});

describe('HTTP mapping', () => {
  it('fills {from} and {to} with ISO dates', () => {
    expect(expandUrl('https://api.example/w?start={from}&end={to}&again={from}', JUNE)).toBe(
      'https://api.example/w?start=2026-06-01&end=2026-06-03&again=2026-06-01',
    );
  });

  it.each([
    [408, true],
    [425, true],
    [429, true],
    [500, true],
    [503, true],
    [400, false],
    [401, false],
    [403, false],
    [404, false],
  ])('status %i retryable: %s', (status, retryable) => {
    expect(isRetryableStatus(status)).toBe(retryable);
    expect(httpStatusError('https://x/y', status, '').retryable).toBe(retryable);
  });

  it('maps 5xx to PROVIDER_UNAVAILABLE, 404 to PROVIDER_MISSING, other 4xx to PROVIDER_ERROR', () => {
    expect(httpStatusError('https://x/y', 503, 'busy').code).toBe('PROVIDER_UNAVAILABLE');
    expect(httpStatusError('https://x/y', 404, '').code).toBe('PROVIDER_MISSING');
    expect(httpStatusError('https://x/y', 401, '').code).toBe('PROVIDER_ERROR');
    expect(httpStatusError('https://x/y', 503, 'upstream\n  busy').message).toBe(
      'GET https://x/y answered 503: upstream busy',
    );
  });

  it('a network failure or timeout is a retryable PROVIDER_UNAVAILABLE', () => {
    const refused = httpNetworkError(
      'https://x/y',
      Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }),
      5000,
    );
    expect(refused.code).toBe('PROVIDER_UNAVAILABLE');
    expect(refused.retryable).toBe(true);
    expect(refused.message).toBe('GET https://x/y failed: ECONNREFUSED');
    const timeout = httpNetworkError('https://x/y', new DOMException('timed out', 'TimeoutError'), 5000);
    expect(timeout.message).toBe('GET https://x/y failed: no answer within 5000 ms');
  });

  it('keeps credentials out of messages', () => {
    expect(redactUrl('https://u:pw@api.example/w?appid=SECRET&from=2026-06-01&api_key=K2')).toBe(
      'https://u:***@api.example/w?appid=***&from=2026-06-01&api_key=***',
    );
    const e = httpStatusError('https://api.example/w?token=abc', 500, '');
    expect(e.message).not.toContain('abc');
  });

  it('mapJsonArray parses each element and names the bad index', () => {
    const map = mapJsonArray(parseEconomicRow);
    const row = {
      region: 'global',
      week_start: '2026-06-01',
      consumer_confidence: 101,
      unemployment_rate: 4,
      interest_rate: 4.25,
    };
    expect(map([row], 'https://x')).toHaveLength(1);
    const e = thrownBy(() => map([row, { ...row, interest_rate: 'high' }], 'https://x?key=s'));
    expect(e.code).toBe('PROVIDER_BAD_DATA');
    expect(e.message).toBe('https://x?key=*** [1]: interest_rate: expected a number');
    expect(thrownBy(() => map({ rows: [] }, 'https://x')).message).toContain('expected a JSON array');
  });
});

describe('httpJsonProvider (injected fetch)', () => {
  const row = {
    location: 'S1',
    date: '2026-06-01',
    temperature_f: 70,
    humidity_pct: 50,
    precipitation_in: 0,
  };

  function fakeFetch(answer: () => Promise<Response>): typeof fetch & { urls: string[] } {
    const urls: string[] = [];
    const f = (async (input: string | URL | Request) => {
      urls.push(String(input));
      return answer();
    }) as typeof fetch & { urls: string[] };
    f.urls = urls;
    return f;
  }

  it('GETs the expanded URL and maps the JSON', async () => {
    const f = fakeFetch(async () => new Response(JSON.stringify([row]), { status: 200 }));
    const p = httpJsonProvider(
      'https://wx.example/daily?from={from}&to={to}',
      mapJsonArray(parseWeatherRow),
      {
        fetch: f,
      },
    );
    expect(p.name).toBe('http:wx.example');
    expect(await p.fetch(JUNE)).toEqual([parseWeatherRow(row)]);
    expect(f.urls).toEqual(['https://wx.example/daily?from=2026-06-01&to=2026-06-03']);
  });

  it('a 503 is retryable, a non-JSON body is bad data, a rejected fetch is unavailable', async () => {
    const template = 'https://wx.example/daily';
    const map = mapJsonArray(parseWeatherRow);
    const e503 = await rejectionOf(
      httpJsonProvider(template, map, {
        fetch: fakeFetch(async () => new Response('down', { status: 503 })),
      }).fetch(JUNE),
    );
    expect([e503.code, e503.retryable]).toEqual(['PROVIDER_UNAVAILABLE', true]);
    const html = await rejectionOf(
      httpJsonProvider(template, map, {
        fetch: fakeFetch(async () => new Response('<html>', { status: 200 })),
      }).fetch(JUNE),
    );
    expect([html.code, html.retryable]).toEqual(['PROVIDER_BAD_DATA', false]);
    const down = await rejectionOf(
      httpJsonProvider(template, map, {
        fetch: fakeFetch(() => Promise.reject(new TypeError('fetch failed'))),
      }).fetch(JUNE),
    );
    expect([down.code, down.retryable]).toEqual(['PROVIDER_UNAVAILABLE', true]);
  });
});

describe('backoffDelay', () => {
  it('doubles from the base, caps at the maximum, and scales by [0.5, 1)', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, 1000, 30_000, () => 0))).toEqual([
      500, 1000, 2000, 4000, 8000, 15_000, 15_000,
    ]);
    expect([0, 1, 2, 5].map((a) => backoffDelay(a, 1000, 30_000, () => 0.999999))).toEqual([
      1000, 2000, 4000, 30_000,
    ]);
    expect(backoffDelay(2, 1000, 30_000, () => 0.5)).toBe(3000);
  });
});

describe('withRetry', () => {
  function flaky(failures: TagstreamError[], rows: number[] = [1, 2]): Provider<number> & { calls: number } {
    const p = {
      name: 'flaky',
      calls: 0,
      async fetch() {
        const e = failures[p.calls++];
        if (e) throw e;
        return rows;
      },
    };
    return p;
  }
  const unavailable = (): TagstreamError =>
    new TagstreamError('PROVIDER_UNAVAILABLE', 'GET x answered 503', { retryable: true });

  function retrying<T>(p: Provider<T>, retries: number) {
    const sleeps: number[] = [];
    const randoms = [0, 0.5, 0.999, 0.25];
    let i = 0;
    const logs = captureLog();
    const wrapped = withRetry(p, {
      retries,
      baseMs: 100,
      maxMs: 1000,
      log: logs.log,
      random: () => randoms[i++ % randoms.length]!,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
    return { wrapped, sleeps, logs };
  }

  it('retries retryable errors with growing, jittered waits and returns the rows', async () => {
    const p = flaky([unavailable(), unavailable(), unavailable()]);
    const { wrapped, sleeps, logs } = retrying(p, 4);
    expect(await wrapped.fetch(JUNE)).toEqual([1, 2]);
    expect(p.calls).toBe(4);
    // 100 * 2^n * (0.5 + r/2) with r = 0, 0.5, 0.999
    expect(sleeps).toEqual([50, 150, 400]);
    expect(logs.messages()).toEqual([
      'provider flaky failed (PROVIDER_UNAVAILABLE GET x answered 503); try 2 of 5 in 50 ms',
      'provider flaky failed (PROVIDER_UNAVAILABLE GET x answered 503); try 3 of 5 in 150 ms',
      'provider flaky failed (PROVIDER_UNAVAILABLE GET x answered 503); try 4 of 5 in 400 ms',
    ]);
  });

  it('gives up after `retries` more tries with the last error and the number of tries', async () => {
    const p = flaky(Array.from({ length: 10 }, unavailable));
    const { wrapped, sleeps } = retrying(p, 2);
    const e = await rejectionOf(wrapped.fetch(JUNE));
    expect(p.calls).toBe(3);
    expect(sleeps).toHaveLength(2);
    expect(e.code).toBe('PROVIDER_UNAVAILABLE');
    expect(e.details['attempts']).toBe(3);
  });

  it('does not retry an error that is not retryable, whatever its message says', async () => {
    const p = flaky([
      new TagstreamError('PROVIDER_BAD_DATA', 'timeout ECONNREFUSED 503 try again', { retryable: false }),
    ]);
    const { wrapped, sleeps } = retrying(p, 5);
    const e = await rejectionOf(wrapped.fetch(JUNE));
    expect(p.calls).toBe(1);
    expect(sleeps).toEqual([]);
    expect(e.code).toBe('PROVIDER_BAD_DATA');
    expect(e.details['attempts']).toBe(1);
  });

  it('wraps a foreign error as a non-retryable PROVIDER_ERROR', async () => {
    const p: Provider<number> = {
      name: 'boom',
      fetch: async () => {
        throw new Error('boom');
      },
    };
    const { wrapped } = retrying(p, 3);
    const e = await rejectionOf(wrapped.fetch(JUNE));
    expect([e.code, e.retryable, e.details['attempts']]).toEqual(['PROVIDER_ERROR', false, 1]);
  });
});

describe('httpJsonProvider on a local HTTP server', () => {
  /** Answers each request with the next of `answers` (status, body); 'hang' never answers. */
  async function serve(answers: Array<[number, string] | 'hang'>) {
    const urls: string[] = [];
    let i = 0;
    const server = createServer((req, res) => {
      urls.push(req.url ?? '');
      const a = answers[Math.min(i++, answers.length - 1)]!;
      if (a === 'hang') return;
      res.writeHead(a[0], { 'content-type': 'application/json' }).end(a[1]);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    return {
      base: `http://127.0.0.1:${port}`,
      urls,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  }

  const row = {
    location: 'S1',
    date: '2026-06-01',
    temperature_f: 70,
    humidity_pct: 50,
    precipitation_in: 0,
  };

  it('recovers from a 503 through withRetry, without real waits', async () => {
    const srv = await serve([
      [503, 'busy'],
      [200, JSON.stringify([row])],
    ]);
    try {
      const sleeps: number[] = [];
      const p = withRetry(
        httpJsonProvider(`${srv.base}/w?from={from}&to={to}`, mapJsonArray(parseWeatherRow)),
        {
          retries: 3,
          baseMs: 1000,
          maxMs: 10_000,
          random: () => 0,
          sleep: async (ms) => void sleeps.push(ms),
        },
      );
      expect(await p.fetch(JUNE)).toHaveLength(1);
      expect(sleeps).toEqual([500]);
      expect(srv.urls).toEqual(['/w?from=2026-06-01&to=2026-06-03', '/w?from=2026-06-01&to=2026-06-03']);
    } finally {
      await srv.close();
    }
  });

  it('a server that does not answer times out as a retryable PROVIDER_UNAVAILABLE', async () => {
    const srv = await serve(['hang']);
    try {
      const e = await rejectionOf(
        httpJsonProvider(`${srv.base}/w`, mapJsonArray(parseWeatherRow), { timeoutMs: 50 }).fetch(JUNE),
      );
      expect([e.code, e.retryable]).toEqual(['PROVIDER_UNAVAILABLE', true]);
      expect(e.message).toBe(`GET ${srv.base}/w failed: no answer within 50 ms`);
    } finally {
      await srv.close();
    }
  });

  it('a closed port is a retryable PROVIDER_UNAVAILABLE naming the socket error', async () => {
    const srv = await serve([[200, '[]']]);
    await srv.close();
    const e = await rejectionOf(httpJsonProvider(`${srv.base}/w`, mapJsonArray(parseWeatherRow)).fetch(JUNE));
    expect([e.code, e.retryable]).toEqual(['PROVIDER_UNAVAILABLE', true]);
    expect(e.message).toContain('ECONNREFUSED');
  });
});
