// Shared fixtures for unit tests on the in-process driver: the ingest topology, sample records, and a fake metrics sink.
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { parseConfig } from '../../config/load.ts';
import type { Config, ConfigInput } from '../../config/schema.ts';
import { ingestTopology } from '../../pipelines/ingest.ts';
import type { PipelineMetrics } from '../../src/runtime/metrics.ts';
import { TestDriver, type DriverOptions } from '../../src/runtime/test-driver.ts';
import { loadSchema } from '../../src/schemas/catalog.ts';
import type { DeadLetter, PosTransaction, RfidScan } from '../../src/schemas/types.ts';

/** The driver's default start time; sample event times sit an hour before it. */
export const T0 = Date.UTC(2026, 5, 1);
export const DAY_MS = 86_400_000;

export const SCANS = 'rfid.scans';
export const TRANSACTIONS = 'pos.transactions';
export const CLEAN_SCANS = 'clean.rfid.scans';
export const CLEAN_TRANSACTIONS = 'clean.pos.transactions';
export const DLQ_SCANS = 'dlq.rfid.scans';
export const DLQ_TRANSACTIONS = 'dlq.pos.transactions';

export const scanSchema = loadSchema('rfidScan');
export const transactionSchema = loadSchema('posTransaction');

export function sampleScan(overrides: Partial<RfidScan> = {}): RfidScan {
  return {
    tag_id: `tag-${randomUUID()}`,
    rental_class_num: 'TENT-40x60',
    scan_type: 'out',
    scan_date: T0 - 3_600_000,
    reader_id: `reader-${randomUUID()}`,
    store_id: 'S1',
    quality_grade: 4,
    notes: null,
    ...overrides,
  };
}

export function sampleTransaction(overrides: Partial<PosTransaction> = {}): PosTransaction {
  return {
    transaction_id: `tx-${randomUUID()}`,
    contract_no: `c-${randomUUID()}`,
    store_id: 'S2',
    customer_id: `cust-${randomUUID()}`,
    transaction_date: T0 - 3_600_000,
    event_date: Math.floor(T0 / DAY_MS) + 7,
    items: [
      { rental_class_num: 'CHAIR-FOLD', quantity: 100, price: 1.25 },
      { rental_class_num: 'TABLE-6FT', quantity: 10, price: 8.5 },
    ],
    total_amount: 210,
    ...overrides,
  };
}

export interface IngestDriver {
  readonly driver: TestDriver;
  readonly config: Config;
}

/** A driver on the ingest topology built from `configInput` (defaults when omitted). */
export async function ingestDriver(
  configInput: ConfigInput = {},
  options: DriverOptions = {},
): Promise<IngestDriver> {
  const config = parseConfig(configInput);
  const driver = await TestDriver.create(ingestTopology(config), { startTime: T0, ...options });
  return { driver, config };
}

/** Pipes raw bytes and returns the single dead letter that came out, checking nothing else was written. */
export async function readOnlyDeadLetter(driver: TestDriver, dlqTopic: string): Promise<DeadLetter> {
  expect(driver.topicsWritten()).toEqual([dlqTopic]);
  const out = await driver.read<DeadLetter>(dlqTopic);
  expect(out).toHaveLength(1);
  return out[0]!.value;
}

export type MetricsCall = [keyof PipelineMetrics, ...unknown[]];

/** A PipelineMetrics that records every call in order, to assert on what the runtime reported. */
export function recordingMetrics(): PipelineMetrics & { readonly calls: MetricsCall[] } {
  const calls: MetricsCall[] = [];
  const rec =
    (name: keyof PipelineMetrics) =>
    (...args: unknown[]): void => {
      calls.push([name, ...args]);
    };
  return {
    calls,
    recordsIn: rec('recordsIn'),
    recordsOut: rec('recordsOut'),
    deadLettered: rec('deadLettered'),
    stageFailed: rec('stageFailed'),
    batchCommitted: rec('batchCommitted'),
    inFlight: rec('inFlight'),
    pausedPartitions: rec('pausedPartitions'),
  };
}
