/**
 * Every configuration knob, declared once. This table drives YAML validation, the JSON Schema
 * (configs/schema.json), the documented defaults file (configs/defaults.yaml), the mapping of
 * upstream mender-convert variables (legacy configs and the environment) and `config --print`.
 */

interface KnobBase<T> {
  default: T;
  doc: string;
  /** The upstream mender-convert variable with the same meaning; also read from the environment. */
  legacy?: string;
  /** Never printed or logged. */
  secret?: boolean;
  /** Also a command-line flag of the conversion commands (commander's syntax; repeatable for lists). */
  flag?: { syntax: string; doc: string };
}

export interface StringKnob extends KnobBase<string> {
  type: 'string';
  /** A path, relative to the config file that names it. */
  path?: boolean;
  pattern?: RegExp;
  patternHint?: string;
}
export interface EnumKnob<V extends string = string> extends KnobBase<V> {
  type: 'enum';
  values: readonly V[];
  /** Upstream spellings of values (e.g. lzma → xz). */
  aliases?: Readonly<Record<string, V>>;
}
export interface IntegerKnob extends KnobBase<number> {
  type: 'integer';
  min?: number;
  multipleOf?: number;
}
export interface NumberKnob extends KnobBase<number> {
  type: 'number';
  min?: number;
}
export interface BooleanKnob extends KnobBase<boolean> {
  type: 'boolean';
}
export interface ListKnob extends KnobBase<string[]> {
  type: 'list';
  /** Items are paths, relative to the config file that names them. */
  paths?: boolean;
  itemPattern?: RegExp;
  itemPatternHint?: string;
}

/** Names to text values (YAML numbers and booleans keep their text). */
export interface MapKnob extends KnobBase<Record<string, string>> {
  type: 'map';
}

/** A file written into the disk image at a byte offset (a boot loader at a fixed sector). */
export interface RawFileSetting {
  /** `uboot:<name>`: a file of the U-Boot source; else a path, relative to the config file that names it. */
  file: string;
  /** Bytes from the start of the disk (given as `offset`, or as `sector` × 512). */
  offset: number;
}
/** A list of { file, sector | offset } entries (YAML only). */
export interface RawFilesKnob extends KnobBase<RawFileSetting[]> {
  type: 'raw_files';
}

export type Knob = StringKnob | EnumKnob | IntegerKnob | NumberKnob | BooleanKnob | ListKnob | MapKnob | RawFilesKnob;

const string = (k: Omit<StringKnob, 'type'>): StringKnob => ({ type: 'string', ...k });
const enumeration = <const V extends string>(k: Omit<EnumKnob<V>, 'type'>): EnumKnob<V> => ({ type: 'enum', ...k });
const integer = (k: Omit<IntegerKnob, 'type'>): IntegerKnob => ({ type: 'integer', ...k });
const number = (k: Omit<NumberKnob, 'type'>): NumberKnob => ({ type: 'number', ...k });
const boolean = (k: Omit<BooleanKnob, 'type'>): BooleanKnob => ({ type: 'boolean', ...k });
const list = (k: Omit<ListKnob, 'type'>): ListKnob => ({ type: 'list', ...k });
const map = (k: Omit<MapKnob, 'type'>): MapKnob => ({ type: 'map', ...k });

/** The device one partition of the layout is pinned to (upstream's MENDER_BOOT_PART …). */
function partitionPin(name: string, number: number, legacy: string): StringKnob {
  return string({
    default: '',
    legacy,
    pattern: /^(|\/dev\/\S+)$/,
    patternHint: 'a device path (/dev/…)',
    doc: `The ${name} partition's device as the devices in the field name it: with storage.partuuid, /dev/disk/by-partuuid/<its PARTUUID> pins that identity (on MBR, <disk identifier>-0${number}); without, it must be storage.device_base + ${number}. Empty: derived from storage.identity_seed.`,
  });
}

