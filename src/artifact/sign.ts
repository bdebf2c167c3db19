import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { UserError } from '../util/errors.js';

/**
 * manifest.sig: the base64 signature of the manifest, no newline, as mender-artifact makes
 * it: RSA PKCS#1 v1.5 over SHA-256, or ECDSA P-256 over SHA-256 as the 64 bytes r||s (not
 * DER; mender-artifact 3.9 writes 88 base64 characters for it).
 */

const P256_SIGNATURE_BYTES = 64;

async function loadKey(file: string, kind: 'private' | 'public'): Promise<crypto.KeyObject> {
  let pem: Buffer;
  try {
    pem = await fs.readFile(file);
  } catch (error) {
    throw new UserError(`Cannot read the ${kind} key ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}.`);
  }
  let key: crypto.KeyObject;
  try {
    key = kind === 'private' ? crypto.createPrivateKey(pem) : crypto.createPublicKey(pem);
  } catch {
    throw new UserError(`${file} is not a PEM ${kind} key.`, {
      hint: kind === 'private' ? 'Sign with an RSA (2048-4096 bits) or ECDSA P-256 private key in PEM format.' : 'Verify with the PEM public key of the signing key (openssl pkey -pubout).',
    });
  }
  checkKey(key, file);
  return key;
}

function checkKey(key: crypto.KeyObject, file: string): void {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < 2048 || bits > 4096) throw new UserError(`${file} is a ${bits}-bit RSA key; Mender accepts 2048 to 4096 bits.`);
    return;
  }
  if (key.asymmetricKeyType === 'ec' && details.namedCurve === 'prime256v1') return;
  const what = `${key.asymmetricKeyType ?? 'unknown'}${details.namedCurve ? ` ${details.namedCurve}` : ''}`;
  throw new UserError(`${file} is a ${what} key; Mender Artifacts are signed with RSA (2048-4096 bits) or ECDSA P-256.`);
}

function algorithmOptions(key: crypto.KeyObject): { key: crypto.KeyObject; dsaEncoding?: 'ieee-p1363'; padding?: number } {
  return key.asymmetricKeyType === 'ec' ? { key, dsaEncoding: 'ieee-p1363' } : { key, padding: crypto.constants.RSA_PKCS1_PADDING };
}

export interface SigningKey {
  /** Length of the base64 manifest.sig this key makes (known before signing). */
  signatureLength: number;
  sign(manifest: Buffer): Buffer;
}

export async function loadSigningKey(file: string): Promise<SigningKey> {
  const key = await loadKey(file, 'private');
  const bytes = key.asymmetricKeyType === 'ec' ? P256_SIGNATURE_BYTES : (key.asymmetricKeyDetails!.modulusLength! + 7) >> 3;
  return {
    signatureLength: 4 * Math.ceil(bytes / 3),
    sign: (manifest) => Buffer.from(crypto.sign('sha256', manifest, algorithmOptions(key)).toString('base64'), 'ascii'),
  };
}

export async function loadVerifyingKey(file: string): Promise<crypto.KeyObject> {
  return loadKey(file, 'public');
}

/**
 * Whether `signature` (base64, as in manifest.sig) is a valid signature of `manifest`. ECDSA
 * signatures must be the 64 bytes r||s: mender-artifact 3.9 refuses DER ones too.
 */
export function verifyManifest(manifest: Buffer, signature: Buffer, key: crypto.KeyObject): boolean {
  const text = signature.toString('ascii').trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return false;
  const bytes = Buffer.from(text, 'base64');
  if (key.asymmetricKeyType === 'ec' && bytes.length !== P256_SIGNATURE_BYTES) return false;
  try {
    return crypto.verify('sha256', manifest, algorithmOptions(key), bytes);
  } catch {
    return false;
  }
}
