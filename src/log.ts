// The process logger: pino, JSON lines on stderr (stdout stays free for command output); level from config or LOG_LEVEL.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, level: string = process.env['LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ name, level, base: { name } }, pino.destination(2));
}

export const rootLogger: Logger = createLogger('tagstream');
