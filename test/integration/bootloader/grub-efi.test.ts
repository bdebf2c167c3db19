import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGrubEfi, GRUB_EFI_TARGETS, grubEarlyConfig, peMachine } from '../../../src/bootloader/grub/efi.js';
import { UserError } from '../../../src/util/errors.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grub-efi-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const AMD64_MODULES = '/usr/lib/grub/x86_64-efi';
// grub-efi-arm64-bin does not install on an amd64 host; point this at its unpacked
// usr/lib/grub/arm64-efi (dpkg-deb -x of the arm64 package) to test that target too.
const ARM64_MODULES = process.env.GRUB_ARM64_EFI_DIR ?? '/usr/lib/grub/arm64-efi';

describe('standalone GRUB EFI loader', () => {
  it('builds BOOTX64.EFI from the host grub-efi-amd64-bin modules: an x86-64 PE image with our early config, reproducibly', async () => {
    const output = path.join(dir, 'BOOTX64.EFI');
    await buildGrubEfi({ arch: 'amd64', modulesDir: AMD64_MODULES, output });
    const image = fs.readFileSync(output);
    expect(peMachine(image)).toBe(0x8664);
    expect(image.includes(Buffer.from(grubEarlyConfig()))).toBe(true);
    expect(image.includes(Buffer.from('loadenv'))).toBe(true);
    const again = path.join(dir, 'BOOTX64-again.EFI');
    await buildGrubEfi({ arch: 'amd64', modulesDir: AMD64_MODULES, output: again });
    expect(fs.readFileSync(again).equals(image)).toBe(true);
    expect(GRUB_EFI_TARGETS.amd64.loaderPath).toBe('/EFI/BOOT/BOOTX64.EFI');
  });

  it.skipIf(!fs.existsSync(path.join(ARM64_MODULES, 'moddep.lst')))('builds BOOTAA64.EFI from arm64-efi modules: an AArch64 PE image', async () => {
    const output = path.join(dir, 'BOOTAA64.EFI');
    await buildGrubEfi({ arch: 'arm64', modulesDir: ARM64_MODULES, output, configDir: '/EFI/mender' });
    const image = fs.readFileSync(output);
    expect(peMachine(image)).toBe(0xaa64);
    expect(image.includes(Buffer.from('set prefix=(${root})/EFI/mender'))).toBe(true);
  });

  it('refuses a directory without GRUB modules, or without a module we need, naming the package', async () => {
    const empty = path.join(dir, 'empty');
    fs.mkdirSync(empty);
    const error = await buildGrubEfi({ arch: 'amd64', modulesDir: empty, output: path.join(dir, 'x.efi') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).hint).toContain('grub-efi-amd64-bin');

    const partial = path.join(dir, 'partial');
    fs.mkdirSync(partial);
    for (const name of fs.readdirSync(AMD64_MODULES)) if (name !== 'regexp.mod') fs.symlinkSync(path.join(AMD64_MODULES, name), path.join(partial, name));
    await expect(buildGrubEfi({ arch: 'amd64', modulesDir: partial, output: path.join(dir, 'y.efi') })).rejects.toThrow(/lack regexp/);
  });

  it('peMachine tells PE images from other files', () => {
    expect(peMachine(Buffer.from('not an image at all, just some text that is long enough to look at.....'))).toBeNull();
  });
});
