/** The one source of time: epoch milliseconds UTC. Tests inject a fake. */
export interface Clock {
  now(): number;
}
