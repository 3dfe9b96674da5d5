// The ingest topology: rfid.scans and pos.transactions are decoded, validated, and written to clean.<source>;
// records that fail go to dlq.<source> with their reason.
import type { Config } from '../config/schema.ts';
import { cleanTopic } from '../config/topics.ts';
import { validateScan } from '../operators/validate-scan.ts';
import { validateTransaction } from '../operators/validate-transaction.ts';
import { loadSchema } from '../src/schemas/catalog.ts';
import { Flow, topology, type Topology } from '../src/runtime/topology.ts';

export function ingestTopology(config: Config): Topology {
  const { topics, validation } = config;
  return topology('ingest', [
    Flow.from(topics.scans, loadSchema('rfidScan'))
      .via(validateScan(validation))
      .to(cleanTopic(topics, topics.scans), loadSchema('rfidScan')),
    Flow.from(topics.transactions, loadSchema('posTransaction'))
      .via(validateTransaction(validation))
      .to(cleanTopic(topics, topics.transactions), loadSchema('posTransaction')),
  ]);
}
