// The Confluent-API registry client against the stack's real registry: a subject left without its compatibility
// rule (a process stopped between its first registration and setting the rule) still takes registrations, gets
// BACKWARD, and refuses an incompatible schema; a schema id names the subjects it is registered under; several
// processes registering one new subject at once all get its id.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isTagstreamError } from '../../../src/errors.ts';
import { confluentRegistry } from '../../../src/io/registry/registry.ts';
import { requireStack, testConfig } from '../../helpers/stack.ts';

const config = testConfig();
const url = config.schemaRegistry.url.replace(/\/$/, '');
const record = (fields: string[]) => ({
  type: 'record',
  name: 'R',
  namespace: 'dev.tagstream.test',
  fields: fields.map((name) => ({ name, type: 'int' })),
});

describe('confluentRegistry on the stack registry', () => {
  it('registers under a subject left without its rule, sets BACKWARD, then refuses an incompatible schema', async () => {
    await requireStack(config);
    const subject = `t-${randomUUID().slice(0, 8)}-value`;
    // The gap: registered, but no subject-level compatibility (a SIGKILL before the client set it).
    const raw = await fetch(`${url}/subjects/${subject}/versions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: JSON.stringify(record(['a'])) }),
    });
    expect(raw.ok).toBe(true);
    const { id: first } = (await raw.json()) as { id: number };

    const registry = confluentRegistry(url);
    expect(await registry.register(subject, record(['a']))).toBe(first);
    const rule = (await (await fetch(`${url}/config/${subject}`)).json()) as { compatibilityLevel: string };
    expect(rule.compatibilityLevel).toBe('BACKWARD');
    // A new field without a default cannot read old records: refused, with our code.
    const err = await registry.register(subject, record(['a', 'b'])).catch((e: unknown) => e);
    expect(isTagstreamError(err) && err.code).toBe('REGISTRY_INCOMPATIBLE');
    expect(await registry.subjectsOf(first)).toContain(subject);
  });

  it('takes the same new subject from several processes at once (instances starting together)', async () => {
    await requireStack(config);
    const subject = `t-${randomUUID().slice(0, 8)}-value`;
    // A client each, as separate processes have: no shared cache to hide the race at the registry.
    const ids = await Promise.all(
      Array.from({ length: 6 }, () => confluentRegistry(url).register(subject, record(['a']))),
    );
    expect(new Set(ids).size).toBe(1);
    const rule = (await (await fetch(`${url}/config/${subject}`)).json()) as { compatibilityLevel: string };
    expect(rule.compatibilityLevel).toBe('BACKWARD');
  });
});
