import type { z } from 'zod';
import { UprollError, type UprollErrorCode } from './errors.ts';
import { deviceOfSubject } from './identifiers.ts';

/**
 * Parses untrusted bytes or text at the edge: byte cap first, then JSON, then
 * the schema. The error lists every bad field, and nothing is returned unless
 * all of it is valid.
 */
export function parseJson<S extends z.ZodType>(
  schema: S,
  input: Uint8Array | string,
  options: { maxBytes: number; what: string },
): z.infer<S> {
  const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
  if (bytes.byteLength > options.maxBytes) {
    throw new UprollError(
      'INPUT_TOO_LARGE',
      `${options.what} is ${bytes.byteLength} bytes, more than the ${options.maxBytes}-byte limit`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new UprollError('INVALID_INPUT', `${options.what} is not valid UTF-8 JSON`, { cause });
  }
  return parseValue(schema, value, options.what);
}

/**
 * Parses what a device published on its own subject (`kind`: telemetry,
 * heartbeat): capped and validated like {@link parseJson}, and refused
 * when it names another device than the subject does (only that device may
 * publish there, so such a message is forged).
 */
export function parseDeviceMessage<S extends z.ZodType<{ deviceId: string }>>(
  schema: S,
  msg: { subject: string; data: Uint8Array },
  options: { maxBytes: number; kind: string },
): z.infer<S> {
  const value = parseJson(schema, msg.data, {
    maxBytes: options.maxBytes,
    what: `${options.kind} on ${msg.subject}`,
  });
  if (value.deviceId !== deviceOfSubject(msg.subject))
    throw new UprollError(
      'INVALID_INPUT',
      `${options.kind} on ${msg.subject} claims device ${value.deviceId}`,
    );
  return value;
}

/** Validates an already-decoded value; the error (INVALID_INPUT unless told) names every bad field. */
export function parseValue<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
  code: UprollErrorCode = 'INVALID_INPUT',
): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues
      .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
      .join('; ');
    throw new UprollError(code, `${what} is invalid: ${problems}`, { cause: result.error });
  }
  return result.data;
}
