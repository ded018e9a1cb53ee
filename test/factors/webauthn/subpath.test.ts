/**
 * Packaging of latchkey/webauthn and latchkey/browser: each heavy dependency is imported by
 * exactly one adapter file, lazily; importing latchkey (or the subpaths) loads neither; a missing
 * one gives ERR_MISSING_DEPENDENCY naming the package. The child processes run the built dist/
 * with a resolve hook that records (and, when asked, refuses) every @simplewebauthn import.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { need, repoRoot } from '../../helpers/components.js';

const DIST = join(repoRoot, 'dist');

function builtWebAuthn() {
  const available = ['factors/webauthn/index.js', 'browser/index.js', 'index.js'].every((f) =>
    existsSync(join(DIST, f)),
  );
  return {
    name: 'dist (webauthn)',
    available,
    reason: available ? '' : 'dist/ lacks the webauthn entries: run `npm run build`',
  };
}

/** A preload that records @simplewebauthn resolutions in globalThis.__resolved, refusing them when BLOCK=1. */
const HOOK = `
import { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
globalThis.__resolved = [];
const { port1, port2 } = new MessageChannel();
port1.on('message', (name) => globalThis.__resolved.push(name));
port1.unref();
register('data:text/javascript,' + encodeURIComponent(\`
  let port; const block = process.env.BLOCK === '1';
  export function initialize(data) { port = data.port; }
  export async function resolve(specifier, context, next) {
    if (specifier.startsWith('@simplewebauthn/')) {
      port.postMessage(specifier);
      if (block) { const e = new Error('blocked ' + specifier); e.code = 'ERR_MODULE_NOT_FOUND'; throw e; }
    }
    return next(specifier, context);
  }\`), { data: { port: port2 }, transferList: [port2] });
`;

function run(code: string, block: boolean): Record<string, unknown> {
  const result = spawnSync(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(HOOK)}`, '--input-type=module', '-e', code],
    { cwd: repoRoot, encoding: 'utf8', timeout: 30_000, env: { ...process.env, BLOCK: block ? '1' : '0' } },
  );
  if (result.status !== 0) throw new Error(`child failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

const SETUP = `
  const { WebAuthnFactor } = await import('latchkey/webauthn');
  const { createMemoryStore } = await import('latchkey/testing');
  const store = createMemoryStore();
  const factor = new WebAuthnFactor({ store, rp: { id: 'example.com', origins: ['https://example.com'] } });
  const alice = await store.accounts.create({ username: 'alice' });
  const tick = () => new Promise((r) => setTimeout(r, 50));
`;

describe('each SimpleWebAuthn package has one adapter file, imported lazily', () => {
  it('src/ imports @simplewebauthn/server only in src/factors/webauthn/simplewebauthn.ts and @simplewebauthn/browser only in src/browser/simplewebauthn.ts, dynamically', () => {
    const importers = new Map<string, string[]>();
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.ts')) {
          const text = readFileSync(path, 'utf8');
          for (const match of text.matchAll(/(import\s*\(|from\s+|import\s+)'(@simplewebauthn\/[a-z]+)'/g)) {
            const runtime = match[1]?.startsWith('import') === true && match[1].includes('(');
            const typeOnly = /import\s+type\s[^;]*$/.test(
              text.slice(Math.max(0, (match.index ?? 0) - 200), match.index),
            );
            if (!typeOnly) {
              const key = `${match[2]}${runtime ? ' (dynamic)' : ' (static)'}`;
              importers.set(key, [...(importers.get(key) ?? []), path.slice(repoRoot.length)]);
            }
          }
        }
      }
    };
    walk(join(repoRoot, 'src'));
    expect(Object.fromEntries(importers)).toEqual({
      '@simplewebauthn/server (dynamic)': ['src/factors/webauthn/simplewebauthn.ts'],
      '@simplewebauthn/browser (dynamic)': ['src/browser/simplewebauthn.ts'],
    });
  });
});

describe.runIf(need(builtWebAuthn()))(
  'latchkey/webauthn and latchkey/browser load SimpleWebAuthn only when used',
  () => {
    it("`import 'latchkey'`, the subpaths and a configured factor load neither package", () => {
      const out = run(
        `
      await import('latchkey');
      await import('latchkey/browser');
      ${SETUP}
      await tick();
      console.log(JSON.stringify({ resolved: globalThis.__resolved }));
    `,
        false,
      );
      expect(out.resolved).toEqual([]);
    });

    it('the first ceremony loads @simplewebauthn/server (the recorder works)', () => {
      const out = run(
        `${SETUP}
      const creation = await factor.startRegistration({ accountId: alice.id });
      await tick();
      console.log(JSON.stringify({ resolved: globalThis.__resolved, challenge: typeof creation.options.challenge }));
    `,
        false,
      );
      expect(out).toEqual({ resolved: ['@simplewebauthn/server'], challenge: 'string' });
    });

    it('without @simplewebauthn/server: ERR_MISSING_DEPENDENCY naming it, from ready() and from a ceremony', () => {
      const out = run(
        `${SETUP}
      const errors = [];
      for (const step of [() => factor.ready(), () => factor.startAuthentication()]) {
        try { await step(); errors.push('ok'); } catch (e) { errors.push({ code: e.code, detail: e.detail, message: e.message }); }
      }
      console.log(JSON.stringify({ errors }));
    `,
        true,
      );
      const errors = out.errors as { code: string; detail: unknown; message: string }[];
      expect(errors).toHaveLength(2);
      for (const error of errors) {
        expect(error).toMatchObject({ code: 'ERR_MISSING_DEPENDENCY', detail: { package: '@simplewebauthn/server' } });
        expect(error.message).toContain('npm install @simplewebauthn/server');
      }
    });

    it('the emitted declarations of both subpaths type-check on their own (stripInternal dropped no import)', () => {
      const files = ['factors/webauthn', 'browser'].flatMap((dir) =>
        readdirSync(join(DIST, dir))
          .filter((name) => name.endsWith('.d.ts'))
          .map((name) => join(DIST, dir, name)),
      );
      expect(files.length).toBeGreaterThan(10);
      const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
      const args = ['--noEmit', '--strict', '--skipLibCheck', 'false', '--module', 'nodenext'];
      const result = spawnSync(process.execPath, [tsc, ...args, '--types', 'node', ...files], {
        cwd: repoRoot,
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(result.stdout).toBe('');
      expect(result.status).toBe(0);
    });

    it('without @simplewebauthn/browser: latchkey/browser gives ERR_MISSING_DEPENDENCY naming it', () => {
      const out = run(
        `
      const { createPasskey, LatchkeyError } = await import('latchkey/browser');
      let error;
      try { await createPasskey({ challengeId: 'c', options: { challenge: 'AAAA' } }); } catch (e) { error = e; }
      console.log(JSON.stringify({ latchkey: error instanceof LatchkeyError, code: error.code, detail: error.detail }));
    `,
        true,
      );
      expect(out).toEqual({
        latchkey: true,
        code: 'ERR_MISSING_DEPENDENCY',
        detail: { package: '@simplewebauthn/browser' },
      });
    });
  },
);
