import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { UserError } from '../util/errors.js';

/**
 * manifest.sig: the base64 signature of the manifest, as mender-artifact makes it: RSA
 * PKCS#1 v1.5 over SHA-256, or ECDSA P-256 over SHA-256 with r and s concatenated (not DER).
 */

async function loadKey(file: string, kind: 'private' | 'public'): Promise<crypto.KeyObject> {
  let pem: Buffer;
  try {
    pem = await fs.readFile(file);
  } catch {
    throw new UserError(`Cannot read the ${kind} key ${file}.`);
  }
  try {
    return kind === 'private' ? crypto.createPrivateKey(pem) : crypto.createPublicKey(pem);
  } catch {
    throw new UserError(`${file} is not a PEM ${kind} key.`, { hint: 'Use an RSA (2048-4096 bits) or ECDSA P-256 key in PEM format.' });
  }
}

function checkKey(key: crypto.KeyObject, file: string): void {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < 2048 || bits > 4096) throw new UserError(`${file} is a ${bits}-bit RSA key; Mender accepts 2048 to 4096 bits.`);
    return;
  }
  if (key.asymmetricKeyType === 'ec' && details.namedCurve === 'prime256v1') return;
  throw new UserError(`${file} is a ${key.asymmetricKeyType}${details.namedCurve ? ` ${details.namedCurve}` : ''} key; Mender signs with RSA or ECDSA P-256.`);
}

function options(key: crypto.KeyObject): crypto.SignKeyObjectInput | crypto.VerifyKeyObjectInput {
  return key.asymmetricKeyType === 'ec' ? { key, dsaEncoding: 'ieee-p1363' } : { key, padding: crypto.constants.RSA_PKCS1_PADDING };
}

export async function signManifest(manifest: Buffer | string, privateKeyFile: string): Promise<string> {
  const key = await loadKey(privateKeyFile, 'private');
  checkKey(key, privateKeyFile);
  return crypto.sign('sha256', Buffer.from(manifest), options(key) as crypto.SignKeyObjectInput).toString('base64');
}

export async function verifyManifest(manifest: Buffer, signature: string, publicKeyFile: string): Promise<boolean> {
  const key = await loadKey(publicKeyFile, 'public');
  const bytes = Buffer.from(signature.trim(), 'base64');
  try {
    return crypto.verify('sha256', manifest, options(key) as crypto.VerifyKeyObjectInput, bytes);
  } catch {
    return false;
  }
}
