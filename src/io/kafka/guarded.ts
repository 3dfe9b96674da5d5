// Every client createKafka builds goes through here: a refused login, a missing ACL or a failed TLS handshake becomes
// our coded error at the boundary, naming the principal, the brokers, the topic, group or transactional id the call
// was about, and what to change (security.ts); so does one the client reports out of band (signals.ts), without
// waiting for the call's own timeout. Other errors pass unchanged (callers read their `retriable`), marked with the
// client's security so that mapKafkaError can add the TLS hint to a connection a broker dropped.
import { TagstreamError } from '../../errors.ts';
import { securityError, type KafkaOperation, type KafkaSecurity } from './security.ts';
import { signalsOf } from './signals.ts';
import type {
  KafkaAdmin,
  KafkaClient,
  KafkaConsumer,
  KafkaProducer,
  KafkaTransaction,
  ProducedRecord,
  TopicPartitionOffsets,
} from './types.ts';

/** Where an error thrown by a guarded client keeps that client's security settings (never enumerated or logged). */
export const SECURITY_OF_ERROR = Symbol('tagstream.kafka.security');

const topicsOf = (records: readonly ProducedRecord[]): string[] => [...new Set(records.map((r) => r.topic))];
const offsetTopics = (offsets: readonly TopicPartitionOffsets[]): string[] => offsets.map((o) => o.topic);