/** The version of an add-on installed with the client, as client.version is for the client. */
function addonVersion(name: string, installKnob: string, legacy: string): StringKnob {
  return string({
    default: 'latest',
    legacy,
    pattern: /^(latest|\d+\.\d+(\.\d+)?)$/,
    patternHint: 'latest, x.y or x.y.z',
    doc: `The ${name} version ${installKnob} installs: latest (the newest the repositories have), x.y (the newest x.y.*) or x.y.z. Mender's repository (client.source: mender) has them all; Debian's has one.`,
  });
}
const rawFiles = (k: Omit<RawFilesKnob, 'type'>): RawFilesKnob => ({ type: 'raw_files', ...k });

/** Groups, in the order they appear in defaults.yaml, with a line of documentation each. */
export const GROUPS: Record<string, string> = {
  artifact: 'The Mender Artifact written next to the disk image, and the name the device reports.',
  device: 'Which devices the image is for.',
  bootloader: 'How the device boots the active root filesystem.',
  uboot: 'The U-Boot integration (bootloader.type: uboot): where U-Boot comes from, its environment and what the boot script loads.',
  board: 'What a board configuration expects of the image, and the board integration it adds.',
  storage: 'The storage medium and its partition table.',
  boot: 'Partition 1: the boot partition (FAT).',
  rootfs: 'Partitions 2 and 3: the A and B root filesystems.',
  data: 'Partition 4: the persistent data partition (ext4).',
  input: 'How the input image is read.',
  client: 'The Mender client and other packages installed into the image (offline, from Debian packages).',
  server: 'The Mender server the client talks to (/etc/mender/mender.conf).',
  image: 'The disk image written to the output directory.',
  overlays: 'Host directories copied into the root filesystem, in order, after every other change.',
  hooks:
    'Hooks run at points of the conversion, in order: TypeScript/JavaScript modules (default export receiving the conversion API) or executables (facts in the environment, a staging directory applied as an overlay). Paths are relative to the config file.',
};

