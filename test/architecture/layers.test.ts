// The layers of CONVENTIONS.md point 9 as tests: arrows between folders point one way (no cycle), the dev tools
// (src/dev: simulator, stack, demo, their commands; bench/) sit beside the product and are never imported by it, and
// only the Kafka adapter (src/io/kafka/) talks to a Kafka client library.
import { describe, expect, it } from 'vitest';
import { folderCycles, folderGraph, importsOf, listSourceFiles } from './import-graph.ts';

/** Everything that is code of ours: the product and the dev tools beside it. */
const CODE = ['src', 'operators', 'pipelines', 'config', 'schemas', 'bench'];
/** The product: what `npm run pipeline` and the other product commands are made of. */
const PRODUCT = ['src', 'operators', 'pipelines', 'config', 'schemas'];
const isDev = (path: string): boolean => path.startsWith('src/dev/');
/** What the product must never import: the dev tools, the benches and the tests. */
const NOT_PRODUCT = ['src/dev/', 'bench/', 'test/'];

/** The Kafka client libraries; `@kafkajs/confluent-schema-registry` is the registry's client, not one of them. */
const KAFKA_CLIENTS = ['kafkajs', '@confluentinc/kafka-javascript', '@platformatic/kafka'];
const KAFKA_ADAPTER = 'src/io/kafka/';

describe('folders', () => {
  const graph = folderGraph(CODE);

  it('finds the folders, the dev tools among them', () => {
    expect([...graph.keys()]).toEqual(
      expect.arrayContaining(['operators', 'pipelines', 'src/app', 'src/dev']),
    );
  });

  it('import each other one way only (no cycle)', () => {
    // Each cycle, then the file imports behind each of its edges: the ones to move to where they belong.
    const report = folderCycles(graph).flatMap((cycle) => [
      `cycle: ${cycle.join(' ⇄ ')}`,
      ...cycle.flatMap((from) =>
        (graph.get(from) ?? [])
          .filter((edge) => cycle.includes(edge.to))
          .flatMap((edge) => [
            `  ${edge.from} → ${edge.to}:`,
            ...edge.imports.map(({ file, imported }) => `    ${file} imports ${imported}`),
          ]),
      ),
    ]);
    expect(report).toEqual([]);
  });
});

describe('the product', () => {
  const product = listSourceFiles(PRODUCT).filter((file) => !isDev(file));

  it('is the product and nothing of the dev tools', () => {
    expect(product).toEqual(expect.arrayContaining(['src/cli/pipeline.ts', 'operators/item-features.ts']));
    expect(product.filter(isDev)).toEqual([]);
    expect(listSourceFiles(['src/dev'])).toContain('src/dev/sim/model.ts');
  });

  it('never imports the dev tools, the benches or the tests', () => {
    const violations = product.flatMap((file) =>
      importsOf(file)
        .filter(({ target }) => target.kind === 'file' && NOT_PRODUCT.some((d) => target.path.startsWith(d)))
        .map(({ specifier }) => `${file} imports '${specifier}'`),
    );
    expect(violations).toEqual([]);
  });
});

describe('Kafka client libraries', () => {
  // Tests under test/ are exempt: several integration tests deliberately read our topics with an independent kafkajs
  // client, to check what the pipeline wrote without trusting our own adapter.
  const files = listSourceFiles(CODE);
  const kafkaImports = (file: string): string[] =>
    importsOf(file)
      .filter(({ target }) => target.kind === 'package' && KAFKA_CLIENTS.includes(target.name))
      .map(({ specifier }) => specifier);

  it('are seen where they are used (the adapter imports kafkajs)', () => {
    expect(kafkaImports('src/io/kafka/kafkajs.ts')).toContain('kafkajs');
  });

  it(`are imported only by the Kafka adapter (${KAFKA_ADAPTER})`, () => {
    const violations = files
      .filter((file) => !file.startsWith(KAFKA_ADAPTER))
      .flatMap((file) => kafkaImports(file).map((specifier) => `${file} imports '${specifier}'`));
    expect(violations).toEqual([]);
  });
});
