import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { ValidateFunction } from 'ajv';
import { openApiDocument } from '../../src/http/openapi';

/**
 * Validates real HTTP responses against the served OpenAPI document: the response's status must
 * be documented for the operation, and a JSON body must match the documented schema.
 */
interface ResponseLike {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Record<string, string | string[] | undefined>;
}

type JsonRecord = Record<string, unknown>;
const isRecord = (value: unknown): value is JsonRecord => typeof value === 'object' && value !== null;

export function createResponseValidator(document: JsonRecord = openApiDocument()) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ ...(document as object), $id: 'openapi.json' });
  const cache = new Map<string, ValidateFunction>();
  const paths = document['paths'];
  if (!isRecord(paths)) throw new Error('document has no paths');

  return function validate(method: string, pathTemplate: string, res: ResponseLike): void {
    const item = paths[pathTemplate];
    if (!isRecord(item)) throw new Error(`${pathTemplate} is not in the OpenAPI document`);
    const operation = item[method.toLowerCase()];
    if (!isRecord(operation)) throw new Error(`${method} ${pathTemplate} is not in the OpenAPI document`);
    const responses = operation['responses'];
    const documented = isRecord(responses) ? responses[String(res.status)] : undefined;
    if (!isRecord(documented)) {
      throw new Error(`${method} ${pathTemplate} answered ${res.status}, which the document does not list`);
    }
    const content = documented['content'];
    const type = String(res.headers['content-type'] ?? '').split(';')[0] ?? '';
    if (!isRecord(content) || !isRecord(content[type])) {
      if (isRecord(content) && Object.keys(content).length > 0) {
        throw new Error(`${method} ${pathTemplate} ${res.status}: content-type ${type} is not documented`);
      }
      return;
    }
    const media = content[type];
    if (!isRecord(media) || !isRecord(media['schema']) || type !== 'application/json') return;
    const key = `${method} ${pathTemplate} ${res.status}`;
    let check = cache.get(key);
    if (!check) {
      const pointer = `openapi.json#/paths/${pathTemplate.replace(/~/g, '~0').replace(/\//g, '~1')}/${method.toLowerCase()}/responses/${res.status}/content/application~1json/schema`;
      check = ajv.compile({ $ref: pointer });
      cache.set(key, check);
    }
    if (!check(res.body)) {
      throw new Error(`${key}: body does not match the document: ${ajv.errorsText(check.errors)}`);
    }
  };
}
