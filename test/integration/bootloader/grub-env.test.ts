import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatGrubEnv, menderGrubEnvFiles, parseGrubEnv } from '../../../src/bootloader/grub/env.js';
import { tool } from './harness.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grub-env-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const list = async (file: string) => (await tool('grub-editenv', [file, 'list'])).stdout;

describe('GRUB environment blocks against grub-editenv', () => {
  it('grub-editenv lists our blocks exactly, escapes included', async () => {
    const values = { mender_boot_part: '2', empty: '', spaced: 'a b  c', escaped: 'back\\slash and\nnewline', eq: 'x=y' };
    const file = path.join(dir, 'ours');
    fs.writeFileSync(file, formatGrubEnv(values));
    expect(await list(file)).toBe(Object.entries(values).map(([name, value]) => `${name}=${value}\n`).join(''));
  });

  it('grub-editenv can set and unset variables in our blocks (GRUB finds the free space)', async () => {
    const file = path.join(dir, 'extend');
    fs.writeFileSync(file, formatGrubEnv({ a: '1', b: '2' }));
    await tool('grub-editenv', [file, 'set', 'c=3', 'a=changed']);
    await tool('grub-editenv', [file, 'unset', 'b']);
    expect(fs.statSync(file).size).toBe(1024);
    expect(parseGrubEnv(fs.readFileSync(file))).toEqual({ values: { a: 'changed', c: '3' }, intact: true });
  });

  it('reads blocks grub-editenv made, with its comment line and escapes', async () => {
    const file = path.join(dir, 'theirs');
    await tool('grub-editenv', [file, 'create']);
    await tool('grub-editenv', [file, 'set', 'x=1', 'multi=line1\nline2\\end', 'blank=']);
    expect(fs.readFileSync(file, 'latin1')).toContain('# WARNING');
    expect(parseGrubEnv(fs.readFileSync(file))).toEqual({ values: { x: '1', multi: 'line1\nline2\\end', blank: '' }, intact: true });
  });

  it('a block filled to the last byte is still read by grub-editenv, one byte more is refused', async () => {
    const file = path.join(dir, 'full');
    const room = 1024 - '# GRUB Environment Block\n'.length - 'v=\n'.length;
    fs.writeFileSync(file, formatGrubEnv({ v: 'x'.repeat(room) }));
    expect(await list(file)).toBe(`v=${'x'.repeat(room)}\n`);
    expect(() => formatGrubEnv({ v: 'x'.repeat(room + 1) })).toThrow(/needs 1025 bytes/);
  });

  it("writes the contract's four files, each read by grub-editenv", async () => {
    const files = menderGrubEnvFiles({ bootPart: 2 });
    expect(files.map((file) => file.path)).toEqual([
      '/grub-mender-grubenv/mender_grubenv1/env',
      '/grub-mender-grubenv/mender_grubenv1/lock',
      '/grub-mender-grubenv/mender_grubenv2/env',
      '/grub-mender-grubenv/mender_grubenv2/lock',
    ]);
    for (const file of files) {
      const target = path.join(dir, 'contract', file.path);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, file.data);
      expect(file.data.length).toBe(1024);
      expect(await list(target)).toBe(file.path.endsWith('/lock') ? 'editing=0\n' : 'mender_boot_part=2\nmender_boot_part_hex=2\nupgrade_available=0\nbootcount=0\n');
    }
  });
});
