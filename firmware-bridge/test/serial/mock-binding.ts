// @serialport/binding-mock 10.2.2 ships types its package "exports" do not expose, so the part of
// its interface the tests use is declared here.
import { createRequire } from 'node:module';
import type { SerialBinding } from '../../src/index.js';

export interface MockBindingApi {
  reset(): void;
  createPort(path: string, opt?: { echo?: boolean; record?: boolean }): void;
}

const require = createRequire(import.meta.url);
export const MockBinding = (require('@serialport/binding-mock') as { MockBinding: MockBindingApi }).MockBinding;
export const mockBinding = MockBinding as unknown as SerialBinding;
