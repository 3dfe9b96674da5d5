// A secret in a file of its own (mode 600, as Docker secrets), removed when the test finishes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'vitest';

export function secretFile(ctx: TestContext, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tagstream-secret-'));
  ctx.onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'secret');
  writeFileSync(file, content, { mode: 0o600 });
  return file;
}
