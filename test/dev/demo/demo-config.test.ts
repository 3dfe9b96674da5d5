// The demo's namespace: every topic, the consumer groups, the Redis keys and the database are its own, and the
// pipeline accepts exactly the simulated stores in their zones.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../config/load.ts';
import { TOPIC_NAME_KEYS, cleanTopic, dlqTopic, lateTopic, predictionTopic } from '../../../config/topics.ts';
import { MIN_DEMO_DAYS, demoConfig, demoTraining, pipelineGroups } from '../../../src/dev/demo/demo.ts';
import { makeStores } from '../../../src/dev/sim/catalogue.ts';

describe('demoConfig', () => {
  const base = parseConfig({});
  const c = demoConfig(base, '2611', false, makeStores(4));

  it('prefixes every topic, the groups and the Redis keys with the run, and uses its own database', () => {
    for (const key of TOPIC_NAME_KEYS) expect(c.topics[key], key).toBe(`demo-2611.${base.topics[key]}`);
    // The namespace goes on once, in front of the whole name of a derived topic.
    const cleanScans = cleanTopic(c.topics, c.topics.scans);
    expect(cleanScans).toBe('demo-2611.clean.rfid.scans');
    expect(dlqTopic(c.topics, cleanScans)).toBe('demo-2611.dlq.clean.rfid.scans');
    expect(lateTopic(c.topics, c.topics.classEvents)).toBe('demo-2611.late.tagstream.class-events');
    expect(predictionTopic(c.topics, 'demand')).toBe('demo-2611.predictions.demand');
    expect(demoConfig(c, '2611').topics).toEqual(c.topics);
    expect(c.pipeline.groupId).toBe('demo-2611');
    expect(c.featureStore.redisPrefix).toBe('demo-2611:');
    expect(c.mysql.url).toBe('mysql://root@127.0.0.1:3306/tagstream_demo');
    expect(pipelineGroups(c).every((g) => g.group.startsWith('demo-2611'))).toBe(true);
  });

  it("keeps the configured MySQL URL's user, password and TLS options on its own database", () => {
    const secure = parseConfig({
      mysql: { url: 'mysql://tagstream:pw@db.local:3316/tagstream?ssl-mode=VERIFY_IDENTITY&ssl-ca=/ca.pem' },
    });
    expect(demoConfig(secure, 'x').mysql.url).toBe(
      'mysql://tagstream:pw@db.local:3316/tagstream_demo?ssl-mode=VERIFY_IDENTITY&ssl-ca=/ca.pem',
    );
  });

  it('accepts the simulated stores in the zones the simulator gives them, and never retrains by itself', () => {
    expect(c.validation.storeIds).toEqual(['S1', 'S2', 'S3', 'S4']);
    expect(c.stores.timeZones['S4']).toBe('America/New_York');
    expect(c.serving.retrain.enabled).toBe(false);
    expect(c.serving.maintenanceK).toBe(base.serving.maintenanceK);
    expect(demoConfig(base, 'x', true).serving.maintenanceK).toBe(1);
  });
});

describe('demoTraining', () => {
  it('refuses a history too short to train on, naming the smallest --days that works', () => {
    expect(() => demoTraining(false, MIN_DEMO_DAYS - 1)).toThrow(`use --days ${MIN_DEMO_DAYS} or more`);
  });

  it('fits the holdout to the history: a quarter of it, 7 to 14 days; short histories get 2 folds', () => {
    expect(demoTraining(true, 30)).toEqual({ holdoutDays: 7, folds: 2, grid: 'small' });
    expect(demoTraining(false, MIN_DEMO_DAYS)).toEqual({ holdoutDays: 7, folds: 2, grid: 'small' });
    expect(demoTraining(false, 48)).toEqual({ holdoutDays: 12, folds: 2, grid: 'small' });
    expect(demoTraining(false, 90)).toEqual({ holdoutDays: 14 });
    expect(demoTraining(false, 365)).toEqual({ holdoutDays: 14 });
  });
});
