#!/usr/bin/env zx
// The main job on the built-in sample (after scripts/setup.mjs installed what is missing): build
// the sample golden image — a bootable Debian bookworm PC with its kernel, cached in work/sample/
// — convert it into deploy/, and print the command that boots the result in QEMU.
// debootstrap runs the kernel packages' scripts in a chroot, which needs root: as an ordinary
// user the sample is built through sudo (once; the image is then handed to the user), and the
// conversion itself runs as the user, as it always does.
import { $, fs, path } from 'zx';

$.verbose = false;
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
process.chdir(root);
process.env.PATH = [process.env.PATH, '/usr/local/sbin', '/usr/sbin', '/sbin'].join(':');

const builder = [path.join(root, 'node_modules/zx/build/cli.js'), 'scripts/build-sample-image.mjs', '--flavour', 'pc'];
const asRoot = process.getuid() === 0;
console.log(`Building the sample golden image, a Debian bookworm PC (cached in work/sample/)${asRoot ? '' : ' as root, through sudo'}…`);
const built = asRoot
  ? await $({ stdio: ['inherit', 'pipe', 'inherit'] })`${process.execPath} ${builder}`
  : await $({ stdio: ['inherit', 'pipe', 'inherit'] })`sudo ${process.execPath} ${builder}`;
const image = built.stdout.trim().split('\n').pop();
if (!asRoot) await $`sudo chown ${process.getuid()}:${process.getgid()} ${image} ${image}.recipe`;

console.log(`Converting ${path.relative(root, image)}…`);
const artifactName = process.env.MENDER_ARTIFACT_NAME ?? 'demo-release-1';
await $({ stdio: 'inherit' })`node bin/mender-convert.js --disk-image ${image} --config configs/demo.yaml --overlay scripts/demo-overlay --artifact-name ${artifactName}`;

const results = JSON.parse(await fs.readFile(path.join('deploy', `${path.basename(image, '.img')}-qemux86-64-mender.json`), 'utf8'));
const converted = path.relative(root, results.outputs.find((output) => output.kind === 'image').path);
console.log(`
Boot it in QEMU (on a copy-on-write overlay: the image is not changed; Ctrl-A then X quits):
  npx mender-convert boot ${converted}
or unattended, until the login prompt with the Mender client running:
  npx mender-convert boot --check ${converted}`);
