import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateGrubConfig } from '../../../src/bootloader/grub/config.js';
import { formatGrubEnv, menderGrubEnvFiles, parseGrubEnv } from '../../../src/bootloader/grub/env.js';
import { GRUBENV_TOOL_NAMES, grubenvToolScript } from '../../../src/bootloader/grub/tools.js';
import { buildAbDisk, getBootFile, putEnvFiles, runGrubEmu, tool, type AbDisk } from './harness.js';

/** What a minimal Debian device offers; no grub-editenv among them. */
const DEVICE_TOOLS = ['sh', 'awk', 'dd', 'cat', 'cmp', 'wc', 'tr', 'tail', 'mkdir', 'mktemp', 'rm', 'basename', 'dirname', 'flock'];
const FILES = ['mender_grubenv1/env', 'mender_grubenv1/lock', 'mender_grubenv2/env', 'mender_grubenv2/lock'];
const OLD = { mender_boot_part: '2', mender_boot_part_hex: '2', upgrade_available: '0', bootcount: '0' };
const NEW = { mender_boot_part: '3', mender_boot_part_hex: '3', upgrade_available: '1', bootcount: '0' };
// The Mender 4.x rootfs-image module's ArtifactInstall call: `grub-mender-grubenv-set -s -` with this on stdin.
const INSTALL_SCRIPT = 'mender_boot_part=3\nmender_boot_part_hex=3\nupgrade_available=1\nbootcount=0\n';

let dir: string;
let mount: string;
let envDir: string;
let bin: string;
let tmp: string;

