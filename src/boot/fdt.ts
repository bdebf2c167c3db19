/**
 * A flattened device tree (.dtb) read into its nodes and their properties: what the boot
 * command needs of a board's device tree (its serial aliases and what they point at).
 */

const MAGIC = 0xd00dfeed;
const BEGIN_NODE = 1;
const END_NODE = 2;
const PROP = 3;
const NOP = 4;
const END = 9;

/** Node path ("/", "/aliases", "/soc/serial@7e215040") → property name → value. */
export type DeviceTree = Map<string, Map<string, Buffer>>;

const align4 = (n: number) => (n + 3) & ~3;

/** The device tree in a .dtb's bytes; undefined when they are not one. */
export function parseDeviceTree(blob: Buffer): DeviceTree | undefined {
  if (blob.length < 40 || blob.readUInt32BE(0) !== MAGIC) return undefined;
  const total = blob.readUInt32BE(4);
  const structStart = blob.readUInt32BE(8);
  const stringsStart = blob.readUInt32BE(12);
  if (total > blob.length || structStart >= total || stringsStart >= total) return undefined;
  const tree: DeviceTree = new Map();
  const stack: string[] = [];
  const nameAt = (offset: number) => {
    const end = blob.indexOf(0, offset);
    return blob.toString('latin1', offset, end < 0 ? total : end);
  };
  let at = structStart;
  while (at + 4 <= total) {
    const token = blob.readUInt32BE(at);
    at += 4;
    if (token === BEGIN_NODE) {
      const name = nameAt(at);
      at = align4(at + name.length + 1);
      stack.push(name);
      tree.set(pathOf(stack), new Map());
    } else if (token === END_NODE) {
      stack.pop();
    } else if (token === PROP) {
      const length = blob.readUInt32BE(at);
      const name = nameAt(stringsStart + blob.readUInt32BE(at + 4));
      tree.get(pathOf(stack))?.set(name, blob.subarray(at + 8, at + 8 + length));
      at = align4(at + 8 + length);
    } else if (token === END) {
      return tree;
    } else if (token !== NOP) {
      return undefined;
    }
  }
  return undefined;
}

function pathOf(stack: string[]): string {
  return `/${stack.slice(1).join('/')}`;
}

/** A property's value as its strings (a NUL-separated list). */
export function propertyStrings(value: Buffer | undefined): string[] {
  if (!value) return [];
  return value.toString('latin1').split('\0').filter(Boolean);
}