export const KNOBS = {
  'artifact.name': string({
    default: '',
    legacy: 'MENDER_ARTIFACT_NAME',
    flag: { syntax: '-n, --artifact-name <name>', doc: 'artifact name (also MENDER_ARTIFACT_NAME)' },
    doc: 'Name of the software the image carries (required; what `mender show-artifact` prints).',
    pattern: /^[A-Za-z0-9_.+~-]*$/,
    patternHint: 'letters, digits and _ . + ~ - only (the Mender client rejects other characters)',
  }),
  'artifact.compression': enumeration({
    default: 'gzip',
    legacy: 'MENDER_ARTIFACT_COMPRESSION',
    values: ['none', 'gzip', 'xz', 'zstd'] as const,
    aliases: { lzma: 'xz' },
    doc: 'Payload compression of the .mender Artifact. zstd needs a Mender client 4.x or later.',
  }),
  'artifact.compression_level': integer({
    default: 0,
    min: 0,
    doc: 'Compression level of the Artifact payload; 0: the default (gzip 3 of libdeflate\'s 1-12, xz 4, zstd 3).',
  }),
  'artifact.signing_key': string({
    default: '',
    path: true,
    doc: 'Private key (PEM, RSA 2048-4096 or ECDSA P-256) to sign the Artifact with; empty: unsigned.',
  }),
  'artifact.state_scripts': string({
    default: '',
    path: true,
    doc: "A directory of Artifact state scripts (relative to the config file) carried by the Artifact: every file in it is one, named <State>_<Enter|Leave|Error>_<NN>[_description] with State one of ArtifactInstall, ArtifactReboot, ArtifactCommit, ArtifactRollback, ArtifactRollbackReboot, ArtifactFailure (Idle, Sync and Download scripts run from the root filesystem's /etc/mender/scripts: put them in an overlay). Not in the bootstrap Artifact, which mender-artifact writes without scripts. Empty: none.",
  }),
  'artifact.software_name': string({
    default: '',
    pattern: /^[A-Za-z0-9_.+~-]*$/,
    patternHint: 'letters, digits and _ . + ~ - only',
    doc: 'The software version is provided as rootfs-image.<name>.version, and the Artifact clears rootfs-image.<name>.* instead of rootfs-image.* (mender-artifact --software-name). Empty: rootfs-image.version.',
  }),
  'artifact.software_version': string({
    default: '',
    doc: 'The software version the Artifact (and the bootstrap Artifact) provides (mender-artifact --software-version). Empty: the artifact name.',
  }),
  'artifact.provides': map({
    default: {},
    doc: 'More type-info provides of the Artifact, name: value (mender-artifact --provides); the bootstrap Artifact provides them too, so the first update sees them installed. Not artifact_name, artifact_group, device_type, rootfs-image.checksum or the software version key: those have their own settings or are computed.',
  }),
  'artifact.depends': map({
    default: {},
    doc: 'Type-info depends of the Artifact, name: value (mender-artifact --depends): the provides a device must have for the Artifact to install. Not in the bootstrap Artifact (a device being set up provides nothing yet). Not device_type: the Artifact depends on device.types already.',
  }),
  'artifact.clears_provides': list({
    default: [],
    doc: "Provides (patterns with *) that installing the Artifact clears, before the defaults (rootfs-image.* and mender-artifact's other defaults; rootfs-image.<name>.* with artifact.software_name) (mender-artifact --clears-provides).",
  }),
  'artifact.sbom': enumeration({
    default: 'both',
    values: ['none', 'spdx', 'cyclonedx', 'both'] as const,
    doc: "Software bill of materials of the converted root filesystem, next to the Artifact: <name>.spdx.json (SPDX 2.3) and <name>.cdx.json (CycloneDX 1.6), from the image's dpkg database and copyright files.",
  }),
  'device.types': list({
    default: [],
    legacy: 'MENDER_DEVICE_TYPE',
    // A device type is a word of /data/mender/device_type and part of every output's file name.
    itemPattern: /^[A-Za-z0-9_][A-Za-z0-9_.:+-]*$/,
    itemPatternHint: 'device types made of letters, digits and _ . : + - (no / or spaces)',
    doc: 'Device types the image and Artifact are compatible with; empty: the image\'s /etc/hostname, else "default".',
  }),
  'bootloader.type': enumeration({
    default: 'grub',
    legacy: 'MENDER_GRUB_EFI_INTEGRATION',
    values: ['grub', 'uboot'] as const,
    aliases: { y: 'grub', n: 'uboot' },
    doc: 'grub: UEFI GRUB with the Mender environment (x86-64, ARM64 UEFI); uboot: U-Boot (Raspberry Pi and similar).',
  }),
  'bootloader.kernel_args': string({
    default: '',
    legacy: 'MENDER_GRUB_KERNEL_BOOT_ARGS',
    doc: 'Extra kernel arguments after root= (e.g. "console=ttyS0,115200 quiet").',
  }),
  'bootloader.keep_distro_loader': boolean({
    default: false,
    doc: "grub: keep the distribution's own EFI loaders (EFI/debian, EFI/ubuntu …) on the boot partition. Off by default: firmware boot entries pointing at them would boot the distribution's GRUB, which knows nothing of the A/B partitions.",
  }),
  'uboot.source': string({
    default: 'debian:u-boot-rpi/rpi_arm64',
    doc: "Where U-Boot comes from: debian:<package>/<target> (Debian's package for the image's architecture, fetched and checked with the APT client; its /usr/lib/u-boot/<target>/u-boot.bin), a u-boot.bin file, or an upstream-style binaries archive (.tar, .tar.gz, .tar.xz: u-boot.bin and fw_env.config) as a path or an http(s) URL.",
  }),
  'uboot.debian_suite': string({
    default: '',
    doc: "The Debian release a debian: source is fetched from; empty: the image's own release when it is Debian, else bookworm.",
  }),
  'uboot.install_path': string({
    default: '/u-boot.bin',
    pattern: /^(|\/[A-Za-z0-9_.\/-]+)$/,
    patternHint: 'an absolute path on the boot partition, or empty',
    doc: 'Where U-Boot is written on the boot partition (the board firmware loads it from there); empty: not written, for a board whose boot ROM loads U-Boot from raw sectors (board.raw_files).',
  }),
  'uboot.env_storage': enumeration({
    default: 'redundant',
    values: ['redundant', 'file'] as const,
    doc: "Where the Mender variables are kept: redundant: two raw copies in U-Boot's redundant format at 1 and 2 × storage.alignment on the storage device (4 and 8 MiB on a Raspberry Pi, where Mender's own U-Boot keeps them), which survive a write cut short; file: the U-Boot build's own environment file on the boot partition (uboot.env_file), one copy that a write cut short loses. An archive source's fw_env.config overrides this.",
  }),
  'uboot.env_access': enumeration({
    default: 'auto',
    values: ['auto', 'script', 'uboot'] as const,
    doc: "Who reads and writes the redundant copies at boot: script: boot.scr itself (mmc read/write, env import/export), so any U-Boot build works unchanged (Debian's keep their own environment in a file or flash); uboot: U-Boot's own environment, for a build that keeps it in these copies (CONFIG_ENV_IS_IN_MMC and CONFIG_SYS_REDUNDAND_ENVIRONMENT, as Mender's builds); auto: uboot for an archive with fw_env.config or a binary that saves its environment to MMC, else script.",
  }),
  'uboot.env_file': string({
    default: '/uboot.env',
    pattern: /^(|\/[A-Za-z0-9_.\/-]+)$/,
    patternHint: 'an absolute path on the boot partition, or empty',
    doc: "The U-Boot build's own environment file on the boot partition. With env_storage file it holds the Mender variables; with copies kept by the boot script it holds the build's defaults and a bootcmd that runs boot.scr (empty: not written; U-Boot's built-in boot then has to find boot.scr).",
  }),
  'uboot.env_size': integer({
    default: 16384,
    min: 512,
    multipleOf: 512,
    doc: 'CONFIG_ENV_SIZE of the U-Boot build, in bytes (Debian\'s Raspberry Pi builds: 16384).',
  }),
  'uboot.mmc_device': integer({
    default: 0,
    min: 0,
    doc: "U-Boot's number of the MMC device the image is written to (mmc <n>): where the boot script reads the environment copies and loads the kernel from. Raspberry Pi: 0 (its SD card); RockPro64: 1 for the SD card, 0 for the eMMC module.",
  }),
  'uboot.kernel_source': string({
    default: '',
    doc: "A kernel file on the boot partition copied into each root filesystem as uboot.kernel_image (gzip-compressed kernels are stored decompressed), e.g. kernel8.img; empty: the root filesystem's newest /boot/vmlinuz-*.",
  }),
  'uboot.kernel_image': string({
    default: 'auto',
    doc: "The kernel the boot script loads from the selected root filesystem; auto: /boot/Image (booti) on arm64, /boot/zImage (bootz) on 32-bit ARM; mender: the names Mender's own U-Boot for the Raspberry Pi loads (uboot-mender: /boot/vmlinux with booti on arm64, /boot/zImage with bootz on 32-bit ARM), for Artifacts that devices converted by upstream mender-convert boot (configs/include/upstream-converted-raspberrypi.yaml).",
  }),
  'uboot.initrd_image': string({
    default: 'auto',
    doc: "The initrd the boot script loads from the selected root filesystem when it is there; auto: /boot/initrd; empty: none. The conversion copies the kernel's initrd there (the root filesystem's initrd.img-<version>, else the boot partition's initramfs file beside uboot.kernel_source).",
  }),
  'uboot.kernel_hooks': boolean({
    default: true,
    doc: 'Install hooks in /etc/kernel/postinst.d, postrm.d and /etc/initramfs/post-update.d that copy the newest installed kernel (decompressed), its initrd and device trees to uboot.kernel_image, uboot.initrd_image and /boot whenever a kernel package or initramfs changes, so that apt upgrade keeps the kernel the boot script loads up to date.',
  }),
  'uboot.kernel_flavour': string({
    default: 'auto',
    pattern: /^[A-Za-z0-9_.+-]*$/,
    patternHint: 'letters, digits and _ . + -',
    doc: "The kernel hooks take the newest kernel whose release ends in -<flavour> (arm64, v8, 2712: an image can hold kernels for several boards); auto: the flavour of the kernel the conversion installed (what follows the last '-' of its release); empty: any kernel.",
  }),
  'uboot.dtb': string({
    default: '',
    doc: "The device tree the boot script loads from the selected root filesystem (may use U-Boot variables, e.g. /boot/${fdtfile}); empty: the one the board firmware hands to U-Boot (Raspberry Pi: with config.txt's overlays).",
  }),
  'uboot.firmware_bootargs': boolean({
    default: false,
    doc: "Start the kernel command line with the firmware device tree's (Raspberry Pi: cmdline.txt), then root= and bootloader.kernel_args.",
  }),
  'board.arch': string({
    default: '',
    pattern: /^(|amd64|arm64|armhf|armel|i386|riscv64)$/,
    patternHint: 'a Debian architecture: amd64, arm64, armhf, armel, i386 or riscv64',
    doc: 'The architecture the board configuration is for; an image of another one is refused. Empty: any.',
  }),
  'board.os_codenames': list({
    default: [],
    doc: 'Releases (VERSION_CODENAME) the board configuration is for; an image of another release is refused. Empty: any.',
  }),
  'board.hooks': list({
    default: [],
    paths: true,
    doc: 'The board integration: hooks run after the bootloader integration (config.txt, device trees …), as hooks.* are. Paths are relative to the config file.',
  }),
  'board.raw_files': rawFiles({
    default: [],
    doc: "Files written into the disk image before the first partition, as the board's boot ROM expects them (Rockchip: idbloader.img at sector 64, u-boot.itb at sector 16384), after the partition table and the boot gap: a list of { file, sector } or { file, offset } (bytes). file: uboot:<name> for a file of uboot.source (beside its u-boot.bin: the Debian package's /usr/lib/u-boot/<target>/<name>, the archive's <name>), else a path relative to the config file. Each must lie between the partition table and the first partition, clear of the U-Boot environment copies and of each other; otherwise the conversion stops before changing anything.",
  }),
  'bootloader.grub_d_integration': enumeration({
    default: 'auto',
    legacy: 'MENDER_GRUB_D_INTEGRATION',
    values: ['auto', 'on', 'off'] as const,
    aliases: { y: 'on', n: 'off' },
    doc: "grub: integrate with the distribution's own EFI GRUB through /etc/grub.d, so that kernel and GRUB upgrades (update-grub) on the device keep the A/B boot; auto: when the image has one (x86-64, grub-efi-amd64 installed, /etc/grub.d, a GRUB EFI stub config on the boot partition); off: install our standalone GRUB loader instead.",
  }),
  'bootloader.grub_d_distro_entries': boolean({
    default: false,
    doc: "With the grub.d integration: keep the distribution's /etc/grub.d scripts (10_linux …) enabled; their menu entries follow the Mender boot and are reached only when it cannot load its kernel. They appear from the first update-grub on the device.",
  }),
  'storage.total_size_mb': integer({
    default: 8192,
    legacy: 'MENDER_STORAGE_TOTAL_SIZE_MB',
    min: 1,
    doc: 'Size of the target storage in MiB; the disk image is exactly this size (sparse).',
  }),
  'storage.alignment': integer({
    default: 8388608,
    legacy: 'MENDER_PARTITION_ALIGNMENT',
    min: 512,
    multipleOf: 512,
    doc: 'Partition alignment in bytes (a multiple of 512).',
  }),
  'storage.partition_scheme': enumeration({
    default: 'keep',
    legacy: 'MENDER_PARTITION_SCHEME',
    values: ['keep', 'dos', 'gpt'] as const,
    aliases: { '': 'keep', mbr: 'dos' },
    doc: "Partition table of the output: keep the input's, or force dos (MBR) or gpt.",
  }),
  'storage.device_base': string({
    default: '/dev/mmcblk0p',
    legacy: 'MENDER_STORAGE_DEVICE_BASE',
    doc: 'Device name prefix the partition number is appended to (e.g. /dev/sda, /dev/mmcblk0p).',
  }),
  'storage.partuuid': boolean({
    default: false,
    legacy: 'MENDER_ENABLE_PARTUUID',
    doc: 'Name partitions by PARTUUID (/dev/disk/by-partuuid/…) instead of device base + number.',
  }),
  'storage.identity_seed': string({
    default: '',
    doc: "What the disk identifier, the partitions' UUIDs and the data filesystem's UUID are derived from. The same seed gives the same identities for every release and every golden image, so release N+1's fstab and boot configuration name the partitions that devices flashed with release N have. Empty: the device types (changing device.types changes the identities: set this first).",
  }),
  'storage.disk_id': string({
    default: '',
    pattern: /^(|(0x)?[0-9A-Fa-f]{8}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$/,
    patternHint: 'an MBR disk identifier (0x + 8 hex digits) or a GPT disk GUID',
    doc: "The disk's identifier, pinned to what the devices in the field carry (sfdisk --disk-id DISK prints it): an MBR disk identifier (0x1a2b3c4d) or a GPT disk GUID. Empty: derived from storage.identity_seed.",
  }),
  'storage.boot_part': partitionPin('boot', 1, 'MENDER_BOOT_PART'),
  'storage.rootfs_a_part': partitionPin('rootfs A', 2, 'MENDER_ROOTFS_PART_A'),
  'storage.rootfs_b_part': partitionPin('rootfs B', 3, 'MENDER_ROOTFS_PART_B'),
  'storage.data_part': partitionPin('data', 4, 'MENDER_DATA_PART'),
  'storage.copy_boot_gap': boolean({
    default: true,
    legacy: 'MENDER_COPY_BOOT_GAP',
    doc: 'Copy the bytes between the partition table and the first partition (where some boards keep their loader).',
  }),
  'boot.size_mb': integer({
    default: 40,
    legacy: 'MENDER_BOOT_PART_SIZE_MB',
    min: 1,
    doc: "Boot partition size in MiB; grown to the input's boot filesystem when that is larger.",
  }),
  'boot.mountpoint': string({
    default: 'auto',
    legacy: 'MENDER_BOOT_PART_MOUNT_LOCATION',
    doc: "Where the boot partition is mounted on the device; auto: the input's (from its fstab), else /boot/efi (grub) or /uboot (uboot).",
  }),
  'boot.fstab_opts': string({
    default: 'defaults,sync',
    legacy: 'MENDER_BOOT_PART_FSTAB_OPTS',
    doc: 'Mount options of the boot partition in /etc/fstab.',
  }),
  'rootfs.fstab_opts': string({
    default: 'defaults',
    legacy: 'MENDER_ROOT_PART_FSTAB_OPTS',
    doc: 'Mount options of the root filesystem in /etc/fstab.',
  }),
  'rootfs.fstab_passno': integer({
    default: 1,
    legacy: 'MENDER_ROOT_PART_FS_PASSNO',
    min: 0,
    doc: 'fsck pass number of the root filesystem in /etc/fstab (0: never checked at boot).',
  }),
  'rootfs.mkfs_opts': string({
    default: '',
    legacy: 'MENDER_ROOT_PART_MKFS_OPTS',
    doc: 'mke2fs-style options for the root filesystem, applied with tune2fs since it is kept, not re-created (e.g. "-O ^has_journal" for a read-only root).',
  }),
  'rootfs.size_kb': integer({
    default: 0,
    legacy: 'IMAGE_ROOTFS_SIZE',
    min: -1,
    doc: 'Minimum root filesystem size in KiB (it is at least its used size × the overhead factor); -1: fill the whole partition.',
  }),
  'rootfs.extra_space_kb': integer({
    default: 0,
    legacy: 'IMAGE_ROOTFS_EXTRA_SPACE',
    min: 0,
    doc: 'KiB added to the root filesystem size after the overhead factor.',
  }),
  'rootfs.overhead_factor': number({
    default: 1.5,
    legacy: 'IMAGE_OVERHEAD_FACTOR',
    min: 1,
    doc: 'The root filesystem is at least its used size times this factor.',
  }),
  'rootfs.b_content': enumeration({
    default: 'copy',
    values: ['copy', 'empty'] as const,
    doc: 'Rootfs B: a copy of A (like upstream), or left empty (the first update fills it).',
  }),
  'rootfs.sbom_dir': string({
    default: '',
    pattern: /^(\/[A-Za-z0-9_.\/-]+)?$/,
    patternHint: 'an absolute path in the root filesystem, e.g. /usr/share/doc/mender-convert',
    doc: "Also place the artifact.sbom documents in the root filesystem, in this directory (sbom.spdx.json, sbom.cdx.json), so the device can report what it runs; empty: not placed. Being part of the payload, these copies cannot name the payload's checksum; the ones next to the Artifact do, and list these copies with theirs.",
  }),
  'data.size_mb': integer({
    default: 128,
    legacy: 'MENDER_DATA_PART_SIZE_MB',
    min: 1,
    doc: 'Data partition size in MiB.',
  }),
  'data.fstab_opts': string({
    default: 'defaults',
    legacy: 'MENDER_DATA_PART_FSTAB_OPTS',
    doc: 'Mount options of the data partition in /etc/fstab.',
  }),
  'data.mkfs_opts': string({
    default: '',
    legacy: 'MENDER_DATA_PART_MKFS_OPTS',
    doc: 'Extra mke2fs options for the data partition (space separated).',
  }),
  'data.growfs': boolean({
    default: true,
    legacy: 'MENDER_DATA_PART_GROWFS',
    doc: 'Grow the data partition and its filesystem to the end of the medium on first boot.',
  }),
  'input.root_partition': integer({
    default: 0,
    min: 0,
    doc: 'Number of the input partition holding the root filesystem; 0: find it by content.',
  }),
  'input.repair': boolean({
    default: false,
    doc: 'Repair a root filesystem that e2fsck finds corrupt (after the journal replay) instead of refusing it.',
  }),
  'client.install': boolean({
    default: true,
    legacy: 'MENDER_CLIENT_INSTALL',
    doc: 'Install the Mender client into the image.',
  }),
  'client.source': enumeration({
    default: 'distro',
    values: ['distro', 'mender', 'local'] as const,
    doc: "distro: Debian's mender-client from the image's own APT sources (Debian's mirror as fallback); mender: Mender's device-components repository (mender-client4, mender-update, mender-auth, mender-flash, mender-setup, mender-snapshot); local: the .deb files in client.local_debs.",
  }),
  'client.version': string({
    default: 'auto',
    legacy: 'MENDER_CLIENT_VERSION',
    pattern: /^(latest|auto|\d+\.\d+(\.\d+)?)$/,
    patternHint: 'auto, latest, x.y or x.y.z',
    doc: 'Client version from Mender\'s repository (source mender): auto or latest (the newest), x.y (newest x.y.*) or x.y.z.',
  }),
  'client.mender_repository': string({
    default: 'https://downloads.mender.io/repos/device-components',
    legacy: 'MENDER_APT_REPO_URL',
    doc: "Mender's device-components APT repository (source mender); its suite is <os id>/<codename>/stable.",
  }),
  'client.mender_key': string({
    default: 'https://downloads.mender.io/repos/debian/gpg',
    legacy: 'MENDER_APT_KEY_URL',
    doc: "The repository's signing key: a URL or a file (relative to the config file); it must have the pinned fingerprint.",
  }),
  'client.mender_key_fingerprint': string({
    default: 'E6C857345575F9218396566224072B80A1B29B00',
    legacy: 'MENDER_APT_KEY_FP',
    pattern: /^[0-9A-Fa-f]{40}$/,
    patternHint: 'a 40-digit OpenPGP fingerprint',
    doc: "The fingerprint Mender's repository key must have (pinned).",
  }),
  'client.connect': boolean({
    default: false,
    legacy: 'MENDER_ADDON_CONNECT_INSTALL',
    doc: 'Also install the mender-connect add-on (remote terminal, file transfer).',
  }),
  'client.configure': boolean({
    default: false,
    legacy: 'MENDER_ADDON_CONFIGURE_INSTALL',
    doc: 'Also install the mender-configure add-on (device configuration).',
  }),
  'client.connect_version': addonVersion('mender-connect', 'client.connect', 'MENDER_ADDON_CONNECT_VERSION'),
  'client.configure_version': addonVersion('mender-configure', 'client.configure', 'MENDER_ADDON_CONFIGURE_VERSION'),
  'client.packages': list({
    default: ['mender-client'],
    doc: 'Packages that make up the client (source distro).',
  }),
  'client.local_debs': list({
    default: [],
    paths: true,
    doc: 'Client .deb files (source local), relative to the config file.',
  }),
  'client.extra_packages': list({
    default: [],
    doc: 'More packages to install, by name (from the repositories) or as paths to .deb files.',
  }),
  'client.repositories': list({
    default: [],
    doc: 'Extra APT repositories, one-line format: "deb [signed-by=/host/key.gpg] URL SUITE COMPONENT…". Used before the image\'s own.',
  }),
  'client.allow_unsigned': boolean({
    default: false,
    doc: 'DANGEROUS: accept repositories whose Release is not signed by a known key.',
  }),
  'client.timesyncd': boolean({
    default: false,
    doc: 'Install systemd-timesyncd when the image has no time synchronisation (the client\'s TLS needs a correct clock).',
  }),
  'server.url': string({
    default: '',
    legacy: 'MENDER_SERVER_URL',
    doc: 'Mender server URL (e.g. https://hosted.mender.io); empty: the client runs standalone.',
  }),
  'server.tenant_token': string({
    default: '',
    legacy: 'MENDER_TENANT_TOKEN',
    secret: true,
    doc: 'Tenant token for hosted Mender; never printed or logged.',
  }),
  'server.certificate': string({
    default: '',
    path: true,
    doc: 'Server CA certificate (PEM) installed as /etc/mender/server.crt, relative to the config file.',
  }),
  'server.update_poll_seconds': integer({
    default: 1800,
    min: 5,
    doc: 'How often the client checks for updates.',
  }),
  'server.inventory_poll_seconds': integer({
    default: 28800,
    min: 5,
    doc: 'How often the client sends its inventory.',
  }),
  'server.retry_poll_seconds': integer({
    default: 300,
    min: 5,
    doc: 'How long the client waits before retrying a failed request.',
  }),
  'image.name': string({
    default: '',
    legacy: 'DEPLOY_IMAGE_NAME',
    // A file name in the output directory, never a path out of it.
    pattern: /^(?!\.{1,2}$)[^/\x00-\x1f\x7f]*$/,
    patternHint: 'a file name without / (outputs are written into --output-dir)',
    doc: 'Base name of the outputs; empty: <input name>-<device types joined by +>-mender.',
  }),
  'image.compression': enumeration({
    default: 'auto',
    legacy: 'MENDER_COMPRESS_DISK_IMAGE',
    values: ['auto', 'none', 'gzip', 'xz', 'zstd'] as const,
    aliases: { lzma: 'xz' },
    doc: "Compression of the output disk image; auto: the same as the input's.",
  }),
  'image.bmap': boolean({
    default: false,
    legacy: 'MENDER_USE_BMAP',
    doc: 'Also write a block map (.bmap) so `bmaptool copy` flashes only the used blocks.',
  }),
  overlays: list({
    default: [],
    paths: true,
    flag: { syntax: '-o, --overlay <dir>', doc: 'directory copied into the root filesystem; repeatable' },
    doc: 'Directories (relative to the config file that names them) copied into the root filesystem.',
  }),
  'hooks.pre_modify': list({
    default: [],
    paths: true,
    doc: 'Run after the image is read and probed, before any change.',
  }),
  'hooks.modify': list({
    default: [],
    paths: true,
    doc: 'Run after the Mender layout and the platform integration are applied (upstream: platform_modify / user_local_modify).',
  }),
  'hooks.post_modify': list({
    default: [],
    paths: true,
    doc: 'Run after the overlays, as the last change to the root filesystem.',
  }),
  'hooks.package': list({
    default: [],
    paths: true,
    doc: 'Run once the root filesystem is sized and checked, before the Artifact and disk image are written (upstream: platform_package).',
  }),
} satisfies Record<string, Knob>;

export type KnobKey = keyof typeof KNOBS;
type ValueOf<K extends Knob> = K extends EnumKnob<infer V> ? V : K['default'];
export type Config = { -readonly [K in KnobKey]: ValueOf<(typeof KNOBS)[K]> };

export const KNOB_KEYS = Object.keys(KNOBS) as KnobKey[];

export function knob(key: KnobKey): Knob {
  return KNOBS[key];
}

/** The knob each upstream variable name stands for (MENDER_STORAGE_TOTAL_SIZE_MB → storage.total_size_mb). */
export const KEY_OF_LEGACY: ReadonlyMap<string, KnobKey> = new Map(
  KNOB_KEYS.flatMap((key) => {
    const legacy = (KNOBS[key] as Knob).legacy;
    return legacy ? [[legacy, key] as const] : [];
  }),
);
