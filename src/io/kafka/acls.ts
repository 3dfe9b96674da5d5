// Kafka ACLs in our own words, created and listed through kafkajs's admin (the secure local stack grants each
// principal what it needs with these). Creating a binding that exists already is a no-op on the broker.
import { kafkajsInstance, type KafkajsSettings } from './kafkajs.ts';

export type AclResource = 'Topic' | 'Group' | 'Cluster' | 'TransactionalId';
export type AclOperation =
  | 'All'
  | 'Read'
  | 'Write'
  | 'Create'
  | 'Delete'
  | 'Alter'
  | 'Describe'
  | 'DescribeConfigs'
  | 'AlterConfigs'
  | 'IdempotentWrite';

/** Allow `principal` to do `operation` on the resource named `name` (a prefix when `prefixed`), from any host. */
export interface AclBinding {
  readonly principal: string;
  readonly resource: AclResource;
  readonly name: string;
  readonly prefixed: boolean;
  readonly operation: AclOperation;
}

// Kafka's protocol values (kafkajs's enums hold the same numbers; their values do not import under ESM).
const RESOURCE: Record<AclResource, number> = { Topic: 2, Group: 3, Cluster: 4, TransactionalId: 5 };
const OPERATION: Record<AclOperation, number> = {
  All: 2,
  Read: 3,
  Write: 4,
  Create: 5,
  Delete: 6,
  Alter: 7,
  Describe: 8,
  DescribeConfigs: 10,
  AlterConfigs: 11,
  IdempotentWrite: 12,
};
const PATTERN_LITERAL = 3;
const PATTERN_PREFIXED = 4;
const PATTERN_ANY = 1;
const RESOURCE_ANY = 1;
const OPERATION_ANY = 1;
const PERMISSION_ALLOW = 3;
const PERMISSION_ANY = 1;

const byValue = <K extends string>(m: Record<K, number>, v: number): K | undefined =>
  (Object.entries(m) as Array<[K, number]>).find(([, n]) => n === v)?.[0];

/** Creates the bindings (as a principal allowed to: a super user). */
export async function createAcls(settings: KafkajsSettings, bindings: readonly AclBinding[]): Promise<void> {
  if (!bindings.length) return;
  const admin = kafkajsInstance(settings).admin();
  await admin.connect();
  try {
    await admin.createAcls({
      acl: bindings.map((b) => ({
        principal: b.principal,
        host: '*',
        resourceType: RESOURCE[b.resource],
        resourceName: b.name,
        resourcePatternType: b.prefixed ? PATTERN_PREFIXED : PATTERN_LITERAL,
        operation: OPERATION[b.operation],
        permissionType: PERMISSION_ALLOW,
      })) as unknown as Parameters<typeof admin.createAcls>[0]['acl'],
    });
  } finally {
    await admin.disconnect();
  }
}

/** Every ALLOW binding on the cluster (the ones this module can express). */
export async function listAcls(settings: KafkajsSettings): Promise<AclBinding[]> {
  const admin = kafkajsInstance(settings).admin();
  await admin.connect();
  try {
    const { resources } = await admin.describeAcls({
      resourceType: RESOURCE_ANY,
      resourcePatternType: PATTERN_ANY,
      operation: OPERATION_ANY,
      permissionType: PERMISSION_ANY,
    } as unknown as Parameters<typeof admin.describeAcls>[0]);
    const out: AclBinding[] = [];
    for (const r of resources) {
      const resource = byValue(RESOURCE, r.resourceType as number);
      for (const acl of r.acls) {
        const operation = byValue(OPERATION, acl.operation as number);
        if (!resource || !operation || (acl.permissionType as number) !== PERMISSION_ALLOW) continue;
        out.push({
          principal: acl.principal,
          resource,
          name: r.resourceName,
          prefixed: (r.resourcePatternType as number) === PATTERN_PREFIXED,
          operation,
        });
      }
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}
