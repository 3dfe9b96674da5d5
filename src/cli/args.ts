// Argument parsers shared by the CLIs: commander calls them, and a bad value becomes a clear usage error.
import { InvalidArgumentError, Option, type Command } from 'commander';

/** An integer at least `min`. */
export const int =
  (min: number) =>
  (text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return n;
  };

/** A calendar date YYYY-MM-DD, as ms at 00:00 UTC. */
export const dateArg = (text: string): number => {
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(text) ? Date.parse(`${text}T00:00:00Z`) : NaN;
  if (Number.isNaN(ms)) throw new InvalidArgumentError('expected a date YYYY-MM-DD');
  return ms;
};

/**
 * Adds --log-level and --log-format to a command (and, through the hook, to its subcommands): they set LOG_LEVEL
 * and LOG_FORMAT, which the config reads, before the action runs.
 */
export function withLogOptions(program: Command): Command {
  return program
    .addOption(
      new Option('--log-level <level>', 'log entries at this level and above (env LOG_LEVEL)').choices([
        'trace',
        'debug',
        'info',
        'warn',
        'error',
        'silent',
      ]),
    )
    .addOption(
      new Option(
        '--log-format <format>',
        'pretty: a line per entry; json: for machines (env LOG_FORMAT)',
      ).choices(['pretty', 'json']),
    )
    .hook('preAction', (cmd) => {
      const o = cmd.opts<{ logLevel?: string; logFormat?: string }>();
      if (o.logLevel) process.env['LOG_LEVEL'] = o.logLevel;
      if (o.logFormat) process.env['LOG_FORMAT'] = o.logFormat;
    });
}