export function guarded(client: KafkaClient, security: KafkaSecurity): KafkaClient {
  const brokers = client.brokers;
  const convert = (e: unknown, op: KafkaOperation): unknown => {
    const ours = securityError(e, brokers, security, op);
    if (ours) return ours;
    if (typeof e === 'object' && e !== null && !(SECURITY_OF_ERROR in e))
      Object.defineProperty(e, SECURITY_OF_ERROR, { value: security, enumerable: false });
    return e;
  };
  const signals = signalsOf(client);
  /** A signal that concerns a call: a refusal naming a topic only the calls about that topic; anything else all. */
  const concerns = (signal: Error & { topic?: string }, op: KafkaOperation): boolean =>
    signal.topic === undefined || (op.topics ?? []).includes(signal.topic);
  /** The library calls that a signal cut short: they go on until their own timeout. */
  const abandoned: Array<Promise<unknown>> = [];
  /**
   * The call, failed early by a signal that concerns it (the library's own call goes on and is ignored). `op`
   * describes the call for an error and is built only when one happens: sends are on the hot path.
   */
  const call = <T>(op: () => KafkaOperation, fn: () => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const pending = fn();
      const off = signals?.on((signal) => {
        const ours = concerns(signal, op()) ? securityError(signal, brokers, security, op()) : undefined;
        if (!ours) return;
        abandoned.push(pending.catch(() => undefined));
        reject(ours);
      });
      pending.then(resolve, (e: unknown) => reject(convert(e, op()))).finally(() => off?.());
    });

  /**
   * After a call was cut short, the disconnect runs in the background once that call has ended: librdkafka's would
   * wait for it, holding up the event loop.
   */
  const disconnect = (fn: () => Promise<void>): Promise<void> => {
    if (!abandoned.length) return fn();
    void Promise.allSettled(abandoned)
      .then(fn)
      .catch(() => undefined);
    return Promise.resolve();
  };

  const transaction = (tx: KafkaTransaction, transactionalId: string | undefined): KafkaTransaction => {
    const op = (what: string, action: string, topics: string[] = [], group?: string): KafkaOperation => ({
      what,
      action,
      topics,
      ...(transactionalId === undefined ? {} : { transactionalId }),
      ...(group === undefined ? {} : { group }),
    });
    return {
      send: (records) =>
        call(
          () =>
            op(`producing to ${topicsOf(records).join(', ')} in a transaction`, 'Write', topicsOf(records)),
          () => tx.send(records),
        ),
      sendOffsets: (groupId, offsets) =>
        call(
          () =>
            op(
              `committing offsets of group ${groupId} in a transaction`,
              'Read',
              offsetTopics(offsets),
              groupId,
            ),
          () => tx.sendOffsets(groupId, offsets),
        ),
      commit: () =>
        call(
          () => op('committing a transaction', 'Write'),
          () => tx.commit(),
        ),
      abort: () =>
        call(
          () => op('aborting a transaction', 'Write'),
          () => tx.abort(),
        ),
    };
  };

  const producer = (p: KafkaProducer, transactionalId: string | undefined): KafkaProducer => {
    const tid = transactionalId === undefined ? {} : { transactionalId };
    return {
      connect: () =>
        call(
          () => ({ what: 'connecting a producer', action: 'Write', ...tid }),
          () => p.connect(),
        ),
      send: (records) =>
        call(
          () => ({
            what: `producing to ${topicsOf(records).join(', ')}`,
            action: 'Write',
            topics: topicsOf(records),
            ...tid,
          }),
          () => p.send(records),
        ),
      transaction: async () =>
        transaction(
          await call(
            () => ({ what: 'beginning a transaction', action: 'Write', ...tid }),
            () => p.transaction(),
          ),
          transactionalId,
        ),
      initTransactions: () =>
        call(
          () => ({
            what: 'claiming a transactional id (fencing its previous holder)',
            action: 'Write',
            ...tid,
          }),
          () => p.initTransactions(),
        ),
      disconnect: () => disconnect(() => p.disconnect()),
    };
  };

  const consumer = (c: KafkaConsumer, group: string): KafkaConsumer => {
    let subscribed: string[] = [];
    const op = (what: string, action = 'Read'): KafkaOperation => ({
      what,
      action,
      topics: subscribed,
      group,
    });
    // A consumer that may not read its topics or group fails (confluent says so only in its log: signals.ts).
    const crashListeners: Array<(error: Error, restarting: boolean) => void> = [];
    let crashed = false;
    const offSignals = signals?.on((signal) => {
      if (crashed || !subscribed.length || !concerns(signal, op(''))) return;
      const ours = securityError(
        signal,
        brokers,
        security,
        op(`consuming ${subscribed.join(', ')} in group ${group}`),
      );
      if (!ours) return;
      crashed = true;
      for (const l of crashListeners) l(ours, false);
    });
    return {
      connect: () =>
        call(
          () => op(`connecting consumer group ${group}`),
          () => c.connect(),
        ),
      subscribe: (topics, options) => {
        subscribed = [...topics];
        return call(
          () => op(`subscribing group ${group} to ${topics.join(', ')}`),
          () => c.subscribe(topics, options),
        );
      },
      run: (options) =>
        call(
          () => op(`consuming ${subscribed.join(', ')} in group ${group}`),
          () => c.run(options),
        ),
      commitOffsets: (offsets) =>
        call(
          () => ({
            what: `committing offsets of group ${group}`,
            action: 'Read',
            topics: offsetTopics(offsets),
            group,
          }),
          () => c.commitOffsets(offsets),
        ),
      seek: (topic, partition, offset) => c.seek(topic, partition, offset),
      stop: () => c.stop(),
      disconnect: () => {
        offSignals?.();
        return disconnect(() => c.disconnect());
      },
      onAssignment: (listener) => c.onAssignment(listener),
      onFetchEnd: (listener) => c.onFetchEnd(listener),
      onCrash: (listener) => {
        crashListeners.push(listener);
        c.onCrash((error, restarting) => {
          const mapped = convert(error, op(`consuming ${subscribed.join(', ')} in group ${group}`));
          if (mapped instanceof TagstreamError) {
            // Once: the signals may have reported this refusal already.
            if (crashed) return;
            crashed = true;
          }
          listener(mapped instanceof Error ? mapped : error, restarting);
        });
      },
    };
  };

  const admin = (a: KafkaAdmin): KafkaAdmin => {
    const op = (
      what: string,
      action: string,
      topics: readonly string[] = [],
      group?: string,
    ): KafkaOperation => ({
      what,
      action,
      topics,
      ...(group === undefined ? {} : { group }),
    });
    return {
      connect: () =>
        call(
          () => op('connecting an admin client', 'Describe'),
          () => a.connect(),
        ),
      disconnect: () => disconnect(() => a.disconnect()),
      listTopics: () =>
        call(
          () => op('listing topics', 'Describe'),
          () => a.listTopics(),
        ),
      createTopics: (specs) => {
        const topics = specs.map((s) => s.topic);
        return call(
          () => op(`creating topics ${topics.join(', ')}`, 'Create', topics),
          () => a.createTopics(specs),
        );
      },
      deleteTopics: (topics) =>
        call(
          () => op(`deleting topics ${topics.join(', ')}`, 'Delete', topics),
          () => a.deleteTopics(topics),
        ),
      partitionCounts: (topics) =>
        call(
          () => op(`describing ${topics.join(', ')}`, 'Describe', topics),
          () => a.partitionCounts(topics),
        ),
      topicOffsets: (topic) =>
        call(
          () => op(`reading the offsets of ${topic}`, 'Describe', [topic]),
          () => a.topicOffsets(topic),
        ),
      groupOffsets: (groupId, topics) =>
        call(
          () => op(`reading the offsets of group ${groupId}`, 'Describe', topics, groupId),
          () => a.groupOffsets(groupId, topics),
        ),
      deleteGroups: (groupIds) =>
        call(
          () => op(`deleting groups ${groupIds.join(', ')}`, 'Delete', [], groupIds[0]),
          () => a.deleteGroups(groupIds),
        ),
      topicConfigs: (topics, names) =>
        call(
          () => op(`reading the configs of ${topics.join(', ')}`, 'DescribeConfigs', topics),
          () => a.topicConfigs(topics, names),
        ),
      brokerCount: () =>
        call(
          () => op('describing the cluster', 'Describe'),
          () => a.brokerCount(),
        ),
    };
  };

  return {
    implementation: client.implementation,
    // The runner's tasks (one transactional producer for partition p of every source) rest on it.
    ...(client.assignsTasks === undefined ? {} : { assignsTasks: client.assignsTasks }),
    brokers,
    producer: (options = {}) => producer(client.producer(options), options.transactionalId),
    consumer: (options) => consumer(client.consumer(options), options.groupId),
    admin: (options = {}) => admin(client.admin(options)),
  };
}
