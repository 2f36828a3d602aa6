import { z } from 'zod';
import { TOKEN_PATTERN } from './identifiers.ts';

export const deviceIdSchema = z.string().regex(TOKEN_PATTERN, 'must be 1-64 of A-Z a-z 0-9 _ -');
export const rolloutIdSchema = deviceIdSchema;
