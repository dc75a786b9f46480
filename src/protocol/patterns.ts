/**
 * The contract's id and name shapes, without zod: the CLI checks its arguments with them before
 * it loads anything heavy (`reeve --version` must not pay for the schemas).
 */
export const TASK_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
export const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/**
 * The longest delay a Node.js timer takes: beyond it setTimeout fires at once (with a warning),
 * so a 30-day timeout would kill the run immediately.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** A WebSocket URL (`ws://host:port/path`, `wss://…`): where `--inspect-url` pushes live state. */
export const WS_URL_PATTERN = /^wss?:\/\/[^\s/?#]+[^\s]*$/;
