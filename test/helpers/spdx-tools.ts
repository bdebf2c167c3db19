import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { AptRepository } from '../../src/apt/repository.js';
import { DEBIAN_MIRROR, HOST_DEBIAN_KEYRING } from '../../src/pipeline/integrations/debian.js';
import { compareVersions } from '../../src/deb/version.js';
import { ROOT } from './cli.js';

/**
 * SPDX's own Go library, tools-golang, as the SPDX 2.3 validator of the tests: Debian packages it
 * (golang-github-spdx-tools-golang-dev, in trixie; bookworm has no SPDX validator) as Go sources,
 * which test/helpers/spdx-validate/main.go is built against with the host's Go (golang-go). The
 * packages come through the project's APT client (Release signature and checksums verified) and,
 * with the program, are cached under work/cache/spdx-tools by what went into them.
 */
const SOURCES = ['golang-github-spdx-tools-golang-dev', 'golang-github-anchore-go-struct-converter-dev'];
const PROGRAM = path.join(import.meta.dirname, 'spdx-validate', 'main.go');
const CACHE = path.join(ROOT, 'work', 'cache');

let built: Promise<string> | undefined;

async function buildValidator(): Promise<string> {
  const repository = await AptRepository.load(
    { url: DEBIAN_MIRROR, suite: 'trixie', components: ['main'], architecture: 'arm64', keyrings: [HOST_DEBIAN_KEYRING] },
    { cacheDir: path.join(CACHE, 'apt') },
  );
  const records = SOURCES.map((name) => {
    const record = repository.packages.filter((p) => p.name === name).sort((a, b) => compareVersions(b.version, a.version))[0];
    if (!record) throw new Error(`Debian trixie has no ${name}`);
    return record;
  });
  const key = createHash('sha256').update(fs.readFileSync(PROGRAM)).update(records.map((r) => r.sha256).join()).digest('hex').slice(0, 16);
  const binary = path.join(CACHE, 'spdx-tools', key, 'spdx-validate');
  if (fs.existsSync(binary)) return binary;

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'spdx-tools-'));
  try {
    for (const record of records) await execa('dpkg-deb', ['-x', await repository.fetchPackage(record), scratch]);
    // GOPATH mode, as Debian builds its Go packages: the sources under /usr/share/gocode/src.
    const gopath = path.join(scratch, 'usr', 'share', 'gocode');
    const main = path.join(gopath, 'src', 'spdx-validate');
    fs.mkdirSync(main);
    fs.copyFileSync(PROGRAM, path.join(main, 'main.go'));
    const partial = path.join(scratch, 'spdx-validate');
    await execa('go', ['build', '-o', partial, '.'], { cwd: main, env: { GOPATH: gopath, GO111MODULE: 'off', GOFLAGS: '', GOCACHE: path.join(scratch, 'go-cache') } });
    fs.mkdirSync(path.dirname(binary), { recursive: true });
    // Built in parallel by several test files: each renames its own complete copy.
    fs.copyFileSync(partial, `${binary}.${process.pid}`);
    fs.renameSync(`${binary}.${process.pid}`, binary);
    return binary;
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/** What SPDX's tools-golang finds wrong with an SPDX 2.3 JSON document (empty: nothing). */
export async function spdxToolsErrors(text: string): Promise<string[]> {
  const validator = await (built ??= buildValidator());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spdx-doc-'));
  try {
    const file = path.join(dir, 'document.spdx.json');
    fs.writeFileSync(file, text);
    const result = await execa(validator, [file], { reject: false });
    if (result.exitCode !== 0 && !result.stdout) throw new Error(`spdx-validate failed: ${result.stderr}`);
    return result.stdout.split('\n').filter(Boolean).map((line) => line.slice(file.length + 2));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
