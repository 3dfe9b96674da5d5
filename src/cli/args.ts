// Argument parsers shared by the CLIs: commander calls them, and a bad value becomes a clear usage error.
import { InvalidArgumentError } from 'commander';

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
