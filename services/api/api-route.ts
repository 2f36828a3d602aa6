import type { z } from 'zod';
import type { DomainEvent } from '../../core/index.ts';
import type { ApiCaller, ApiRole } from './tokens.ts';

/** Where every route of this version of the API lives. */
export const API_BASE = '/api/v1';

/**
 * One endpoint of the management API: its schemas are what the server
 * validates requests with and what the OpenAPI document says, so the two
 * cannot drift apart.
 */
export interface ApiRoute<
  Params extends z.ZodObject = z.ZodObject,
  Query extends z.ZodObject = z.ZodObject,
  Body extends z.ZodType = z.ZodType,
  Response extends z.ZodType = z.ZodType,
> {
  method: 'get' | 'post';
  /** Under {@link API_BASE}, OpenAPI style: `/rollouts/{rolloutId}`. */
  path: string;
  summary: string;
  roles: readonly ApiRole[];
  params?: Params;
  query?: Query;
  body?: Body;
  /** Byte cap on the request body (default 64 KiB). */
  maxBodyBytes?: number;
  response: Response;
  /** A route that changes state tells `record` what it changed (nothing, when the call changed nothing). */
  handle(request: {
    caller: ApiCaller;
    params: z.infer<Params>;
    query: z.infer<Query>;
    body: z.infer<Body>;
    record: (change: ApiChange) => void;
  }): Promise<z.input<Response>>;
}

/**
 * A stream of server-sent events: `open` sends until the caller goes away
 * (`signal` aborts). Documented as `text/event-stream`; each event's data is JSON.
 */
export interface ApiStream<Query extends z.ZodObject = z.ZodObject> {
  method: 'get';
  /** Under {@link API_BASE}. */
  path: string;
  summary: string;
  roles: readonly ApiRole[];
  query?: Query;
  open(
    request: { caller: ApiCaller; query: z.infer<Query> },
    send: (event: string, data: unknown) => Promise<void>,
    signal: AbortSignal,
  ): Promise<void>;
}

/** Types a stream from its query schema. */
export function apiStream<Query extends z.ZodObject>(stream: ApiStream<Query>): ApiStream {
  return stream;
}

/** What a call changed, for the audit trail; the server adds when and who (the token's subject, as `by`). */
export type ApiChange = Omit<DomainEvent, 'at' | 'data'> & {
  data: Record<string, unknown> & { summary: string };
};

/** A change made through the API: `data.by` is the verified token's subject. */
export type ApiChangeEvent = DomainEvent<string, ApiChange['data'] & { by: string }>;

/** Types a route from its schemas (the list of routes is of the widened type). */
export function apiRoute<
  Params extends z.ZodObject,
  Query extends z.ZodObject,
  Body extends z.ZodType,
  Response extends z.ZodType,
>(route: ApiRoute<Params, Query, Body, Response>): ApiRoute {
  return route;
}

/** Every role may read; each change names the roles allowed to make it. */
export const READERS: readonly ApiRole[] = ['security', 'release', 'viewer'];
