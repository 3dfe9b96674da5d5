// The process logger: pino on stderr (stdout stays free for command output). For people (the default) one short
// line per entry: time, level, component, message and its few scalar details; for machines (LOG_FORMAT=json or
// log.format: json) JSON lines. Optionally every entry also goes, as JSON, to a file (log.file), e.g. the demo's
// .stack/logs/demo-<run>.log, so the terminal can stay quiet while nothing is lost.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type DestinationStream, type Level, type LevelWithSilent, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';

export type { Logger };

export type LogFormat = 'pretty' | 'json';

export interface LogOptions {
  /** Entries below this level are dropped (default: LOG_LEVEL, else info). */
  readonly level?: string;
  /** pretty (default; LOG_FORMAT) or json. */
  readonly format?: LogFormat;
  /** Also write every entry at `fileLevel` and above, as JSON lines, to this file. */
  readonly file?: string;
  readonly fileLevel?: string;
}

const LEVEL_NAMES = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/** Fields every entry has, or that say too much for a terminal line. */
const HIDDEN = new Set([
  'level',
  'time',
  'pid',
  'hostname',
  'name',
  'component',
  'msg',
  'err',
  'kafkajs',
  'v',
]);

/** A terminal line's tail: the entry's scalar details as `key=value`, and the error's message unless said already. */
export function humanDetails(entry: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(entry)) {
    if (HIDDEN.has(k) || v === null || v === undefined) continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
      parts.push(`${k}=${String(v)}`);
    else if (Array.isArray(v) && v.length <= 8 && v.every((x) => typeof x !== 'object'))
      parts.push(`${k}=${v.join(',')}`);
  }
  const msg = typeof entry['msg'] === 'string' ? entry['msg'] : '';
  const err = entry['err'] as { message?: unknown } | string | undefined;
  const errText = typeof err === 'string' ? err : typeof err?.message === 'string' ? err.message : undefined;
  const tail = parts.length ? ` (${parts.join(', ')})` : '';
  return errText && !msg.includes(errText) ? `${tail}: ${errText}` : tail;
}

function prettyStream(): DestinationStream {
  return PinoPretty({
    destination: 2,
    sync: true,
    colorize: process.stderr.isTTY === true,
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname,name,component',
    hideObject: true,
    messageFormat: (entry, messageKey) => {
      const component = typeof entry['component'] === 'string' ? `${entry['component']}: ` : '';
      return `${component}${String(entry[messageKey] ?? '')}${humanDetails(entry)}`;
    },
  });
}

function levelOf(value: string | undefined, fallback: string): LevelWithSilent {
  const v = (value ?? fallback).toLowerCase();
  return (LEVEL_NAMES.has(v) ? v : fallback) as LevelWithSilent;
}

/** A logger named `name`; the second argument is a level, or the options. */
export function createLogger(name: string, options: string | LogOptions = {}): Logger {
  const o: LogOptions = typeof options === 'string' ? { level: options } : options;
  const level = levelOf(o.level ?? process.env['LOG_LEVEL'], 'info');
  const format: LogFormat = o.format ?? (process.env['LOG_FORMAT'] === 'json' ? 'json' : 'pretty');
  const terminal = format === 'json' ? pino.destination({ dest: 2, sync: true }) : prettyStream();
  if (!o.file) return pino({ name, level, base: { name } }, terminal);
  mkdirSync(dirname(o.file), { recursive: true });
  const fileLevel = levelOf(o.fileLevel, 'debug');
  const streams: pino.StreamEntry[] = [
    { level: fileLevel as Level, stream: pino.destination({ dest: o.file, sync: false, mkdir: true }) },
  ];
  if (level !== 'silent') streams.push({ level: level as Level, stream: terminal });
  const lowest = [fileLevel, level]
    .filter((l) => l !== 'silent')
    .sort((a, b) => pino.levels.values[a]! - pino.levels.values[b]!)[0];
  return pino({ name, level: lowest ?? 'silent', base: { name } }, pino.multistream(streams));
}

/** The logger a command uses, from the config's log section (level, format, file). */
export function loggerFor(
  config: { readonly log: { readonly level: string; readonly format: LogFormat; readonly file: string } },
  name: string,
  overrides: LogOptions = {},
): Logger {
  return createLogger(name, {
    level: config.log.level,
    format: config.log.format,
    ...(config.log.file ? { file: config.log.file } : {}),
    ...overrides,
  });
}
