/** Shared by the password suites: small argon2 parameters, and a backend that counts its calls. */
import type { Argon2Backend, Argon2Input } from '../../../src/factors/password/argon2-backend.js';
import { nodeRsArgon2 } from '../../../src/factors/password/argon2-backend.js';

/** Small parameters for tests where the parameters are not the point. */
export const SMALL = Object.freeze({ m: 256, t: 1, p: 1 });

/** The real backend, counting every raw argon2 computation and keeping the inputs' shapes. */
export function countingBackend(): Argon2Backend & { calls: number; inputs: Omit<Argon2Input, 'password'>[] } {
  const backend = {
    name: 'counting',
    calls: 0,
    inputs: [] as Omit<Argon2Input, 'password'>[],
    async hashRaw(input: Argon2Input): Promise<Uint8Array> {
      backend.calls++;
      const { password: _password, ...shape } = input;
      backend.inputs.push(shape);
      return nodeRsArgon2.hashRaw(input);
    },
  };
  return backend;
}
