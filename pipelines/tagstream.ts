// The whole streaming job in one consumer group: ingest (validate) and features (extract, window).
import type { Config } from '../config/schema.ts';
import { topology, type Topology } from '../src/runtime/topology.ts';
import { featureBranches } from './features.ts';
import { ingestTopology } from './ingest.ts';

export function tagstreamTopology(config: Config): Topology {
  const name = 'tagstream';
  return topology(name, [...ingestTopology(config).branches, ...featureBranches(config, name)]);
}
