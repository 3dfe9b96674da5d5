// Fetching and launching the JVM services of the local stack (Kafka, Apicurio Registry) from Maven Central.
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { TagstreamError } from '../../errors.ts';

/** Throws STACK_TOOL_MISSING with a hint when a command is not on PATH. */
export function requireTool(cmd: string, hint: string): void {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new TagstreamError('STACK_TOOL_MISSING', `${cmd} not found: ${hint}`);
}

/** Runs Maven quietly; its output goes to `logFile` so that a failure can point at it. */
export function runMaven(args: string[], cwd: string, logFile: string, what: string): void {
  requireTool('mvn', `install Maven (apt-get install maven), or set ${what} to a running service`);
  const fd = openSync(logFile, 'a');
  try {
    const r = spawnSync('mvn', ['-B', '-q', ...args], { cwd, stdio: ['ignore', fd, fd] });
    if (r.status !== 0)
      throw new TagstreamError(
        'STACK_START_FAILED',
        `Maven could not fetch ${what} (exit ${r.status}); see ${logFile}. Is Maven Central reachable?`,
      );
  } finally {
    closeSync(fd);
  }
}

export function javaBinary(javaHome: string): string {
  if (javaHome) {
    const bin = `${javaHome}/bin/java`;
    if (!existsSync(bin))
      throw new TagstreamError(
        'STACK_TOOL_MISSING',
        `no java at ${bin}: fix stack.registryJavaHome / JAVA_HOME`,
      );
    return bin;
  }
  requireTool('java', 'install a JDK 17+ (apt-get install openjdk-17-jre-headless)');
  return 'java';
}

/** The feature release in a version string's first two numbers: `17.0.15` is 17; Java 8 and older say `1.8.0`. */
function featureRelease(first: string, second: string | undefined): number {
  return first === '1' ? Number(second ?? 0) : Number(first);
}

/** The feature release of a Java binary (`java -version` prints e.g. `openjdk version "17.0.15"`), or 0. */
export function javaMajor(bin: string): number {
  const r = spawnSync(bin, ['-version'], { encoding: 'utf8' });
  const m = /version "(\d+)(?:\.(\d+))?/.exec(`${r.stderr ?? ''}${r.stdout ?? ''}`);
  return m ? featureRelease(m[1]!, m[2]) : 0;
}

/** JDKs under `root` (a distribution's /usr/lib/jvm) by feature release, newest first, from their `release` files. */
export function installedJdks(root: string = '/usr/lib/jvm'): { home: string; major: number }[] {
  if (!existsSync(root)) return [];
  const out: { home: string; major: number }[] = [];
  for (const name of readdirSync(root)) {
    const release = join(root, name, 'release');
    if (!existsSync(release) || !existsSync(join(root, name, 'bin', 'java'))) continue;
    const m = /^JAVA_VERSION="(\d+)(?:\.(\d+))?/m.exec(readFileSync(release, 'utf8'));
    if (m) out.push({ home: join(root, name), major: featureRelease(m[1]!, m[2]) });
  }
  return out.sort((a, b) => b.major - a.major || a.home.localeCompare(b.home));
}

/**
 * A Java binary of at least feature release `major`: the configured JAVA_HOME's (which must be new enough), else
 * `java` on PATH when it is, else the newest JDK under /usr/lib/jvm (Debian's layout; Temurin installs there too).
 */
export function javaAtLeast(major: number, javaHome: string, what: string, jvmRoot?: string): string {
  if (javaHome) {
    const bin = javaBinary(javaHome);
    const found = javaMajor(bin);
    if (found < major)
      throw new TagstreamError(
        'STACK_TOOL_MISSING',
        `${what} needs Java ${major}+, but ${bin} is Java ${found}: set stack.registryJavaHome to a JDK ${major}+`,
      );
    return bin;
  }
  const onPath = spawnSync('sh', ['-c', 'command -v java'], { encoding: 'utf8' }).status === 0;
  const pathMajor = onPath ? javaMajor('java') : 0;
  if (onPath && pathMajor >= major) return 'java';
  const jdk = installedJdks(jvmRoot).find((j) => j.major >= major);
  if (jdk) return join(jdk.home, 'bin', 'java');
  throw new TagstreamError(
    'STACK_TOOL_MISSING',
    `${what} needs Java ${major}+ and none was found (java on PATH${onPath ? ` is Java ${pathMajor}` : ' is missing'}, nothing new enough under /usr/lib/jvm): install one (apt-get install openjdk-21-jre-headless) or set stack.registryJavaHome`,
  );
}

/** Starts a detached process (it outlives this command) writing to `logFile`; returns its pid. */
export function launchDetached(cmd: string, args: string[], cwd: string, logFile: string): number {
  mkdirSync(cwd, { recursive: true });
  const fd = openSync(logFile, 'a');
  writeFileSync(fd, `\n--- ${new Date().toISOString()} starting ${cmd} ${args.join(' ')}\n`);
  const child = spawn(cmd, args, { cwd, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  if (child.pid === undefined) throw new TagstreamError('STACK_START_FAILED', `could not start ${cmd}`);
  child.unref();
  return child.pid;
}
