/**
 * A signed APT repository built with the real tools (dpkg-deb, apt-ftparchive, gpg) and served
 * over HTTP on 127.0.0.1 by the test itself.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';

export interface FakePackage {
  name: string;
  version: string;
  architecture?: string;
  depends?: string;
  /** path → content; a path ending in .service is a systemd unit. */
  files?: Record<string, string>;
  postinst?: string;
  conffiles?: string[];
}

export interface Repository {
  dir: string;
  url: string;
  suite: string;
  /** Binary public keyring the Release is signed with. */
  keyring: string;
  /** Another key that did not sign it. */
  otherKeyring: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

async function gpgKey(home: string, email: string): Promise<string> {
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const env = { GNUPGHOME: home };
  await execa('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', email, 'ed25519', 'sign', 'never'], { env });
  const keyring = path.join(home, 'public.gpg');
  await execa('gpg', ['--batch', '--export', '--output', keyring, email], { env });
  return keyring;
}

export async function buildDeb(dir: string, pkg: FakePackage): Promise<string> {
  const root = path.join(dir, `${pkg.name}-build`);
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(path.join(root, 'DEBIAN'), { recursive: true });
  const control = [
    `Package: ${pkg.name}`,
    `Version: ${pkg.version}`,
    `Architecture: ${pkg.architecture ?? 'amd64'}`,
    'Maintainer: Test <test@example.com>',
    ...(pkg.depends ? [`Depends: ${pkg.depends}`] : []),
    `Description: test package ${pkg.name}`,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(root, 'DEBIAN/control'), control);
  for (const [file, content] of Object.entries(pkg.files ?? {})) {
    const target = path.join(root, file);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, content, { mode: file.includes('/bin/') ? 0o755 : 0o644 });
  }
  if (pkg.postinst) fs.writeFileSync(path.join(root, 'DEBIAN/postinst'), pkg.postinst, { mode: 0o755 });
  if (pkg.conffiles) fs.writeFileSync(path.join(root, 'DEBIAN/conffiles'), `${pkg.conffiles.join('\n')}\n`);
  const deb = path.join(dir, `${pkg.name}_${pkg.version}_${pkg.architecture ?? 'amd64'}.deb`);
  await execa('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, deb]);
  fs.rmSync(root, { recursive: true, force: true });
  return deb;
}

/** Build the repository (pool, Packages, signed InRelease) for one architecture and serve it. */
export async function buildRepository(dir: string, packages: FakePackage[], suite = 'stable', architecture = 'amd64'): Promise<Repository> {
  const pool = path.join(dir, 'repo', 'pool', 'main');
  fs.mkdirSync(pool, { recursive: true });
  for (const pkg of packages) await buildDeb(pool, { architecture, ...pkg });
  const repo = path.join(dir, 'repo');
  const binary = path.join(repo, 'dists', suite, 'main', `binary-${architecture}`);
  fs.mkdirSync(binary, { recursive: true });
  const index = await execa('apt-ftparchive', ['packages', 'pool'], { cwd: repo });
  fs.writeFileSync(path.join(binary, 'Packages'), index.stdout + '\n');
  await execa('xz', ['-k', '-f', path.join(binary, 'Packages')]);
  const release = await execa('apt-ftparchive', ['-o', `APT::FTPArchive::Release::Suite=${suite}`, '-o', `APT::FTPArchive::Release::Architectures=${architecture}`, '-o', 'APT::FTPArchive::Release::Components=main', 'release', '.'], { cwd: path.join(repo, 'dists', suite) });
  fs.writeFileSync(path.join(repo, 'dists', suite, 'Release'), release.stdout + '\n');
  const home = path.join(dir, 'gnupg');
  const keyring = await gpgKey(home, 'repo@example.com');
  await execa('gpg', ['--batch', '--yes', '--clearsign', '--local-user', 'repo@example.com', '--output', path.join(repo, 'dists', suite, 'InRelease'), path.join(repo, 'dists', suite, 'Release')], { env: { GNUPGHOME: home } });
  const otherKeyring = await gpgKey(path.join(dir, 'gnupg-other'), 'other@example.com');

  let server: http.Server | undefined;
  let port = 0;
  const result: Repository = {
    dir: repo,
    url: '',
    suite,
    keyring,
    otherKeyring,
    async start() {
      server = http.createServer((request, response) => {
        const file = path.join(repo, decodeURIComponent(new URL(request.url!, 'http://x').pathname));
        if (!file.startsWith(repo) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
          response.writeHead(404).end();
          return;
        }
        response.writeHead(200);
        fs.createReadStream(file).pipe(response);
      });
      await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
      port = (server!.address() as AddressInfo).port;
      result.url = `http://127.0.0.1:${port}`;
    },
    async stop() {
      await new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
      server = undefined;
    },
  };
  await result.start();
  return result;
}
