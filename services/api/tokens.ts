import type { KeyObject } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { ACTOR_PATTERN, UprollError } from '../../core/index.ts';

/**
 * What a person may do: security teams run key operations, release managers
 * publish and roll out, viewers (support, auditors) read everything and change nothing.
 */
export type ApiRole = 'security' | 'release' | 'viewer';
export const API_ROLES: readonly ApiRole[] = ['security', 'release', 'viewer'];

const ISSUER = 'uproll';
const AUDIENCE = 'uproll-api';
/** Tokens are short-lived: at most a working day. */
export const MAX_TOKEN_SECONDS = 8 * 60 * 60;

export interface ApiCaller {
  /** Who holds the token: `by` of every change the call makes. */
  subject: string;
  role: ApiRole;
}

/** A signed token (EdDSA JWT) for one person and one role. */
export async function issueApiToken(input: {
  subject: string;
  role: ApiRole;
  ttlSeconds: number;
  key: KeyObject;
  now: Date;
}): Promise<string> {
  if (!API_ROLES.includes(input.role))
    throw new UprollError('INVALID_INPUT', `role must be one of ${API_ROLES.join(', ')}`);
  if (!ACTOR_PATTERN.test(input.subject))
    throw new UprollError('INVALID_INPUT', 'the subject must be 1-128 letters, digits, spaces or ._@+-');
  if (!Number.isInteger(input.ttlSeconds) || input.ttlSeconds < 1 || input.ttlSeconds > MAX_TOKEN_SECONDS) {
    throw new UprollError('INVALID_INPUT', `a token lives 1 to ${MAX_TOKEN_SECONDS} seconds`);
  }
  const issuedAt = Math.floor(input.now.getTime() / 1000);
  return new SignJWT({ role: input.role })
    .setProtectedHeader({ alg: 'EdDSA' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(input.subject)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + input.ttlSeconds)
    .sign(input.key);
}

/** Verifies a bearer token: signature, issuer, audience, expiry (UNAUTHORIZED or TOKEN_EXPIRED). */
export async function verifyApiToken(token: string, publicKey: KeyObject, now: Date): Promise<ApiCaller> {
  try {
    const { payload } = await jwtVerify(token, publicKey, {
      algorithms: ['EdDSA'],
      issuer: ISSUER,
      audience: AUDIENCE,
      currentDate: now,
      requiredClaims: ['exp', 'sub'],
      maxTokenAge: MAX_TOKEN_SECONDS,
    });
    const role = payload['role'];
    if (typeof role !== 'string' || !API_ROLES.includes(role as ApiRole))
      throw new UprollError('UNAUTHORIZED', 'the token names no known role');
    // The subject is who the audit trail says made each change.
    if (!payload.sub || !ACTOR_PATTERN.test(payload.sub))
      throw new UprollError('UNAUTHORIZED', 'the token names no valid subject');
    return { subject: payload.sub, role: role as ApiRole };
  } catch (err) {
    if (err instanceof UprollError) throw err;
    if (err instanceof errors.JWTExpired)
      throw new UprollError('TOKEN_EXPIRED', 'the token has expired', { cause: err });
    throw new UprollError('UNAUTHORIZED', 'the token is not valid', { cause: err });
  }
}
