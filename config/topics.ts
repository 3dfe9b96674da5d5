// Topic names, in one place. The rule: a name is `<namespace>.<prefix><base>`: the namespace (topics.namespace,
// e.g. the demo's `demo-<run>`) is applied once, to the front of the full name; a derived topic's prefix (clean.,
// dlq., late., predictions.) goes on the base name of its source, never on an already namespaced one. So the dead
// letters of the clean scans in namespace `demo-x` are on `demo-x.dlq.clean.rfid.scans`.
import type { Config } from './schema.ts';

type Topics = Config['topics'];

/** The base-name keys of topics.* (prefixes and the namespace are not names of topics). */
export const TOPIC_NAME_KEYS = [
  'scans',
  'transactions',
  'weather',
  'economic',
  'calendar',
  'featuresRealtime',
  'featuresWindowed',
  'alerts',
  'modelVersions',
  'classEvents',
] as const satisfies ReadonlyArray<keyof Topics>;

const nsPrefix = (t: Topics): string => (t.namespace ? `${t.namespace}.` : '');

/** `name` with the namespace in front, once. */
export function inNamespace(t: Topics, name: string): string {
  const p = nsPrefix(t);
  return p && !name.startsWith(p) ? `${p}${name}` : name;
}

/** A topic's name without the namespace. */
export function baseName(t: Topics, topic: string): string {
  const p = nsPrefix(t);
  return p && topic.startsWith(p) ? topic.slice(p.length) : topic;
}

/**
 * The topics config with every base name in namespace `ns` (prefixes stay bare: the helpers below apply them).
 * Idempotent: a name already in the namespace is left as it is.
 */
export function withNamespace(t: Topics, ns: string): Topics {
  const out: Topics = { ...t, namespace: ns };
  const names = Object.fromEntries(TOPIC_NAME_KEYS.map((k) => [k, inNamespace(out, t[k])]));
  return { ...out, ...names };
}

/** `<ns>.<prefix><base of source>`. */
const derived = (t: Topics, prefix: string, source: string): string =>
  inNamespace(t, `${prefix}${baseName(t, source)}`);

/** Validated records of a source: `<ns>.clean.<source>`. */
export const cleanTopic = (t: Topics, source: string): string => derived(t, t.cleanPrefix, source);

/** Dead letters of a source: `<ns>.dlq.<source>`. */
export const dlqTopic = (t: Topics, source: string): string => derived(t, t.dlqPrefix, source);

/** Records a window of `source` missed: `<ns>.late.<source>`. */
export const lateTopic = (t: Topics, source: string): string => derived(t, t.latePrefix, source);

/** Predictions of a service: `<ns>.predictions.<service>`. */
export const predictionTopic = (t: Topics, service: string): string =>
  inNamespace(t, `${t.predictionsPrefix}${service}`);

/** Every dead-letter topic starts with this: `<ns>.dlq.`. */
export const dlqTopicPrefix = (t: Topics): string => inNamespace(t, t.dlqPrefix);

/** The source a dead-letter topic belongs to (undefined for a topic that is not one). */
export function sourceOfDlq(t: Topics, topic: string): string | undefined {
  const p = dlqTopicPrefix(t);
  return topic.startsWith(p) && topic.length > p.length ? inNamespace(t, topic.slice(p.length)) : undefined;
}
