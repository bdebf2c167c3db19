import { formatRelation, parseRelations, type Relation } from '../deb/control.js';
import { compareVersions, satisfies } from '../deb/version.js';
import { UserError } from '../util/errors.js';
import type { PackageRecord } from './repository.js';

/**
 * Which packages to install so that the requested ones have everything they depend on: what the
 * image already has (its dpkg status) counts, the repositories fill in the rest. Depends and
 * Pre-Depends with alternatives, version relations and Provides (versioned too). The newest
 * candidate of the image's architecture (or `all`) is chosen, as apt would by default.
 */

export interface InstalledRecord {
  name: string;
  version: string;
  architecture: string;
  provides?: string;
}

interface Provider {
  version?: string;
  /** The real package behind a virtual name. */
  record?: PackageRecord;
}

export class Resolver {
  /** Every version of each package, newest first. */
  private readonly candidates = new Map<string, PackageRecord[]>();
  private readonly virtual = new Map<string, { record: PackageRecord; version?: string }[]>();
  private readonly installed = new Map<string, Provider[]>();

  constructor(installed: InstalledRecord[], available: PackageRecord[], arch: string) {
    for (const pkg of installed) {
      this.addInstalled(pkg.name, { version: pkg.version });
      for (const group of parseRelations(pkg.provides)) for (const provided of group) this.addInstalled(provided.name, { version: provided.version });
    }
    for (const record of available) {
      if (record.architecture !== arch && record.architecture !== 'all') continue;
      const list = this.candidates.get(record.name) ?? [];
      list.push(record);
      this.candidates.set(record.name, list);
    }
    for (const list of this.candidates.values()) list.sort((a, b) => compareVersions(b.version, a.version));
    for (const record of [...this.candidates.values()].flat()) {
      for (const group of record.provides) {
        for (const provided of group) {
          const list = this.virtual.get(provided.name) ?? [];
          list.push({ record, version: provided.version });
          this.virtual.set(provided.name, list);
        }
      }
    }
  }

  private addInstalled(name: string, provider: Provider): void {
    const list = this.installed.get(name) ?? [];
    list.push(provider);
    this.installed.set(name, list);
  }

  private matches(version: string | undefined, relation: Relation): boolean {
    if (!relation.operator) return true;
    return version !== undefined && satisfies(version, relation.operator, relation.version!);
  }

  private satisfiedByInstalled(relation: Relation): boolean {
    return (this.installed.get(relation.name) ?? []).some((p) => this.matches(p.version, relation));
  }

  /** The newest repository package that satisfies the relation, directly or through Provides. */
  private candidateFor(relation: Relation): PackageRecord | undefined {
    const direct = (this.candidates.get(relation.name) ?? []).find((record) => this.matches(record.version, relation));
    if (direct) return direct;
    const providers = (this.virtual.get(relation.name) ?? []).filter((p) => this.matches(p.version, relation));
    return providers[0]?.record;
  }

  private why(relation: Relation): string {
    const installed = this.installed.get(relation.name);
    const inImage = installed?.length ? `image has ${installed.map((p) => p.version ?? '(virtual)').join(', ')}` : 'not in image';
    const versions = (this.candidates.get(relation.name) ?? []).map((record) => record.version);
    const inRepos = versions.length ? `repositories have ${versions.join(', ')}` : this.virtual.has(relation.name) ? 'only virtual in the repositories' : 'not in repos';
    return `${inImage}, ${inRepos}`;
  }

  /** Records to install, dependencies before the packages that need them. */
  resolve(requested: string[]): PackageRecord[] {
    // Requested packages (with their pinned versions) are chosen first, so that a dependency on one
    // of them is met by the version asked for, not by the newest.
    const chosen = new Map<string, PackageRecord>();
    const roots: PackageRecord[] = [];
    for (const name of requested) {
      const relation = parseRelations(name)[0]![0]!;
      if (this.satisfiedByInstalled(relation) && !relation.operator) continue;
      const record = this.candidateFor(relation);
      if (!record) throw new UserError(`Cannot install ${formatRelation(relation)}: ${this.why(relation)}.`, { hint: 'Check the package name and the configured repositories.' });
      chosen.set(record.name, record);
      roots.push(record);
    }
    const visited = new Set<string>();
    const order: PackageRecord[] = [];
    const visit = (record: PackageRecord, chain: string[]) => {
      if (visited.has(record.name)) return;
      visited.add(record.name);
      for (const group of [...record.preDepends, ...record.depends]) {
        if (group.some((alt) => this.satisfiedByInstalled(alt))) continue;
        const fromChosen = group.map((alt) => chosen.get(alt.name)).find((c, i) => c && this.matches(c.version, group[i]!));
        const pick = fromChosen ?? group.map((alt) => this.candidateFor(alt)).find((c): c is PackageRecord => c !== undefined);
        if (!pick) {
          const failing = group.map((alt) => `${formatRelation(alt)}: ${this.why(alt)}`).join(' | ');
          throw new UserError(`Cannot install ${[...chain, record.name, failing].join(' → ')}.`, {
            hint: 'Add a repository that has it, or install it in the golden image.',
          });
        }
        const taken = chosen.get(pick.name);
        if (taken && taken !== pick) {
          throw new UserError(`Cannot install ${[...chain, record.name].join(' → ')}: it needs ${pick.name} ${pick.version}, but ${taken.version} was asked for.`);
        }
        chosen.set(pick.name, pick);
        visit(pick, [...chain, record.name]);
      }
      order.push(record);
    };
    for (const root of roots) visit(root, []);
    return order;
  }
}
