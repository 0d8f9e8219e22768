/**
 * The slice of the Node-RED runtime API the palette uses, typed here so the palette needs no
 * @types package: `RED` as handed to a node module, a node instance, and the message shapes.
 */
export interface NodeMessage {
  _msgid?: string;
  topic?: string;
  payload?: unknown;
  [key: string]: unknown;
}

export type NodeStatus = { fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey'; shape?: 'ring' | 'dot'; text?: string } | Record<string, never>;

export type SendFn = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;
export type DoneFn = (err?: Error) => void;

export interface Node {
  id: string;
  name?: string;
  credentials?: Record<string, string | undefined>;
  on(event: 'input', fn: (msg: NodeMessage, send: SendFn, done: DoneFn) => void): void;
  on(event: 'close', fn: (removed: boolean, done: () => void) => void): void;
  status(s: NodeStatus): void;
  send(msg: NodeMessage | NodeMessage[]): void;
  error(err: unknown, msg?: NodeMessage): void;
  warn(msg: unknown): void;
  log(msg: unknown): void;
}

export interface NodeDef {
  id: string;
  type: string;
  name?: string;
  [key: string]: unknown;
}

export interface RedApi {
  nodes: {
    createNode(node: object, def: NodeDef): void;
    registerType(type: string, ctor: (this: Node, def: NodeDef) => void, opts?: { credentials?: Record<string, { type: 'text' | 'password' }> }): void;
    getNode(id: string): unknown;
  };
  events: {
    on(event: string, fn: (...args: unknown[]) => void): void;
    removeListener(event: string, fn: (...args: unknown[]) => void): void;
  };
}

/** What a node's property says, trimmed; '' for unset. Node-RED has already put `${ENV}` values in. */
export const prop = (def: NodeDef, key: string): string => {
  const v = def[key];
  return typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : '';
};

export const numProp = (def: NodeDef, key: string, dflt: number): number => {
  const s = prop(def, key);
  const n = Number(s);
  return s !== '' && Number.isFinite(n) && n > 0 ? n : dflt;
};

export const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
