// Packs the package as npm would publish it, then checks the tarball with publint (strict)
// and @arethetypeswrong/cli (ESM-only profile: latchkey ships no CommonJS). Also checks that
// every subpath in the exports map resolves to a built file with declarations.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const out = join(root, '.tmp', 'pack');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
for (const [subpath, target] of Object.entries(pkg.exports)) {
  if (typeof target === 'string') continue;
  for (const file of [target.types, target.default]) {
    if (!existsSync(join(root, file))) throw new Error(`exports["${subpath}"] points to missing ${file}: build first`);
  }
}

const run = (cmd, args) =>
  execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', out]));
const tarball = join(out, packed[0].filename);
const files = packed[0].files.map((f) => f.path);
for (const forbidden of [/^src\//, /^test\//, /\.tsbuildinfo$/, /^\.ci\//]) {
  const leaked = files.filter((f) => forbidden.test(f));
  if (leaked.length > 0) throw new Error(`the tarball must not contain ${leaked.join(', ')}`);
}
console.log(`packed ${packed[0].filename}: ${files.length} files, ${packed[0].size} bytes`);

execFileSync('npx', ['--no-install', 'publint', 'run', tarball, '--strict', '--pack', 'false'], {
  cwd: root,
  stdio: 'inherit',
});
execFileSync('npx', ['--no-install', 'attw', tarball, '--profile', 'esm-only'], { cwd: root, stdio: 'inherit' });
rmSync(out, { recursive: true, force: true });
console.log('package checks passed');