function resolveHostTool(name: string): string {
  for (const d of (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/bin'])) {
    const file = path.join(d, name);
    if (fs.existsSync(file)) return file;
  }
  throw new Error(`host tool ${name} missing`);
}

async function runTool(name: 'print' | 'set', args: string[], options: { input?: string; pathPrefix?: string; env?: Record<string, string> } = {}) {
  return execa(path.join(bin, `grub-mender-grubenv-${name}`), args, {
    input: options.input ?? '',
    reject: false,
    stripFinalNewline: false,
    extendEnv: false,
    env: { PATH: [options.pathPrefix, path.join(dir, 'device-bin')].filter(Boolean).join(':'), TMPDIR: tmp, ...options.env },
  });
}

async function print(...args: string[]): Promise<Record<string, string>> {
  const result = await runTool('print', args);
  expect(result.stderr).toBe('');
  expect(result.exitCode).toBe(0);
  return Object.fromEntries(result.stdout.split('\n').filter(Boolean).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

function resetEnv(values: Record<string, string> = OLD): void {
  fs.rmSync(envDir, { recursive: true, force: true });
  for (const file of menderGrubEnvFiles({ bootPart: 2 })) {
    const target = path.join(mount, file.path);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, file.path.endsWith('/env') ? formatGrubEnv(values) : file.data);
  }
}

async function editenvList(file: string): Promise<string> {
  return (await tool('grub-editenv', [file, 'list'])).stdout;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grubenv-tools-'));
  mount = path.join(dir, 'boot-efi');
  envDir = path.join(mount, 'grub-mender-grubenv');
  bin = path.join(dir, 'usr-bin');
  tmp = path.join(dir, 'tmp');
  fs.mkdirSync(tmp);
  fs.mkdirSync(bin);
  fs.mkdirSync(path.join(dir, 'device-bin'));
  for (const name of DEVICE_TOOLS) fs.symlinkSync(resolveHostTool(name), path.join(dir, 'device-bin', name));
  const script = grubenvToolScript({ bootMountpoint: mount });
  for (const name of GRUBENV_TOOL_NAMES) fs.writeFileSync(path.join(bin, name), script, { mode: 0o755 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('grub-mender-grubenv-print / -set on a directory, checked with grub-editenv', () => {
  beforeEach(() => resetEnv());

  it('prints all variables, chosen ones (NAME= for unset ones, status 0) and a value alone with -n', async () => {
    expect(await print()).toEqual(OLD);
    const named = await runTool('print', ['bootcount', 'mender_boot_part', 'not_set']);
    expect(named.stdout).toBe('bootcount=0\nmender_boot_part=2\nnot_set=\n');
    expect(named.exitCode).toBe(0);
    expect((await runTool('print', ['-n', 'mender_boot_part'])).stdout).toBe('2\n');
  });

  it('sets as the Mender clients do: a script on stdin (NAME=VALUE and NAME VALUE lines) and NAME VALUE arguments', async () => {
    const install = await runTool('set', ['-s', '-'], { input: INSTALL_SCRIPT });
    expect(install.stderr).toBe('');
    expect(install.exitCode).toBe(0);
    expect(await print()).toEqual(NEW);
    expect((await runTool('set', ['upgrade_available', '0'])).exitCode).toBe(0);
    expect(await print('upgrade_available')).toEqual({ upgrade_available: '0' });

    // Mender 3.x probes for U-Boot's old "NAME VALUE" syntax, then deletes the probe with an empty value.
    await runTool('set', ['-s', '-'], { input: 'mender_uboot_separator 1\n' });
    expect(await print('mender_uboot_separator')).toEqual({ mender_uboot_separator: '1' });
    await runTool('set', ['-s', '-'], { input: '# a comment\n\nmender_uboot_separator \n' });
    expect(await print()).not.toHaveProperty('mender_uboot_separator');

    for (const file of FILES) expect(fs.statSync(path.join(envDir, file)).size).toBe(1024);
    const expected = 'mender_boot_part=3\nmender_boot_part_hex=3\nupgrade_available=0\nbootcount=0\n';
    expect(await editenvList(path.join(envDir, 'mender_grubenv1/env'))).toBe(expected);
    expect(await editenvList(path.join(envDir, 'mender_grubenv2/env'))).toBe(expected);
    expect(await editenvList(path.join(envDir, 'mender_grubenv1/lock'))).toBe('editing=0\n');
    expect(await editenvList(path.join(envDir, 'mender_grubenv2/lock'))).toBe('editing=0\n');
  });

  it('keeps backslashes, spaces, = and newlines in values as grub-editenv does', async () => {
    const value = 'a\\b c=d\nsecond line';
    expect((await runTool('set', ['odd', 'a\\b', 'c=d\nsecond', 'line'])).exitCode).toBe(0);
    expect(await editenvList(path.join(envDir, 'mender_grubenv1/env'))).toContain(`odd=${value}\n`);
    expect(parseGrubEnv(fs.readFileSync(path.join(envDir, 'mender_grubenv2/env'))).values.odd).toBe(value);
    expect((await print('odd')).odd).toBe('a\\b c=d');
    // And reads what grub-editenv wrote.
    await tool('grub-editenv', [path.join(envDir, 'mender_grubenv1/env'), 'set', 'made_by_editenv=x\\y\nz']);
    expect((await runTool('print', ['made_by_editenv'])).stdout).toBe('made_by_editenv=x\\y\nz\n');
  });

  it('deletes a variable given without a value, and a NAME=VALUE argument works too', async () => {
    await runTool('set', ['extra=1']);
    expect(await print('extra')).toEqual({ extra: '1' });
    await runTool('set', ['extra']);
    expect(await print()).toEqual(OLD);
  });

  it('refuses an environment that does not fit a block and leaves both copies as they were', async () => {
    const before = FILES.map((file) => fs.readFileSync(path.join(envDir, file)));
    const result = await runTool('set', ['big', 'x'.repeat(1100)]);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('does not fit');
    FILES.forEach((file, index) => expect(fs.readFileSync(path.join(envDir, file)).equals(before[index])).toBe(true));
  });

  it('reads copy 2 while lock 1 says editing=1, and repairs copy 1 before writing', async () => {
    fs.writeFileSync(path.join(envDir, 'mender_grubenv2/env'), formatGrubEnv(NEW));
    fs.writeFileSync(path.join(envDir, 'mender_grubenv1/lock'), formatGrubEnv({ editing: '1' }));
    fs.writeFileSync(path.join(envDir, 'mender_grubenv1/env'), Buffer.alloc(1024));
    expect(await print()).toEqual(NEW);
    expect((await runTool('set', ['bootcount', '1'])).exitCode).toBe(0);
    const expected = { ...NEW, bootcount: '1' };
    for (const copy of [1, 2]) {
      expect(parseGrubEnv(fs.readFileSync(path.join(envDir, `mender_grubenv${copy}/env`))).values).toEqual(expected);
      expect(parseGrubEnv(fs.readFileSync(path.join(envDir, `mender_grubenv${copy}/lock`))).values).toEqual({ editing: '0' });
    }
  });

  it('fails clearly when the boot partition is not mounted', async () => {
    fs.rmSync(envDir, { recursive: true });
    const result = await runTool('print', []);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('does not exist');
  });
});

describe('power cut during grub-mender-grubenv-set: the tools and GRUB agree on a whole environment', () => {
  let disk: AbDisk;
  const config = generateGrubConfig({ parts: { a: 2, b: 3 }, rootDevices: { a: '/dev/sda2', b: '/dev/sda3' }, initrd: false });

  beforeAll(async () => {
    disk = await buildAbDisk(path.join(dir, 'disk'), 'gpt', { initrd: false });
    // A dd that "loses power" at its Nth block write: kills the tool before writing, or after
    // writing a torn sector (the first bytes of the block, then zeros).
    const fake = path.join(dir, 'fake-dd');
    fs.mkdirSync(fake);
    fs.writeFileSync(path.join(fake, 'dd'), `#!/bin/sh
n=$(cat "$DD_COUNTER" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$DD_COUNTER"
if [ "$n" -eq "$DD_CUT_AT" ]; then
    if [ "$DD_MODE" = torn ]; then
        for arg in "$@"; do
            case "$arg" in if=*) src="\${arg#if=}" ;; of=*) dst="\${arg#of=}" ;; esac
        done
        { ${resolveHostTool('head')} -c 30 "$src"; ${resolveHostTool('head')} -c 482 /dev/zero; } | ${resolveHostTool('dd')} of="$dst" conv=notrunc status=none
    fi
    kill -9 $PPID
    exit 1
fi
exec ${resolveHostTool('dd')} "$@"
`, { mode: 0o755 });
  });

  // Block writes of a set: 1 lock2=1, 2 env2, 3 lock2=0, 4 lock1=1, 5 env1, 6 lock1=0.
  const cases: Array<{ mode: 'before' | 'torn'; cut: number; expect: 'old' | 'new' }> = [
    ...[1, 2, 3, 4].map((cut) => ({ mode: 'before' as const, cut, expect: 'old' as const })),
    ...[5, 6].map((cut) => ({ mode: 'before' as const, cut, expect: 'new' as const })),
    ...[1, 2, 3].map((cut) => ({ mode: 'torn' as const, cut, expect: 'old' as const })),
    ...[4, 5, 6].map((cut) => ({ mode: 'torn' as const, cut, expect: 'new' as const })),
  ];
  for (const scenario of cases) {
    it(`cut ${scenario.mode === 'torn' ? 'in the middle of' : 'before'} write ${scenario.cut}: ${scenario.expect} environment`, async () => {
      resetEnv();
      const counter = path.join(dir, `dd-counter-${scenario.mode}-${scenario.cut}`);
      const cut = await runTool('set', ['-s', '-'], {
        input: INSTALL_SCRIPT,
        pathPrefix: path.join(dir, 'fake-dd'),
        env: { DD_COUNTER: counter, DD_CUT_AT: String(scenario.cut), DD_MODE: scenario.mode },
      });
      expect(cut.signal ?? cut.exitCode).toBe('SIGKILL');

      const expected = scenario.expect === 'old' ? OLD : NEW;
      expect(await print()).toEqual(expected);

      // GRUB boots from the same environment, and the tool reads what GRUB saved.
      await putEnvFiles(disk, path.join(dir, 'disk'), Object.fromEntries(FILES.map((file) => [`/grub-mender-grubenv/${file}`, fs.readFileSync(path.join(envDir, file))])));
      const boot = await runGrubEmu(path.join(dir, 'disk'), disk, config, 'linux');
      expect(boot.linux?.[0]).toBe(`(hd0,gpt${expected.mender_boot_part})/boot/kernel`);
      for (const file of FILES) fs.writeFileSync(path.join(envDir, file), await getBootFile(disk, path.join(dir, 'disk'), `/grub-mender-grubenv/${file}`));
      expect(await print()).toEqual(scenario.expect === 'old' ? OLD : { ...NEW, bootcount: '1' });

      // A later set makes both copies whole again.
      expect((await runTool('set', ['upgrade_available', '0'])).exitCode).toBe(0);
      for (const copy of [1, 2]) {
        expect(await editenvList(path.join(envDir, `mender_grubenv${copy}/lock`))).toBe('editing=0\n');
        expect(parseGrubEnv(fs.readFileSync(path.join(envDir, `mender_grubenv${copy}/env`)))).toEqual({ values: await print(), intact: true });
      }
    });
  }
});
