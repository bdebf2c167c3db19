import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { tool } from '../../helpers/images.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'artifact-cli-'));

describe('mender-convert artifact', () => {
  it('writes with mender-artifact flag names; read --json and validate agree', async () => {
    const payload = path.join(base, 'fs.img');
    fs.writeFileSync(payload, Buffer.alloc(1024 * 1024, 3));
    const key = path.join(base, 'k.pem');
    await tool('openssl', ['ecparam', '-genkey', '-name', 'prime256v1', '-noout', '-out', key]);
    const pub = path.join(base, 'k.pub');
    await tool('openssl', ['ec', '-in', key, '-pubout', '-out', pub]);
    const output = path.join(base, 'cli.mender');
    const write = await runCli(['artifact', 'write', 'rootfs-image', '-n', 'cli-1', '-t', 'a', '--compatible-types', 'b', '-f', payload, '-o', output, '--compression', 'lzma', '-k', key, '--provides', 'x:y']);
    expect(write.exitCode, write.all).toBe(0);
    expect((await tool('mender-artifact', ['validate', '-k', pub, output])).exitCode).toBe(0);
    const read = await runCli(['artifact', 'read', '--json', '-k', pub, output]);
    const info = JSON.parse(String(read.stdout));
    expect(info).toMatchObject({ name: 'cli-1', deviceTypes: ['a', 'b'], compression: 'xz', signed: true, signatureVerified: true });
    expect(info.payloads[0].provides).toMatchObject({ x: 'y', 'rootfs-image.version': 'cli-1' });
    const validate = await runCli(['artifact', 'validate', output]);
    expect(validate.stdout).toContain('validated successfully');
  });

  it('warns that zstd Artifacts need a 4.x client, and refuses bad state script names', async () => {
    const payload = path.join(base, 'f.txt');
    fs.writeFileSync(payload, 'x');
    const zstd = await runCli(['artifact', 'write', 'module-image', '-T', 'file', '-n', 'm-1', '-t', 'a', '-f', payload, '-o', path.join(base, 'z.mender'), '--compression', 'zstd']);
    expect(zstd.exitCode).toBe(0);
    expect(zstd.stderr).toMatch(/zstd Artifacts need a Mender client 4\.x/);
    const badScript = path.join(base, 'ArtifactInstall_Sometime_00');
    fs.writeFileSync(badScript, '#!/bin/sh\n');
    const bad = await runCli(['artifact', 'write', 'module-image', '-T', 'file', '-n', 'm-1', '-t', 'a', '-f', payload, '-o', path.join(base, 'bad.mender'), '-s', badScript]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/not a valid Artifact state script name/);
    expect(fs.existsSync(path.join(base, 'bad.mender'))).toBe(false);
  });

  it('refuses an artifact name the client would reject', async () => {
    const payload = path.join(base, 'g.txt');
    fs.writeFileSync(payload, 'x');
    const result = await runCli(['artifact', 'write', 'module-image', '-T', 'file', '-n', 'bad name', '-t', 'a', '-f', payload, '-o', path.join(base, 'n.mender')]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/characters the Mender client rejects/);
  });
});
