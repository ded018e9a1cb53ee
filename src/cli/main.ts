/**
 * The `latchkey` command. Thin: it parses arguments, calls the library and prints results.
 * Exit codes: 0 success, 1 a LatchkeyError (printed as `latchkey: CODE: message`), 2 usage.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isLatchkeyError, LatchkeyError } from '../core/errors.js';

const USAGE = `usage: latchkey <command> [options]

commands:
  store init <file>                       create or migrate a SQLite store, print its schema version
  store check <file>                      run SQLite's integrity check on a store
  audit <file> --subject <id> [--operator] [--limit <n>]
                                          print a subject's audit entries as JSON lines
  workspace init|enrol|unlock|lock|status|put|get|ls|rm|shell|remove-slot ...
                                          an encrypted workspace opened by a fob (\`workspace help\`)
  virtual-fob --pipe [--state FILE] [--touch-ms N] [--deny-touch]
                                          a virtual CTAP 2.1 fob speaking CTAPHID on stdin/stdout
  version                                 print the version
  help                                    print this help
`;

export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

function usage(message: string): LatchkeyError {
  return new LatchkeyError('ERR_INVALID_ARGUMENT', message, { usage: true });
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function store(args: readonly string[], io: Io): Promise<void> {
  const [action, file, ...rest] = args;
  if ((action !== 'init' && action !== 'check') || file === undefined || rest.length > 0) {
    throw usage('expected `store init <file>` or `store check <file>`');
  }
  const { openSqliteStore } = await import('../store/sqlite/index.js');
  const opened = await openSqliteStore({ filename: file });
  try {
    if (action === 'init') io.out(`${file}: latchkey store, schema version ${opened.schemaVersion}\n`);
    else {
      const result = await opened.integrityCheck();
      if (result !== 'ok') throw new LatchkeyError('ERR_STORE_CORRUPT', `integrity check failed: ${result}`);
      io.out(`${file}: ok\n`);
    }
  } finally {
    await opened.close();
  }
}

async function audit(args: readonly string[], io: Io): Promise<void> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: { subject: { type: 'string' }, operator: { type: 'boolean' }, limit: { type: 'string' } },
  });
  const [file] = positionals;
  if (file === undefined || positionals.length !== 1 || values.subject === undefined) {
    throw usage('expected `audit <file> --subject <id>`');
  }
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  const { openSqliteStore } = await import('../store/sqlite/index.js');
  const opened = await openSqliteStore({ filename: file });
  try {
    const entries = await opened.audit.query({
      subject: values.subject,
      audience: values.operator === true ? 'operator' : 'subject',
      ...(limit === undefined ? {} : { limit }),
    });
    for (const entry of entries) io.out(`${JSON.stringify(entry)}\n`);
  } finally {
    await opened.close();
  }
}

/** Run the CLI with `argv` (without the node and script paths); resolves to the exit code. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return command === undefined ? 2 : 0;
      case 'version':
      case '--version':
        io.out(`${version()}\n`);
        return 0;
      case 'store':
        await store(rest, io);
        return 0;
      case 'audit':
        await audit(rest, io);
        return 0;
      case 'workspace': {
        const { workspaceCommand } = await import('../workspace/cli.js');
        return await workspaceCommand(rest, io);
      }
      case 'virtual-fob': {
        const { virtualFobCommand } = await import('./virtual-fob.js');
        return await virtualFobCommand(rest);
      }
      default:
        throw usage(`unknown command \`${command}\``);
    }
  } catch (error) {
    if (isLatchkeyError(error)) {
      io.err(`latchkey: ${error.code}: ${error.message}\n`);
      if (error.detail.usage === true) io.err(USAGE);
      return error.detail.usage === true ? 2 : 1;
    }
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`latchkey: ${(error as Error).message}\n${USAGE}`);
      return 2;
    }
    io.err(`latchkey: ERR_INTERNAL: ${(error as Error).message}\n`);
    return 1;
  }
}
