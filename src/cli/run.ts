// Runs a CLI action: our coded errors print as one clear line with their code; anything else prints its stack.
import { isTagstreamError } from '../errors.ts';

export async function runCli(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (e) {
    if (isTagstreamError(e)) console.error(`error [${e.code}]: ${e.message}`);
    else console.error(e);
    process.exitCode = 1;
  }
}
