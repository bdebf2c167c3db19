/**
 * The host package lists say exactly what the code runs: conversion.txt the Debian packages of
 * every tool a conversion's preflight can name, boot.txt those of every tool and firmware
 * `mender-convert boot` uses — so the README's apt-get line is neither short nor padded.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/knobs.js';
import { loadConfig, PACKAGE_ROOT } from '../../src/config/load.js';
import type { InputFormat } from '../../src/disk/input.js';
import { BOARD_FAMILIES, type BoardFamily } from '../../src/boot/board.js';
import { findFirmware } from '../../src/boot/qemu.js';
import { bootTools } from '../../src/boot/run.js';
import { conversionTools } from '../../src/pipeline/preflight.js';
import { type UserError } from '../../src/util/errors.js';
import { TOOL_PACKAGES } from '../../src/util/tools.js';

const FORMATS: InputFormat[] = ['raw', 'gzip', 'xz', 'zstd', 'zip'];

function listed(name: string): string[] {
  return fs
    .readFileSync(path.join(PACKAGE_ROOT, 'scripts/host-packages', `${name}.txt`), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .sort();
}

function packagesOf(tools: Iterable<string>): string[] {
  return [...new Set([...tools].map((tool) => {
    expect(TOOL_PACKAGES[tool], `the Debian package of ${tool}`).toBeDefined();
    return TOOL_PACKAGES[tool]!;
  }))].sort();
}

describe('host package lists', () => {
  it('conversion.txt is what the conversion preflight can ask for, for any config and input', () => {
    const defaults = loadConfig({ configFiles: [], env: {} }).config;
    const tools = new Set<string>();
    for (const bootloader of ['grub', 'uboot'] as const) {
      for (const client of [true, false]) {
        for (const compression of ['gzip', 'xz', 'zstd', 'none'] as const) {
          for (const format of FORMATS) {
            const config: Config = { ...defaults, 'bootloader.type': bootloader, 'client.install': client, 'image.bmap': client, 'artifact.compression': compression, 'image.compression': compression };
            for (const tool of conversionTools(config, format)) tools.add(tool);
          }
        }
      }
    }
    expect(listed('conversion')).toEqual(packagesOf(tools));
  });

  it('boot.txt is what boot runs for every board and input, with the UEFI firmware', () => {
    const families = Object.keys(BOARD_FAMILIES) as BoardFamily[];
    const tools = families.flatMap((family) => FORMATS.flatMap((format) => bootTools(family, format)));
    const firmware = families.flatMap((family) => {
      try {
        findFirmware(family, () => false);
        return [];
      } catch (error) {
        return [/apt-get install (\S+)$/.exec((error as UserError).hint ?? '')![1]!];
      }
    });
    expect(listed('boot')).toEqual([...new Set([...packagesOf(tools), ...firmware])].sort());
  });
});
