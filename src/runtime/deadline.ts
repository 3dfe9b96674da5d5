// Waiting on work: bounded in time (withDeadline), or on several pieces side by side (settleAll).

/** The work's result, or the error `onTimeout` makes once `ms` have passed (the work goes on). */
export async function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits for every piece of work to end, then throws the first failure, if any: one that fails does not leave the
 * others running unawaited (stopping consumers side by side, writing two stores at once).
 */
export async function settleAll(work: Iterable<Promise<unknown> | undefined>): Promise<void> {
  for (const r of await Promise.allSettled(work)) if (r.status === 'rejected') throw r.reason;
}
