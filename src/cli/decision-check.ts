import { z } from 'zod';
import type { TaskOperation } from '../actors/operator.ts';
import { InvalidInputError } from '../errors.ts';
import { decisionFields, decisionIssues, type TaskOp } from '../protocol/task-control.ts';
import type { Json } from '../protocol/task.ts';

const fields = z.strictObject(decisionFields);

/** The CLI's options of an operation, checked by the rules every surface shares; a bad one names its option (`--goto`). */
export function checkDecision(request: { op: TaskOp; reason?: string | undefined; by?: string; goto?: string | undefined; input?: Json | undefined }): TaskOperation {
  const body = { ...(request.reason === undefined ? {} : { reason: request.reason }), ...(request.goto === undefined ? {} : { goto: request.goto }), ...(request.input === undefined ? {} : { input: request.input }) };
  const parsed = fields.safeParse(body);
  const issues = parsed.success ? decisionIssues(request.op, parsed.data) : parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
  if (issues.length > 0) throw new InvalidInputError(request.op, issues.map((i) => ({ path: `--${i.path}`, message: i.message })));
  const d = parsed.data!;
  const by = request.by ?? 'operator';
  switch (request.op) {
    case 'approve':
      return { op: 'approve', by, ...(d.input === undefined ? {} : { input: d.input }), ...(d.reason === undefined ? {} : { reason: d.reason }) };
    case 'reject':
      return { op: 'reject', by, reason: d.reason!, ...(d.goto === undefined ? {} : { goto: d.goto }) };
    default:
      return { op: request.op, reason: d.reason ?? request.op };
  }
}
