/**
 * Compare-and-set that holds on a clustered bucket of nats-server older than 2.9.21.
 *
 * THE SERVER BUG (nats-io/nats-server#4320, fixed in 2.9.21; Debian ships 2.9.10): on a
 * replicated stream the leader checks `Nats-Expected-Last-Subject-Sequence` only when it
 * proposes a message, against what it has applied so far, and not again when the message is
 * applied. Two `kv.update(key, value, R)` racing on an R3 bucket can therefore both succeed
 * (measured here: 138 of 300 races). Reeve's claims, fencing and breaker probes are all such
 * updates, so an R3 bucket on 2.9.10 would let two nodes run one task. An expected sequence of
 * 0 (`kv.create`) IS checked when applied, in every version: of 300 racing creates, none won twice.
 *
 * THE FIX HERE: before `kv.update(key, value, R)`, win `kv.create("<key>.<R>")` in a side bucket
 * of write tokens. Every writer that moves a key on from revision R needs that one token, so at
 * most one of them sends its update; the update's own check still refuses a writer whose R is
 * stale. A lost token is reported exactly like a lost compare-and-set (the create's own "wrong
 * last sequence" error), so every caller's retry-on-a-fresh-read path is unchanged. Tokens
 * expire with the side bucket's max age (`TOKEN_TTL_MS`): a writer that won a token and then
 * died before its update landed holds that revision for at most that long (a live writer
 * retries with the token it holds, see withWriteTokens).
 *
 * Cost: one more round trip per update, so it is only switched on where it is needed: a bucket
 * with more than one replica on a server older than 2.9.21.
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { isCasConflict } from './task-keys.ts';

/** A token only has to outlive the update it guards (requests time out in seconds). */
export const TOKEN_TTL_MS = 30_000;

/** The first server release that checks the expected subject sequence when applying. */
const FIXED_IN = [2, 9, 21] as const;

export function serverHasSerialCas(version: string | undefined): boolean {
  const parts = (version ?? '0.0.0').split(/[.-]/).slice(0, 3).map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < 3; i++) {
    if (parts[i]! !== FIXED_IN[i]) return parts[i]! > FIXED_IN[i]!;
  }
  return true;
}

/** Whether updates on this bucket need write tokens: replicated, on a server with the bug. */
export async function needsWriteTokens(kv: KV, nc: NatsConnection): Promise<boolean> {
  const status = await kv.status();
  return status.replicas > 1 && !serverHasSerialCas(nc.info?.version);
}

/** The write-token bucket of `bucket` (created when missing), same replicas. */
export async function openTokenBucket(nc: NatsConnection, bucket: string, replicas: number): Promise<KV> {
  return new Kvm(nc).create(`${bucket}-cas`, { history: 1, replicas, ttl: TOKEN_TTL_MS, allow_direct: false });
}

/**
 * `kv` whose `update` first wins the write token of (key, expected revision) in `tokens`.
 *
 * A token holds this instance's id. A writer whose token create or update ended in an outage
 * (it cannot know whether either landed) may retry with the token it already holds: a token
 * found taken is re-read, and if it is this instance's, and no other write of this instance is
 * using it right now, the update goes ahead. Otherwise a burned token would freeze that task
 * revision until the token expired, for every node, the writer included.
 */
export function withWriteTokens(kv: KV, tokens: KV): KV {
  const self = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  const inUse = new Set<string>();
  const take = async (token: string): Promise<void> => {
    try {
      await tokens.create(token, self);
    } catch (err) {
      if (!isCasConflict(err)) throw err;
      const holder = await tokens.get(token);
      if (holder?.operation !== 'PUT' || holder.string() !== self || inUse.has(token)) throw err;
    }
  };
  const update: KV['update'] = async (key, value, expected, timeout) => {
    const token = `${key}.${expected}`;
    await take(token);
    inUse.add(token);
    try {
      return await kv.update(key, value, expected, timeout);
    } finally {
      inUse.delete(token);
    }
  };
  // A purge that expects a revision moves the key on from it like an update: same token.
  const purge: KV['purge'] = async (key, opts) => {
    if (opts?.previousSeq === undefined) return kv.purge(key, opts);
    const token = `${key}.${opts.previousSeq}`;
    await take(token);
    inUse.add(token);
    try {
      return await kv.purge(key, opts);
    } finally {
      inUse.delete(token);
    }
  };
  return new Proxy(kv, {
    get(target, property) {
      if (property === 'update') return update;
      if (property === 'purge') return purge;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
