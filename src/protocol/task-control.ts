import { z } from 'zod';
import { inputShapeIssue } from './task.ts';

/**
 * Operator decisions on one task, wherever they come from: `reeve approve | reject | cancel |
 * retry`, `POST /api/v1/tasks/{id}/<op>` and a request on `<prefix>.control.task.<id>`
 * (DESIGN.md, "Human steps and notifications"). One set of field rules for all three, so a
 * request refused on one surface is refused, with the same words, on the others.
 */
export const TASK_OPS = ['approve', 'reject', 'cancel', 'retry'] as const;
export type TaskOp = (typeof TASK_OPS)[number];

/** Largest `input` an approval may carry (UTF-8 JSON): it is kept with the task and handed to a step, also in an environment variable. */
export const MAX_APPROVAL_INPUT_BYTES = 64 * 1024;

const approvalInputSchema = z
  .preprocess((value, ctx) => {
    const issue = inputShapeIssue(value, 64);
    if (issue !== undefined) ctx.addIssue({ code: 'custom', message: issue, input: value });
    return value;
  }, z.json())
  .superRefine((value, ctx) => {
    const bytes = Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
    if (bytes > MAX_APPROVAL_INPUT_BYTES) {
      ctx.addIssue({ code: 'custom', message: `is ${bytes} bytes as JSON, over the ${MAX_APPROVAL_INPUT_BYTES}-byte limit of an approval's input; pass a path or URL instead` });
    }
  })
  .describe("approve only: handed to the next step as ctx.approval.input");

/** The body fields of a decision (HTTP) and of a control request (NATS), beside `op`. */
export const decisionFields = {
  reason: z.string().trim().min(1, 'must be a non-empty string').max(4096, 'must be at most 4096 characters').optional().describe('recorded in history; required to reject'),
  input: approvalInputSchema.optional(),
  goto: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a step name (1-64 characters of A-Z, a-z, 0-9, "_" or "-")')
    .optional()
    .describe('reject only: the step the task goes back to (it sees ctx.feedback)'),
};

/** Who may combine what: `input` only approves, `goto` only rejects, a rejection says why. */
export function decisionIssues(op: TaskOp, body: { reason?: string | undefined; input?: unknown; goto?: string | undefined }): Array<{ path: string; message: string }> {
  const issues: Array<{ path: string; message: string }> = [];
  if (body.input !== undefined && op !== 'approve') issues.push({ path: 'input', message: `is only for approve (the input the next step sees as ctx.approval.input); leave it out of ${op}` });
  if (body.goto !== undefined && op !== 'reject') issues.push({ path: 'goto', message: `is only for reject (the step to send the task back to); leave it out of ${op}` });
  if (op === 'reject' && body.reason === undefined) issues.push({ path: 'reason', message: 'is required to reject: say why (a step sent back sees it as ctx.feedback.reason)' });
  return issues;
}

/** `<prefix>.control.task.<id>` (request/reply): one decision on task `<id>`. */
export const taskControlRequestSchema = z
  .strictObject({
    op: z.enum(TASK_OPS, { error: (issue) => `must be one of ${TASK_OPS.join(', ')} (got ${JSON.stringify(issue.input)})` }),
    ...decisionFields,
    by: z.string().trim().min(1, 'must be a non-empty string').max(200).optional().describe('who decides, recorded (default "nats")'),
  })
  .superRefine((request, ctx) => {
    for (const issue of decisionIssues(request.op, request)) ctx.addIssue({ code: 'custom', path: [issue.path], message: issue.message });
  })
  .describe('Request on <prefix>.control.task.<id>. Beyond this schema: `input` only with approve, `goto` only with reject, and reject needs `reason`.');
export type TaskControlRequest = z.infer<typeof taskControlRequestSchema>;

/** The reply to a `<prefix>.control.task.<id>` request. */
export const taskControlReplySchema = z
  .union([
    z.strictObject({ ok: z.literal(true), task: z.record(z.string(), z.unknown()).describe('the task record after the decision, in the `reeve show --json` shape') }),
    z.strictObject({ error: z.strictObject({ code: z.string().describe('the code the CLI prints for the same error: INVALID_INPUT, TASK_NOT_FOUND, INVALID_TRANSITION, …'), message: z.string() }) }),
  ])
  .describe('Reply to a <prefix>.control.task.<id> request. A record over 256 KiB as JSON comes without its input, result and steps.');
