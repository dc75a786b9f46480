import type { Clock } from '../../ports/clock.ts';
import type { NodeInfo } from '../../ports/node-registry.ts';
import type Database from 'better-sqlite3';
import type { DeadLetter, DeadLetterInput, DeadLetterPurge } from '../../ports/task-store.ts';
import { parseOrThrow } from '../../protocol/validate.ts';
import { payloadExcerpt } from '../../protocol/excerpt.ts';
import { truncatePayload } from '../dead-letters.ts';
import * as schemas from '../request-schemas.ts';
import type { Statements } from './statements.ts';
import type { SqliteOutbox } from './outbox-table.ts';

/** Dead letters and node membership: small tables beside the tasks, no task rules involved. */
export class SqliteSideTables {
  constructor(
    private readonly sql: Statements,
    private readonly clock: Clock,
    private readonly db: Database.Database,
    private readonly outbox: SqliteOutbox,
  ) {}

  async addDeadLetter(letter: DeadLetterInput): Promise<DeadLetter> {
    const input = parseOrThrow(schemas.deadLetterSchema, letter, 'dead letter');
    const receivedAt = this.clock.now();
    const payload = truncatePayload(input.payload);
    const excerpt = payloadExcerpt(input.payload);
    const { id, ...rest } = input;
    // The letter and its `deadletter` notification commit together.
    return this.db.transaction(() => {
      const { seq } = this.sql.insertDeadLetter.get({ ...input, id: input.id ?? null, payload, excerpt, receivedAt })!;
      const letter: DeadLetter = { ...rest, ...(id === undefined ? {} : { id }), payload, excerpt, receivedAt, seq };
      this.outbox.write(this.outbox.recorder.forDeadLetter(letter));
      return letter;
    }).immediate();
  }

  async listDeadLetters(limit = 100): Promise<DeadLetter[]> {
    parseOrThrow(schemas.limitArg, limit, 'limit');
    return this.sql.listDeadLetters.all(limit).map((r) => {
      const letter: DeadLetter = {
        seq: r.seq as number,
        receivedAt: r.received_at as number,
        source: r.source as string,
        code: r.code as string,
        reason: r.reason as string,
        excerpt: r.excerpt as string,
        payload: r.payload as string,
      };
      if (r.task_id !== null) letter.id = r.task_id as string;
      return letter;
    });
  }

  async purgeDeadLetters(request: DeadLetterPurge): Promise<{ seqs: number[]; dryRun: boolean }> {
    const req = parseOrThrow(schemas.deadLetterPurgeSchema, request, 'dead letter purge');
    const dryRun = req.dryRun ?? false;
    const seqs = this.db.transaction(() => {
      const found = this.db.prepare<[number, number], { seq: number }>('SELECT seq FROM dead_letters WHERE received_at < ? ORDER BY seq LIMIT ?').all(req.before, req.limit ?? 1000).map((r) => r.seq);
      if (!dryRun) {
        const del = this.db.prepare('DELETE FROM dead_letters WHERE seq = ?');
        for (const seq of found) del.run(seq);
      }
      return found;
    }).immediate();
    return { seqs, dryRun };
  }

  async recordNode(info: NodeInfo): Promise<void> {
    const { taskCounts, ...row } = parseOrThrow(schemas.nodeInfoSchema, info, 'node info');
    this.sql.upsertNode.run({ ...row, taskCounts: taskCounts === undefined ? null : JSON.stringify(taskCounts) });
  }

  async listNodes(): Promise<NodeInfo[]> {
    return this.sql.listNodes.all().map((r) => this.nodeFromRow(r));
  }

  nodeFromRow(r: Record<string, unknown>): NodeInfo {
    return {
      id: r.id as string,
      incarnation: r.incarnation as string,
      state: r.state as NodeInfo['state'],
      capacity: r.capacity as number,
      running: r.running as number,
      startedAt: r.started_at as number,
      lastSeenAt: r.last_seen_at as number,
      pid: r.pid as number,
      host: r.host as string,
      ...(typeof r.task_counts === 'string' ? { taskCounts: JSON.parse(r.task_counts) as NonNullable<NodeInfo['taskCounts']> } : {}),
    };
  }
}
