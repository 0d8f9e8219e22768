declare module 'node-red-node-test-helper' {
  interface TestNode {
    id: string;
    on(event: string, fn: (...args: any[]) => void): void;
    receive(msg: Record<string, unknown>): void;
    status: { (s: unknown): void; args?: unknown[][]; lastCall?: { args: unknown[] } };
  }
  const helper: {
    init(nodeRedPath: string, settings?: Record<string, unknown>): void;
    startServer(cb?: () => void): Promise<void>;
    stopServer(cb?: () => void): Promise<void>;
    load(nodes: unknown, flow: unknown[], credentials?: Record<string, unknown>): Promise<void>;
    unload(): Promise<void>;
    getNode(id: string): TestNode;
  };
  export default helper;
}
