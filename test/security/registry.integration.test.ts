// The schema registry client over HTTPS with basic auth (issue 13, item 5), against the stack's Apicurio behind a
// TLS-terminating, password-checking proxy (registry-proxy.ts; the local Apicurio itself has no auth configured):
// the serde registers and decodes through it, the readiness probe passes, and the refusals are coded errors with
// nothing registered: a wrong password and none (REGISTRY_AUTH_FAILED), a client without the CA
// (REGISTRY_TLS_FAILED). No password reaches an error.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refusal } from './secure-stack.ts';
import { loadConfig, parseConfig } from '../../config/load.ts';
import { registryProbe } from '../../src/api/readiness.ts';
import { ensureServerCertificate, securePaths } from '../../src/dev/stack/secure.ts';
import { stackPaths } from '../../src/dev/stack/services.ts';
import type { TagstreamError } from '../../src/errors.ts';
import { AvroSerde, confluentRegistry, valueSubject } from '../../src/io/registry/registry.ts';
import { loadSchema } from '../../src/schemas/catalog.ts';
import type { RfidScan } from '../../src/schemas/types.ts';
import { HINT } from '../helpers/stack.ts';
import { registryProxy, type RegistryProxy } from './registry-proxy.ts';

const PASSWORD = randomBytes(18).toString('hex');
const WRONG_PASSWORD = 'wrong-registry-Passw0rd';
const base = loadConfig();
const sp = securePaths(stackPaths(base).stackDir);
const errors: unknown[] = [];
let proxy: RegistryProxy;
let dir: string;
const t0 = Date.now();

beforeAll(async () => {
  const ok = await fetch(`${base.schemaRegistry.url}/subjects`)
    .then((r) => r.ok)
    .catch(() => false);
  if (!ok) throw new Error(`schema registry at ${base.schemaRegistry.url} is not reachable: ${HINT}`);
  ensureServerCertificate(sp, () => undefined);
  proxy = await registryProxy({
    target: base.schemaRegistry.url,
    certFile: sp.serverCert,
    keyFile: sp.serverKey,
    username: 'tagstream',
    password: PASSWORD,
  });
  dir = mkdtempSync(join(tmpdir(), 'tagstream-registry-'));
  writeFileSync(join(dir, 'password'), `${PASSWORD}\n`, { mode: 0o600 });
});

afterAll(async () => {
  await proxy?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  console.log(`registry.integration: ${Date.now() - t0} ms`);
});

/** The registry section as a user would write it: URL, user, password file, CA; merged into the URL at load. */
function registryUrl(section: Record<string, unknown>): string {
  return parseConfig({ schemaRegistry: { url: proxy.url, ...section } }).schemaRegistry.url;
}

const rejection = (p: Promise<unknown>): Promise<TagstreamError> => refusal(p, errors);

/** Whether the registry has the subject (asked by name: its subject list is cut at 1,000 entries). */
const registered = async (subject: string): Promise<boolean> => {
  const r = await fetch(`${base.schemaRegistry.url}/subjects/${encodeURIComponent(subject)}/versions`);
  if (r.status !== 200 && r.status !== 404) throw new Error(`registry answered ${r.status} for ${subject}`);
  return r.status === 200;
};

describe('schema registry over HTTPS with basic auth', () => {
  const topic = `security-${randomUUID().slice(0, 8)}.rfid.scans`;
  const good = () =>
    registryUrl({ username: 'tagstream', passwordFile: join(dir, 'password'), tls: { caFile: sp.caFile } });

  it('registers and decodes through the proxy with the password from a file and the CA; the probe passes', async () => {
    const serde = new AvroSerde(confluentRegistry(good()));
    const scan: RfidScan = {
      tag_id: 'TAG-1',
      rental_class_num: 'TENT',
      scan_type: 'out',
      scan_date: Date.UTC(2026, 0, 1),
      reader_id: 'R1',
      store_id: 'S1',
      quality_grade: 4,
      notes: null,
    };
    const encode = await serde.encoderFor<RfidScan>(topic, loadSchema('rfidScan'));
    const fresh = new AvroSerde(confluentRegistry(good()));
    expect(await fresh.decode(encode(scan), topic)).toMatchObject({ tag_id: 'TAG-1', scan_type: 'out' });
    await registryProbe(good()).check(AbortSignal.timeout(5_000));
    expect(proxy.requests.length).toBeGreaterThan(0);
    expect(proxy.requests.every((r) => r.user === 'tagstream' && r.status < 400)).toBe(true);
    expect(await registered(valueSubject(topic))).toBe(true);
  });

  it('a wrong password: REGISTRY_AUTH_FAILED naming the user; nothing registered', async () => {
    const other = `security-${randomUUID().slice(0, 8)}.rfid.scans`;
    const url = registryUrl({ username: 'tagstream', password: WRONG_PASSWORD, tls: { caFile: sp.caFile } });
    const e = await rejection(confluentRegistry(url).register(valueSubject(other), loadSchema('rfidScan')));
    expect(e.code).toBe('REGISTRY_AUTH_FAILED');
    expect(e.retryable).toBe(false);
    expect(e.message).toContain('refused the login of tagstream');
    expect(e.message).toContain('schemaRegistry.password');
    expect(await registered(valueSubject(other))).toBe(false);
  });

  it('no credentials: REGISTRY_AUTH_FAILED saying to set them; the probe reports it too', async () => {
    const url = registryUrl({ tls: { caFile: sp.caFile } });
    const e = await rejection(confluentRegistry(url).schemaById(1));
    expect(e.code).toBe('REGISTRY_AUTH_FAILED');
    expect(e.message).toContain('without a login');
    const probe = await rejection(registryProbe(url).check(AbortSignal.timeout(5_000)));
    expect(probe.code).toBe('REGISTRY_AUTH_FAILED');
  });

  it("without the stack's CA: REGISTRY_TLS_FAILED naming schemaRegistry.tls.caFile", async () => {
    const url = registryUrl({ username: 'tagstream', passwordFile: join(dir, 'password') });
    const e = await rejection(confluentRegistry(url).schemaById(1));
    expect(e.code).toBe('REGISTRY_TLS_FAILED');
    expect(e.message).toContain('schemaRegistry.tls.caFile');
  });

  it('no password appears in an error', () => {
    expect(errors.length).toBeGreaterThanOrEqual(4);
    const texts = errors.flatMap((e) => {
      const t = e as TagstreamError;
      const cause = t.cause as Error | undefined;
      return [t.message, JSON.stringify(t.details), cause?.message ?? '', String(t.stack)];
    });
    for (const secret of [PASSWORD, WRONG_PASSWORD])
      expect(texts.filter((t) => t.includes(secret))).toEqual([]);
  });
});
