/** Reads a YAML (or JSON) config file and validates it, with errors that name the file and the field. */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { z } from 'zod';

export function loadConfig<S extends z.ZodType>(path: string, schema: S): z.infer<S> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read config ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    throw new Error(`config ${path} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  const r = schema.safeParse(raw ?? {});
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`);
    throw new Error(`config ${path} is invalid:\n${lines.join('\n')}`);
  }
  return r.data;
}
