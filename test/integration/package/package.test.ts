/**
 * The npm package as a user gets it: `npm pack` of a copy of the sources (the pack builds dist/
 * itself), `npm install -g` of the tarball into a temporary prefix, and the installed command run
 * from an unrelated directory — version, plan, inspect and real conversions (GRUB, and a
 * Raspberry Pi one, whose board hook is TypeScript loaded at run time) — and through npx.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../helpers/cli.js';
import { buildGoldenImage, tool, toolEnv } from '../../helpers/images.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'package-'));
const prefix = path.join(base, 'prefix');
const elsewhere = path.join(base, 'elsewhere');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
/** What a clone has that the pack reads; node_modules is linked for the build's compiler. */
const SOURCES = ['package.json', 'package-lock.json', 'tsconfig.json', 'README.md', 'bin', 'src', 'configs', 'board-integrations', 'scripts/copy-assets.mjs'];
const SMALL = 'storage:\n  total_size_mb: 160\n  alignment: 4194304\ndata:\n  size_mb: 16\nimage:\n  compression: none\n';
let tarball: string;
let entries: string[];
let installed: string;

// The Debian package indexes and u-boot-rpi the other tests fetched; npm's own cache for the dependencies.
const env = { ...toolEnv, CI: 'true', MENDER_CLIENT_INSTALL: 'n', MENDER_CONVERT_CACHE_DIR: path.join(ROOT, 'work', 'cache'), npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
const npm = (args: string[], cwd: string) => execa('npm', args, { cwd, env, all: true, reject: false });
const mc = (args: string[]) => execa(installed, args, { cwd: elsewhere, env, all: true, reject: false });

beforeAll(async () => {
  const sources = path.join(base, 'sources');
  fs.mkdirSync(sources);
  for (const name of SOURCES) fs.cpSync(path.join(ROOT, name), path.join(sources, name), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(sources, 'node_modules'));
  const packed = await npm(['pack', '--json', '--pack-destination', base], sources);
  expect(packed.exitCode, packed.all).toBe(0);
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string }[];
  tarball = path.join(base, info!.filename);
  entries = (await tool('tar', ['-tzf', tarball])).stdout.split('\n').filter(Boolean);

  fs.mkdirSync(elsewhere);
  const install = await npm(['install', '-g', '--prefix', prefix, '--prefer-offline', tarball], elsewhere);
  expect(install.exitCode, install.all).toBe(0);
  installed = path.join(prefix, 'bin', 'mender-convert');
}, 600_000);

describe('npm pack', () => {
  it('ships the compiled code, configs, board integrations and the README, nothing of the tests or scratch', () => {
    for (const file of ['bin/mender-convert.js', 'dist/cli/main.js', 'configs/defaults.yaml', 'configs/raspberrypi3_bookworm_64bit.yaml', 'dist/bootloader/uboot/boot.cmd', 'dist/bootloader/grub/mender-boot.cfg', 'dist/bootloader/grub/grub-mender-grubenv', 'board-integrations/raspberrypi/integration.ts', 'README.md', 'package.json']) {
      expect(entries, file).toContain(`package/${file}`);
    }
    const unwanted = entries.filter((entry) => /^package\/(test|src|work|scripts|node_modules|deploy|\.ci)\//.test(entry) || entry.endsWith('.map') || entry.endsWith('tsconfig.json'));
    expect(unwanted).toEqual([]);
  });
});

describe('the installed command, run from another directory', () => {
  let golden: string;
  let config: string;

  beforeAll(async () => {
    golden = (await buildGoldenImage({ dir: path.join(base, 'golden') })).image;
    config = path.join(base, 'small.yaml');
    fs.writeFileSync(config, SMALL);
  });

  it('is the package\'s own copy and prints its version', async () => {
    expect(fs.realpathSync(installed)).toBe(path.join(prefix, 'lib/node_modules', pkg.name, 'bin/mender-convert.js'));
    const result = await mc(['--version']);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout.trim()).toBe(pkg.version);
  });

  it('plans, converts (GRUB) and inspects the result', async () => {
    const plan = await mc(['plan', '-d', golden, '-c', config, '-n', 'installed-1']);
    expect(plan.exitCode, plan.all).toBe(0);
    expect(plan.stdout).toContain('~ /etc/fstab');
    expect(plan.stdout).toContain('Nothing was written (dry run).');

    const result = await mc(['-d', golden, '-c', config, '-n', 'installed-1']);
    expect(result.exitCode, result.all).toBe(0);
    // Relative output and work directories are the current directory's, not the package's.
    const image = path.join(elsewhere, 'deploy', fs.readdirSync(path.join(elsewhere, 'deploy')).find((f) => f.endsWith('-mender.img'))!);
    expect(fs.existsSync(path.join(elsewhere, 'work', 'convert.log'))).toBe(true);
    const inspected = await mc(['inspect', '--json', image]);
    expect(inspected.exitCode, inspected.all).toBe(0);
    const report = JSON.parse(inspected.stdout);
    expect(report.mender).toMatchObject({ converted: true, artifactName: 'installed-1' });
    // The GRUB boot logic comes from the package's template.
    const table = JSON.parse((await tool('sfdisk', ['--json', image])).stdout).partitiontable;
    const cfg = (await tool('mtype', ['-i', `${image}@@${table.partitions[0].start * 512}`, '::/EFI/BOOT/grub.cfg'])).stdout;
    expect(cfg).toContain(fs.readFileSync(path.join(ROOT, 'src/bootloader/grub/mender-boot.cfg'), 'utf8'));
  });

  it('converts for a Raspberry Pi 3 with a shipped config named without its path (its board hook is TypeScript)', async () => {
    const pi = await buildGoldenImage({ dir: path.join(base, 'pi'), arch: 'arm64', hostname: 'raspberrypi', bootFiles: { 'kernel8.img': 'kernel\n', 'bcm2710-rpi-3-b.dtb': 'dtb\n' } });
    const out = path.join(base, 'pi-deploy');
    const result = await mc(['-d', pi.image, '-c', 'raspberrypi3_bookworm_64bit', '-c', config, '-n', 'pi-1', '--output-dir', out, '--work-dir', path.join(base, 'pi-work')]);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.all).toMatch(/U-Boot: Debian u-boot-rpi .* rpi_3/);
    const image = path.join(out, fs.readdirSync(out).find((f) => f.endsWith('-mender.img'))!);
    const table = JSON.parse((await tool('sfdisk', ['--json', image])).stdout).partitiontable;
    const fat = `${image}@@${table.partitions[0].start * 512}`;
    expect((await tool('mtype', ['-i', fat, '::/config.txt'])).stdout).toMatch(/\nkernel=u-boot\.bin\n/);
    expect((await tool('mtype', ['-i', fat, '::/boot.cmd'])).stdout).toContain('Mender: booting partition');
  });

  it('runs through npx from the tarball', async () => {
    const result = await execa('npx', ['--yes', '--prefer-offline', '--package', tarball, 'mender-convert', '--version'], { cwd: elsewhere, env, all: true, reject: false });
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout.trim()).toBe(pkg.version);
  });
});
