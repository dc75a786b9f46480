// The gate of `draft`: it gets { input, output } (the task's input, the step's result) and
// returns a verdict. A draft without a revision goes back to `draft` with a reason (the step
// sees it as ctx.feedback); a revised one passes, and the task waits for a person.
export default async function checkDraft({ output }: { output: { text: string; revision: number } }) {
  if (output.revision === 0) return { pass: false, reason: 'too short: say what changed', goto: 'draft' };
  return { pass: true, reason: `${output.text.length} characters` };
}
