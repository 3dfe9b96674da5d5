// Fetching and launching the JVM services of the local stack (Kafka, Apicurio Registry) from Maven Central.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
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
