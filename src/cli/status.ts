/** Moved to src/status-report.ts (the HTTP API serves the same report); kept for the CLI's imports. */
export { DEAD_AFTER_MS, nodeViews, statusReport, type StatusOptions, type StatusReport } from '../status-report.ts';
