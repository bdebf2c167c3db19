/**
 * COMFILE Pi (a Raspberry Pi 3 panel computer) board integration, run after the Raspberry Pi
 * one: its LCD backlight is on GPIO 34, which upstream's config switched on from its own boot
 * script (`gpio set 34`). Here the GPU firmware does it before U-Boot starts, from a config.txt
 * line outside the Mender block, which the device-side boot-files script keeps after upgrades.
 */
import type { HookApi } from '../../src/pipeline/hooks.js';
import { BLOCK_BEGIN } from '../raspberrypi/integration.js';

export const BACKLIGHT_LINE = 'gpio=34=op,dh';

/** config.txt with GPIO 34 driven high for every model, before the Mender block; kept where the line is there. */
export function backlightConfigTxt(text: string): string {
  if (/^gpio=34=/m.test(text)) return text;
  const lines = text.split('\n');
  const at = lines.findIndex((line) => line === BLOCK_BEGIN);
  const insert = ['[all]', '# COMFILE Pi: the LCD backlight (GPIO 34) on from power-up', BACKLIGHT_LINE, ''];
  lines.splice(at === -1 ? lines.length : at, 0, ...insert);
  return lines.join('\n');
}

export default async function comfilePi(api: HookApi): Promise<void> {
  const text = (await api.boot.exists('/config.txt')) ? await api.boot.readText('/config.txt') : '';
  await api.boot.writeFile('/config.txt', backlightConfigTxt(text));
  api.logger.info(`comfile-pi: config.txt drives GPIO 34 (the LCD backlight) high: ${BACKLIGHT_LINE}`);
}
