/**
 * The browser harness: a tiny node:http server on localhost that serves a page and one script,
 * latchkey/browser (src/browser/index.ts) bundled by esbuild together with @simplewebauthn/browser
 * from node_modules, as an app's bundler would. The page exposes `latchkey/browser` as
 * `window.latchkey`.
 *
 * Chromium is Debian's /usr/bin/chromium driven by playwright-core (never a downloaded browser),
 * with the DevTools virtual authenticator over a CDP session.
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { type Component, command, repoRoot } from '../../helpers/components.js';

const CHROMIUM = '/usr/bin/chromium';

/** Debian's chromium, runnable (`chromium --version` succeeds). */
export function chromiumComponent(): Component {
  const { available } = command(CHROMIUM, ['--version']);
  return {
    name: 'chromium',
    available,
    reason: available ? '' : `${CHROMIUM} --version did not run (apt-get install chromium)`,
  };
}

/** playwright-core, esbuild and @simplewebauthn/* installed. */
export function browserPackagesComponent(): Component {
  const missing = ['playwright-core', 'esbuild', '@simplewebauthn/browser', '@simplewebauthn/server'].filter(
    (name) => !existsSync(join(repoRoot, 'node_modules', name, 'package.json')),
  );
  return {
    name: 'browser test packages',
    available: missing.length === 0,
    reason: missing.length === 0 ? '' : `not installed: ${missing.join(', ')} (npm ci)`,
  };
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>latchkey webauthn harness</title>
<script type="module">
  import * as latchkey from '/latchkey-browser.js';
  window.latchkey = latchkey;
  window.latchkeyReady = true;
</script></head>
<body><p>latchkey</p><input autocomplete="username webauthn"></body></html>`;

function framePage(src: string): string {
  const safe = src.replace(/[^A-Za-z0-9:/._%-]/g, '');
  return `<!doctype html><html><head><meta charset="utf-8"><title>embedder</title></head><body>
<iframe id="login" src="${safe}" allow="publickey-credentials-get *; publickey-credentials-create *"></iframe>
</body></html>`;
}

let bundled: Promise<string> | undefined;

/**
 * latchkey/browser and @simplewebauthn/browser in one ES module for the browser (esbuild, once
 * per test file). Nothing of Node may end up in it: a `node:` import fails the bundle.
 */
function browserBundle(): Promise<string> {
  bundled ??= import('esbuild').then(async (esbuild) => {
    const result = await esbuild.build({
      entryPoints: [join(repoRoot, 'src/browser/index.ts')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    return result.outputFiles[0]?.text ?? '';
  });
  return bundled;
}

export interface Site {
  readonly origin: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Serve the harness on 127.0.0.1 (reached as http://localhost:<port>, a secure context). */
export async function startSite(): Promise<Site> {
  const script = await browserBundle();
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const send = (type: string, body: string, status = 200) => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      response.end(body);
    };
    if (path === '/' || path === '/index.html') return send('text/html; charset=utf-8', PAGE);
    if (path === '/frame.html') return send('text/html; charset=utf-8', framePage(url.searchParams.get('src') ?? ''));
    if (path === '/latchkey-browser.js') return send('text/javascript', script);
    return send('text/plain', 'not found', 404);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://localhost:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Launch Debian's Chromium headless through playwright-core. */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** Options of Chromium's virtual authenticator (CDP `WebAuthn.VirtualAuthenticatorOptions`). */
export interface VirtualAuthenticatorOptions {
  readonly hasUserVerification?: boolean;
  readonly isUserVerified?: boolean;
  readonly defaultBackupEligibility?: boolean;
  readonly defaultBackupState?: boolean;
}

/** A credential as CDP reports it (`WebAuthn.Credential`; ids and keys in standard base64). */
export interface CdpCredential {
  readonly credentialId: string;
  readonly isResidentCredential: boolean;
  readonly rpId?: string;
  readonly privateKey: string;
  readonly userHandle?: string;
  readonly signCount: number;
  readonly backupEligibility?: boolean;
  readonly backupState?: boolean;
}

/** Chromium's DevTools virtual authenticator on one page: CTAP2, internal transport, resident keys, UV. */
export class VirtualAuthenticator {
  private constructor(
    readonly cdp: CDPSession,
    readonly id: string,
  ) {}

  static async attach(page: Page, options: VirtualAuthenticatorOptions = {}): Promise<VirtualAuthenticator> {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable', { enableUI: false });
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        ctap2Version: 'ctap2_1',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: options.hasUserVerification ?? true,
        isUserVerified: options.isUserVerified ?? true,
        automaticPresenceSimulation: true,
        ...(options.defaultBackupEligibility === undefined
          ? {}
          : { defaultBackupEligibility: options.defaultBackupEligibility }),
        ...(options.defaultBackupState === undefined ? {} : { defaultBackupState: options.defaultBackupState }),
      },
    });
    return new VirtualAuthenticator(cdp, authenticatorId);
  }

  async setUserVerified(isUserVerified: boolean): Promise<void> {
    await this.cdp.send('WebAuthn.setUserVerified', { authenticatorId: this.id, isUserVerified });
  }

  async credentials(): Promise<CdpCredential[]> {
    const { credentials } = await this.cdp.send('WebAuthn.getCredentials', { authenticatorId: this.id });
    return credentials as CdpCredential[];
  }

  /** Replace a credential with a copy that differs (counter, backup flags): the same key, tampered state. */
  async replace(credential: CdpCredential, changes: Partial<CdpCredential>): Promise<void> {
    await this.cdp.send('WebAuthn.removeCredential', {
      authenticatorId: this.id,
      credentialId: credential.credentialId,
    });
    await this.cdp.send('WebAuthn.addCredential', {
      authenticatorId: this.id,
      credential: { ...credential, ...changes },
    });
  }

  /** Change a credential's backup flags in place (CDP `WebAuthn.setCredentialProperties`). */
  async setBackupFlags(credentialId: string, backupEligibility: boolean, backupState: boolean): Promise<void> {
    await this.cdp.send('WebAuthn.setCredentialProperties', {
      authenticatorId: this.id,
      credentialId,
      backupEligibility,
      backupState,
    });
  }

  async remove(): Promise<void> {
    await this.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: this.id });
    await this.cdp.detach();
  }
}
