/** Shared gating state: circuit breakers and preflight results, kept where every process sees them. */
export interface BreakerRecord {
  key: string;
  state: 'closed' | 'open' | 'halfOpen';
  openUntil?: number;
  /** The breaker machine's persisted snapshot. */
  snapshot: unknown;
  revision: number;
  updatedAt: number;
}

export interface PreflightRecord {
  kind: string;
  ok: boolean;
  reason: string;
  checkedAt: number;
}

export interface GateStore {
  listBreakers(): Promise<BreakerRecord[]>;
  /** Compare-and-set: `expectedRevision` 0 means "must not exist yet". STORE_CONFLICT otherwise. */
  putBreaker(record: Omit<BreakerRecord, 'revision' | 'updatedAt'>, expectedRevision: number): Promise<number>;
  listPreflight(): Promise<PreflightRecord[]>;
  putPreflight(record: PreflightRecord): Promise<void>;
}
