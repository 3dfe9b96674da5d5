// Finding a Java new enough for the registry: the JDKs under a /usr/lib/jvm-like folder by their release files, and
// a configured JAVA_HOME that is too old refused with what to do.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, type TestContext } from 'vitest';
import { installedJdks, javaAtLeast } from '../../../src/dev/stack/java.ts';
import { isTagstreamError } from '../../../src/errors.ts';

/** A folder of fake JDKs: each a release file and a bin/java script printing its version. */
function jvmRoot(ctx: TestContext, jdks: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'tagstream-jvm-'));
  ctx.onTestFinished(() => rmSync(root, { recursive: true, force: true }));
  for (const [name, version] of Object.entries(jdks)) {
    mkdirSync(join(root, name, 'bin'), { recursive: true });
    writeFileSync(join(root, name, 'release'), `IMPLEMENTOR="x"\nJAVA_VERSION="${version}"\n`);
    const java = join(root, name, 'bin', 'java');
    writeFileSync(java, `#!/bin/sh\necho 'openjdk version "${version}" 2025-01-01' >&2\n`);
    chmodSync(java, 0o755);
  }
  mkdirSync(join(root, 'not-a-jdk')); // no release file: ignored
  return root;
}

describe('installedJdks', () => {
  it('lists the JDKs with a release file and a bin/java, newest first', (ctx) => {
    const root = jvmRoot(ctx, { 'java-17': '17.0.15', 'temurin-25': '25.0.1', 'java-8': '1.8.0_402' });
    expect(installedJdks(root)).toEqual([
      { home: join(root, 'temurin-25'), major: 25 },
      { home: join(root, 'java-17'), major: 17 },
      { home: join(root, 'java-8'), major: 8 },
    ]);
  });

  it('is empty for a folder that does not exist', () => {
    expect(installedJdks('/nonexistent/jvm')).toEqual([]);
  });
});

describe('javaAtLeast', () => {
  it('takes a configured JAVA_HOME that is new enough', (ctx) => {
    const root = jvmRoot(ctx, { 'temurin-25': '25.0.1' });
    expect(javaAtLeast(21, join(root, 'temurin-25'), 'the registry', root)).toBe(
      join(root, 'temurin-25', 'bin', 'java'),
    );
  });

  it('refuses a configured JAVA_HOME that is too old, saying which key to change', (ctx) => {
    const root = jvmRoot(ctx, { 'java-17': '17.0.15' });
    const err = (() => {
      try {
        javaAtLeast(21, join(root, 'java-17'), 'Apicurio Registry 3.3.3', root);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isTagstreamError(err) && err.code).toBe('STACK_TOOL_MISSING');
    expect((err as Error).message).toContain('Apicurio Registry 3.3.3 needs Java 21+');
    expect((err as Error).message).toContain('stack.registryJavaHome');
  });

  it('without a configured home, finds a new enough JDK under the folder when java on PATH is older', (ctx) => {
    const root = jvmRoot(ctx, { 'java-17': '17.0.15', 'temurin-25': '25.0.1' });
    // java on PATH here is 17 (or absent) on this kind of machine; asking for 99 shows the search falls through.
    expect(javaAtLeast(25, '', 'the registry', root)).toMatch(/temurin-25\/bin\/java$|^java$/);
    expect(() => javaAtLeast(99, '', 'the registry', root)).toThrow(/needs Java 99\+ and none was found/);
  });
});
