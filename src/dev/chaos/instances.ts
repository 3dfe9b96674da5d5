// Pipeline instances as the chaos suite runs them: `npm run pipeline` processes with the run's configuration (a
// file, as a deployment would have), their output into a log file each, their peak RSS sampled, and a supervisor
// that starts an instance again when it exits without being asked to (as systemd's Restart=always would: an
// instance that starts while the broker or the registry is away stops with KAFKA_UNAVAILABLE/REGISTRY_UNAVAILABLE).
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../../config/schema.ts';
import { jobArgs } from '../bundle.ts';

export class Instances {
  private readonly live = new Map<number, { child: ChildProcess; intended: boolean }>();
  private nextId = 1;
  private peakRss = 0;
  private readonly sampler: NodeJS.Timeout;
  private closed = false;
  /** Restarts the supervisor has planned. */
  private readonly pending = new Set<NodeJS.Timeout>();
  /** Exits nobody asked for (each followed by a restart). */
  unexpectedExits = 0;

  constructor(
    private readonly dir: string,
    private readonly name: string,
    private readonly configFile: string,
    private readonly onEvent: (line: string) => void,
  ) {
    this.sampler = setInterval(() => this.sample(), 500);
    this.sampler.unref();
  }

  /** The run's configuration as a file (TAGSTREAM_CONFIG), as a deployment would have it. */
  static writeConfig(dir: string, name: string, config: Config): string {
    const file = join(dir, `${name}.config.json`);
    writeFileSync(file, JSON.stringify(config));
    return file;
  }

  /** Instances running or about to be started again by the supervisor. */
  get count(): number {
    return this.live.size + this.pending.size;
  }

  /**
   * One instance leaves: a restart the supervisor planned is called off (the instance was down anyway), else the
   * newest running one stops cleanly. Returns what happened, or undefined when none is left to go.
   */
  async leave(): Promise<string | undefined> {
    const [timer] = this.pending;
    if (timer !== undefined) {
      clearTimeout(timer);
      this.pending.delete(timer);
      return 'an instance that was down (its restart called off)';
    }
    const id = this.ids().at(-1);
    if (id === undefined) return undefined;
    const pid = await this.stop(id);
    return `instance #${id} (pid ${pid}) stopped cleanly (SIGTERM)`;
  }

  ids(): number[] {
    return [...this.live.keys()];
  }

  pidOf(id: number): number | undefined {
    return this.live.get(id)?.child.pid;
  }

  /** Peak resident set of any one instance (VmHWM), MiB. */
  peakRssMiB(): number {
    this.sample();
    return Math.round(this.peakRss / 2 ** 20);
  }

  start(): number {
    const id = this.nextId++;
    const out = openSync(join(this.dir, `${this.name}-instance-${id}.log`), 'a');
    // Only the config file speaks: variables of the caller's environment would win over it.
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env))
      if (
        !k.startsWith('TAGSTREAM') &&
        !['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'REDIS_URL', 'MYSQL_URL', 'LOG_FILE'].includes(k)
      )
        env[k] = v;
    const child = spawn(process.execPath, jobArgs(), {
      env: {
        ...env,
        TAGSTREAM_CONFIG: this.configFile,
        LOG_FORMAT: 'json',
        LOG_LEVEL: 'info',
        KAFKAJS_NO_PARTITIONER_WARNING: '1',
      },
      stdio: ['ignore', out, out],
    });
    const slot = { child, intended: false };
    this.live.set(id, slot);
    child.once('exit', (code, signal) => {
      this.sample();
      if (this.live.get(id) === slot) this.live.delete(id);
      if (slot.intended || this.closed) return;
      this.unexpectedExits++;
      this.onEvent(
        `instance #${id} exited by itself (${signal ?? `code ${code}`}; ${this.name}-instance-${id}.log): the supervisor starts another in 5 s`,
      );
      const timer = setTimeout(() => {
        this.pending.delete(timer);
        if (!this.closed) this.start();
      }, 5_000);
      timer.unref();
      this.pending.add(timer);
    });
    return id;
  }

  /** kill -9; resolves once the process is gone. */
  async kill(id: number): Promise<number | undefined> {
    return this.end(id, 'SIGKILL');
  }

  /** SIGTERM: a clean stop (drain, commit, leave the group). */
  async stop(id: number): Promise<number | undefined> {
    return this.end(id, 'SIGTERM');
  }

  async stopAll(): Promise<void> {
    this.closed = true;
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
    await Promise.all(this.ids().map((id) => this.stop(id)));
    clearInterval(this.sampler);
  }

  private async end(id: number, signal: NodeJS.Signals): Promise<number | undefined> {
    const slot = this.live.get(id);
    if (!slot) return undefined;
    slot.intended = true;
    const { child } = slot;
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await gone;
      clearTimeout(timer);
    }
    this.live.delete(id);
    return child.pid;
  }

  private sample(): void {
    for (const { child } of this.live.values()) {
      try {
        const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (hwm) this.peakRss = Math.max(this.peakRss, Number(hwm[1]) * 1024);
      } catch {
        // gone: its last sample stands
      }
    }
  }
}
