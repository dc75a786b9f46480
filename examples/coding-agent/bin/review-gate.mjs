#!/usr/bin/env node
// The gate of the `review` step. Reeve runs it after the step with { input, output } on stdin
// (the task's input, the review step's result) and reads its verdict from the last stdout line:
// { "pass": true|false, "reason"?: "…", "goto"?: "<step>" }. A failing verdict with a goto sends
// the task back to that step (counted against its maxVisits), which sees the reason as feedback.
import { readStdinJson, result, say } from './lib.mjs';

const { output } = readStdinJson() ?? {};
say(`review verdict: ${output?.verdict ?? 'none'}`);
if (output?.verdict === 'APPROVE') result({ pass: true, reason: output.comments });
else result({ pass: false, reason: output?.comments ?? 'the review gave no verdict', goto: 'develop' });
