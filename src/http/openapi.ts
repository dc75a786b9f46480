import { z } from 'zod';
import type { ApiRoute } from './api-routes.ts';
import { errorSchema } from './schemas.ts';

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') => z.toJSONSchema(schema, { io, unrepresentable: 'any' });

/** Query or path parameters of an object schema, each with its JSON Schema. */
function parameters(schema: z.ZodType | undefined, where: 'query' | 'path') {
  if (!schema) return [];
  const doc = jsonSchema(schema, 'input') as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(doc.properties ?? {}).map(([name, s]) => ({ name, in: where, required: where === 'path' || (doc.required ?? []).includes(name), schema: s }));
}

/** /api/v1/openapi.json, generated from the routes' zod schemas. */
export function openApiDocument(routes: readonly ApiRoute[], version: string): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  const errorResponse = { description: '{ error: { code, message } }', content: { 'application/json': { schema: jsonSchema(errorSchema, 'output') } } };
  for (const route of routes) {
    const success = route.response.contentType
      ? { content: { [route.response.contentType]: { schema: { type: 'string' } } } }
      : route.response.schema
        ? { content: { 'application/json': { schema: jsonSchema(route.response.schema, 'output') } } }
        : {};
    (paths[route.path] ??= {})[route.method.toLowerCase()] = {
      summary: route.summary,
      parameters: [...parameters(route.params, 'path'), ...parameters(route.query, 'query')],
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } } } : {}),
      ...(route.method === 'POST' ? { security: [{ bearer: [] }] } : {}),
      responses: {
        [String(route.response.status)]: { description: 'success', ...success },
        '400': errorResponse,
        '401': errorResponse,
        '403': errorResponse,
        '404': errorResponse,
        ...(route.method === 'POST' ? { '409': errorResponse, '413': errorResponse } : {}),
        '503': errorResponse,
      },
    };
  }
  paths['/api/v1/events'] = { get: { summary: 'Server-Sent Events: `task` (reeve.events.task JSON), `node` (heartbeat), `breaker`', responses: { '200': { description: 'text/event-stream' } } } };
  return {
    openapi: '3.1.0',
    info: { title: 'Reeve HTTP API', version },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
