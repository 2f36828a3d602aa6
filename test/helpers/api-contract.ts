import { expect } from 'vitest';
import { z } from 'zod';

/** An OpenAPI 3.1 document, as much of it as the contract check reads. */
interface OpenApiDocument {
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>
  >;
  components?: { schemas?: Record<string, unknown> };
}

/**
 * Checks an answer of the API against its OpenAPI document, not against the
 * zod schemas the server holds: the document is read back as JSON Schema, so
 * a route missing from it, or a response it does not describe, fails here.
 */
export function expectMatchesDocument(
  document: OpenApiDocument,
  call: { method: string; path: string; status: number; contentType: string | null; body: unknown },
): void {
  const path = call.path.split('?')[0] ?? '';
  const template = Object.keys(document.paths).find((t) => pathPattern(t).test(path));
  expect(template, `${path} is in the OpenAPI document`).toBeDefined();
  const operation = document.paths[template ?? '']?.[call.method.toLowerCase()];
  expect(operation, `${call.method} ${template} is in the OpenAPI document`).toBeDefined();
  const response = operation?.responses[String(call.status)] ?? operation?.responses['default'];
  const type = (call.contentType ?? '').split(';')[0] ?? '';
  const schema = response?.content?.[type]?.schema;
  expect(
    schema,
    `the document describes ${call.method} ${template} answering ${call.status} ${type}`,
  ).toBeDefined();
  const checked = z.fromJSONSchema(inlineRefs(schema, document) as never).safeParse(call.body);
  expect(
    checked.error?.issues ?? [],
    `${call.method} ${call.path} ${call.status} matches its schema`,
  ).toEqual([]);
}

/** The schema with each `#/components/schemas/…` reference replaced by what it names. */
function inlineRefs(schema: unknown, document: OpenApiDocument): unknown {
  if (Array.isArray(schema)) return schema.map((s) => inlineRefs(s, document));
  if (typeof schema !== 'object' || schema === null) return schema;
  const ref = (schema as { $ref?: unknown }).$ref;
  if (typeof ref === 'string') {
    const named = document.components?.schemas?.[ref.replace('#/components/schemas/', '')];
    expect(named, `${ref} is in the document's components`).toBeDefined();
    return inlineRefs(named, document);
  }
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, inlineRefs(v, document)]));
}

function pathPattern(template: string): RegExp {
  return new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`);
}
