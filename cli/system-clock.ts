import type { Clock } from '../core/index.ts';

/** The wall clock: the CLI is an edge, so it reads the time and passes it in. */
export const systemClock: Clock = () => new Date();
