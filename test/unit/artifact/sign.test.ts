import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSigningKey, loadVerifyingKey, verifyManifest } from '../../../src/artifact/sign.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'artifact-sign-'));
const manifest = Buffer.from('96bcd965947569404798bcbdb614f103db5a004eb6e364cfc162c146890ea35b  version\n');

function keyFiles(name: string, pair: crypto.KeyPairKeyObjectResult, privateType: 'pkcs8' | 'pkcs1' | 'sec1' = 'pkcs8') {
  const priv = path.join(dir, `${name}.pem`);
  const pub = path.join(dir, `${name}.pub`);
  fs.writeFileSync(priv, pair.privateKey.export({ type: privateType, format: 'pem' }));
  fs.writeFileSync(pub, pair.publicKey.export({ type: 'spki', format: 'pem' }));
  return { priv, pub };
}

const rsa2048 = keyFiles('rsa2048', crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }), 'pkcs1');
const rsa3072 = keyFiles('rsa3072', crypto.generateKeyPairSync('rsa', { modulusLength: 3072 }));
const ec = keyFiles('ec', crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }), 'sec1');

describe('manifest signatures', () => {
  for (const [name, files, rawLength] of [['RSA 2048', rsa2048, 256], ['RSA 3072', rsa3072, 384], ['ECDSA P-256', ec, 64]] as const) {
    it(`${name}: base64 of ${rawLength} bytes, length known before signing, verifies`, async () => {
      const key = await loadSigningKey(files.priv);
      const signature = key.sign(manifest);
      expect(signature.length).toBe(key.signatureLength);
      expect(Buffer.from(signature.toString(), 'base64').length).toBe(rawLength);
      expect(signature.toString()).not.toContain('\n');
      const pub = await loadVerifyingKey(files.pub);
      expect(verifyManifest(manifest, signature, pub)).toBe(true);
      expect(verifyManifest(Buffer.concat([manifest, Buffer.from(' ')]), signature, pub)).toBe(false);
    });
  }

  it('ECDSA signatures are r||s: a DER signature of the same manifest is refused, as mender-artifact 3.9 does', async () => {
    const der = crypto.sign('sha256', manifest, { key: crypto.createPrivateKey(fs.readFileSync(ec.priv)), dsaEncoding: 'der' });
    expect(verifyManifest(manifest, Buffer.from(der.toString('base64')), await loadVerifyingKey(ec.pub))).toBe(false);
  });

  it('a signature by another key, or garbage, does not verify', async () => {
    const signature = (await loadSigningKey(rsa2048.priv)).sign(manifest);
    expect(verifyManifest(manifest, signature, await loadVerifyingKey(rsa3072.pub))).toBe(false);
    expect(verifyManifest(manifest, Buffer.from('not base64 at all!'), await loadVerifyingKey(ec.pub))).toBe(false);
  });

  it('refuses keys Mender cannot use, naming them', async () => {
    const small = keyFiles('rsa1024', crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }));
    await expect(loadSigningKey(small.priv)).rejects.toThrow(/1024-bit RSA key; Mender accepts 2048 to 4096 bits/);
    const p384 = keyFiles('p384', crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' }));
    await expect(loadSigningKey(p384.priv)).rejects.toThrow(/ec secp384r1 key/);
    const ed = keyFiles('ed', crypto.generateKeyPairSync('ed25519'));
    await expect(loadSigningKey(ed.priv)).rejects.toThrow(/ed25519 key/);
    fs.writeFileSync(path.join(dir, 'junk.pem'), 'not a key');
    await expect(loadSigningKey(path.join(dir, 'junk.pem'))).rejects.toThrow(/is not a PEM private key/);
    await expect(loadSigningKey(path.join(dir, 'missing.pem'))).rejects.toThrow(/Cannot read the private key .*ENOENT/);
  });
});
