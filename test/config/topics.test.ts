// Topic naming: the namespace goes on once, in front of the whole name; a derived topic's prefix goes on the base
// name of its source.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.ts';
import {
  baseName,
  cleanTopic,
  dlqTopic,
  dlqTopicPrefix,
  lateTopic,
  predictionTopic,
  sourceOfDlq,
  withNamespace,
} from '../../config/topics.ts';

describe('topic names', () => {
  const bare = parseConfig({}).topics;
  const ns = parseConfig({ topics: { namespace: 'shop1' } }).topics;

  it('without a namespace, a derived topic is its prefix and the source name', () => {
    expect(cleanTopic(bare, bare.scans)).toBe('clean.rfid.scans');
    expect(dlqTopic(bare, 'clean.rfid.scans')).toBe('dlq.clean.rfid.scans');
    expect(lateTopic(bare, bare.classEvents)).toBe('late.tagstream.class-events');
    expect(predictionTopic(bare, 'pack')).toBe('predictions.pack');
    expect(sourceOfDlq(bare, 'dlq.rfid.scans')).toBe('rfid.scans');
    expect(sourceOfDlq(bare, 'clean.rfid.scans')).toBeUndefined();
  });

  it('a namespace from the config goes in front of every name once, never between a prefix and its source', () => {
    expect(ns.scans).toBe('shop1.rfid.scans');
    expect(ns.alerts).toBe('shop1.alerts');
    expect(ns.dlqPrefix).toBe('dlq.');
    const clean = cleanTopic(ns, ns.scans);
    expect(clean).toBe('shop1.clean.rfid.scans');
    expect(dlqTopic(ns, clean)).toBe('shop1.dlq.clean.rfid.scans');
    expect(dlqTopicPrefix(ns)).toBe('shop1.dlq.');
    expect(sourceOfDlq(ns, 'shop1.dlq.clean.rfid.scans')).toBe(clean);
    expect(sourceOfDlq(ns, 'dlq.rfid.scans')).toBeUndefined();
    expect(baseName(ns, ns.scans)).toBe('rfid.scans');
    expect(predictionTopic(ns, 'demand')).toBe('shop1.predictions.demand');
  });

  it('applying the same namespace again changes nothing', () => {
    expect(withNamespace(ns, 'shop1')).toEqual(ns);
  });
});
