// The logger: a person's terminal line carries the message and its few scalar details; a log file gets every entry
// as JSON, while the terminal shows only what its level lets through.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger, humanDetails, loggerFor } from '../src/log.ts';

describe('humanDetails', () => {
  it('lists scalar details as key=value and leaves out objects and the standard fields', () => {
    expect(
      humanDetails({
        level: 30,
        time: 1,
        name: 'x',
        component: 'history',
        msg: 'state restored',
        topic: 't',
        partition: 2,
        ok: true,
        topics: ['a', 'b'],
        nested: { a: 1 },
        kafkajs: { broker: 'b' },
      }),
    ).toBe(' (topic=t, partition=2, ok=true, topics=a,b)');
  });

  it("appends the error's message unless the message already says it", () => {
    expect(humanDetails({ msg: 'commit failed', err: { message: 'broker away' } })).toBe(': broker away');
    expect(humanDetails({ msg: 'commit failed: broker away', err: { message: 'broker away' } })).toBe('');
  });
});

describe('a log file beside the terminal', () => {
  it('gets every entry down to debug as JSON, whatever the terminal level', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tagstream-log-')), 'logs', 'run.log');
    const log = createLogger('t', { level: 'silent', file });
    log.debug({ component: 'kafkajs' }, 'library chatter');
    log.warn({ code: 'X' }, 'a real problem');
    log.trace('below the file level');
    log.flush();
    await new Promise((r) => setTimeout(r, 200));
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l['level'], l['msg']])).toEqual([
      [20, 'library chatter'],
      [40, 'a real problem'],
    ]);
  });

  it('loggerFor takes level, format and file from the config', () => {
    const log = loggerFor({ log: { level: 'warn', format: 'json', file: '' } }, 'cfg');
    expect(log.level).toBe('warn');
  });
});
