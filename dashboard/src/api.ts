import type { ErrorInfo } from '../../core/errors.ts';
/** The management API as the dashboard calls it: the token of the signed-in person on every call. */

const TOKEN_KEY = 'uproll.token';

export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  signIn: (token: string) => sessionStorage.setItem(TOKEN_KEY, token.trim()),
  signOut: () => sessionStorage.removeItem(TOKEN_KEY),
  /** The role the token names (the server checks it on every call; the page only hides what it would refuse). */
  role(): string | undefined {
    try {
      const payload = (this.token() ?? '').split('.')[1] ?? '';
      const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
      return (JSON.parse(json) as { role?: string }).role;
    } catch {
      return undefined;
    }
  },
};

/** A refused or failed call, with the problem document's stable code. */
export class ApiProblem extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, detail: string) {
    super(detail);
    this.status = status;
    this.code = code;
  }
}

export async function api<T>(
  path: string,
  init: { method?: 'GET' | 'POST'; body?: unknown } = {},
): Promise<T> {
  const response = await fetch(`/api/v1${path}`, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${session.token() ?? ''}`,
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const body = (await response.json().catch(() => ({}))) as { code?: string; detail?: string };
  if (!response.ok)
    throw new ApiProblem(response.status, body.code ?? 'INTERNAL_ERROR', body.detail ?? response.statusText);
  return body as T;
}

/**
 * Follows `/api/v1/live` (server-sent events) with the token in a header,
 * which EventSource cannot send: `onEvent` gets each event, parsed. Returns a stop function.
 */
export function follow(kinds: string, onEvent: (event: string, data: unknown) => void): () => void {
  const stop = new AbortController();
  void (async () => {
    const response = await fetch(`/api/v1/live?kinds=${kinds}`, {
      headers: { authorization: `Bearer ${session.token() ?? ''}` },
      signal: stop.signal,
    });
    if (!response.body) return;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffered += value;
      let end: number;
      while ((end = buffered.indexOf('\n\n')) !== -1) {
        const lines = buffered.slice(0, end).split('\n');
        buffered = buffered.slice(end + 2);
        const event =
          lines
            .find((l) => l.startsWith('event:'))
            ?.slice(6)
            .trim() ?? 'message';
        const data = lines
          .find((l) => l.startsWith('data:'))
          ?.slice(5)
          .trim();
        if (data) onEvent(event, JSON.parse(data));
      }
    }
  })().catch(() => {});
  return () => stop.abort();
}

export interface RolloutRow {
  rolloutId: string;
  status: string;
  revision: string | null;
  startedBy: string | null;
  startedAt: string | null;
  committed: number;
  rolledBack: number;
  failed: number;
  skipped: number | null;
}

export interface RolloutProgress {
  rolloutId: string;
  revision: string;
  status: string;
  waves: { index: number; size: number; state: 'pending' | 'running' | 'finished'; finished: number }[];
  counts: {
    committed: number;
    rolledBack: number;
    failed: number;
    pending: number;
    skipped: number;
    waitingForWindow: number;
    inFlight: number;
    total: number;
  };
  failures: { deviceId: string; outcome: string; reason: ErrorInfo }[];
}

export interface RollbackAttempt {
  attempt: number;
  by: string;
  state: 'running' | 'finished';
  devices: number;
  counts?: Record<string, number>;
}

/** A rollout's progress with its rollback after the end, as `GET /rollouts/{id}` answers. */
export interface RolloutStatus extends RolloutProgress {
  rollback?: RollbackAttempt & { attempts: RollbackAttempt[]; notBack: string[] };
}

export interface StoredEvent {
  sequence: number;
  event: { aggregate: string; aggregateId: string; type: string; at: string; data: Record<string, unknown> };
}

export interface DeviceHistory {
  device: Record<string, unknown> | null;
  timeline: StoredEvent[];
}

/** A device as `GET /devices` lists it. */
export interface DeviceRow {
  deviceId: string;
  ecus: { serial: string; hardwareId: string }[];
  tags: string[];
  phase?: string;
  committedRevision?: string;
  revision?: string;
  lastSeenAt?: string | null;
}

export interface Fleet {
  devices: number;
  revisions: Record<string, number>;
  phases: Record<string, number>;
  /** Heard of within five minutes, and before (absent where the server does not follow presence). */
  online?: number;
  offline?: number;
}

export interface Key {
  keyId: string;
  repository: string;
  role: string;
  type: string;
  online: boolean;
  created: string;
  expires?: string;
  revoked?: { at: string; reason: string };
}

export interface Root {
  repository: 'image' | 'director';
  version: number;
  expires: string;
  daysLeft: number;
  roles: Record<string, { threshold: number; keyIds: string[] }>;
}

export interface CeremonyStatus {
  version: number;
  byCurrentRoot: { have: number; need: number };
  byProposedRoot: { have: number; need: number };
  complete: boolean;
}

export interface SignatureAudit {
  signatures: { at: string; keyId: string; repository: string; role: string; sha256: string }[];
  total: number;
  next: number | null;
}
