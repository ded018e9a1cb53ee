/**
 * The bcrypt adapter: the only file that imports `bcryptjs` (an optional peer dependency), lazily,
 * when the first bcrypt hash is seen; a missing package is `ERR_MISSING_DEPENDENCY` naming it.
 * latchkey only verifies bcrypt (imported legacy hashes), never writes it.
 *
 * bcryptjs is pure JavaScript: it runs on the main thread in slices of at most 100 ms, so a
 * legacy bcrypt check delays other work on the event loop by up to that much while it runs. That
 * cost lasts only until each user's next sign-in, when the hash is replaced by argon2id.
 *
 * @module latchkey/password
 */
import { LatchkeyError } from '../../core/errors.js';

interface Bcryptjs {
  compare(password: string, hash: string): Promise<boolean>;
}

let loading: Promise<Bcryptjs> | undefined;

function load(): Promise<Bcryptjs> {
  loading ??= import('bcryptjs').then(
    (module) => ((module as { default?: unknown }).default ?? module) as Bcryptjs,
    (cause: unknown) => {
      loading = undefined;
      throw new LatchkeyError(
        'ERR_MISSING_DEPENDENCY',
        'verifying bcrypt hashes needs the `bcryptjs` package: npm install bcryptjs',
        { package: 'bcryptjs' },
        { cause },
      );
    },
  );
  return loading;
}

/** Compare a password (as text) with a `$2a$`/`$2b$` bcrypt string. */
export async function bcryptCompare(password: string, hash: string): Promise<boolean> {
  const bcrypt = await load();
  try {
    return await bcrypt.compare(password, hash);
  } catch (cause) {
    throw new LatchkeyError('ERR_PASSWORD_HASH_FORMAT', 'the stored bcrypt hash could not be read', {}, { cause });
  }
}
