import { randomBytes } from 'node:crypto';

/**
 * A generated task id: `t_` + time in base 36 + 10 random base64url characters. It sorts
 * roughly by creation time, fits TASK_ID_PATTERN, and collides with odds of 1 in 2^60 per ms.
 */
export function newTaskId(now: number): string {
  return `t_${now.toString(36)}${randomBytes(8).toString('base64url').slice(0, 10)}`;
}
