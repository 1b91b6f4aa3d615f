import { mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A directory laid out like a kubelet ConfigMap volume, updated the way kubelet's atomic
 * writer does it: new timestamped directory, `..data_tmp` symlink to it, rename over `..data`.
 */
export class ConfigMapMount {
  private generation = 0;
  constructor(readonly dir: string) {}
  get path(): string { return join(this.dir, 'config.yaml'); }

  async create(content: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const ts = await this.writeGeneration(content);
    await symlink(ts, join(this.dir, '..data'));
    await symlink(join('..data', 'config.yaml'), this.path);
  }

  async update(content: string): Promise<void> {
    const old = await readlink(join(this.dir, '..data'));
    const ts = await this.writeGeneration(content);
    await symlink(ts, join(this.dir, '..data_tmp'));
    await rename(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    await rm(join(this.dir, old), { recursive: true });
  }

  private async writeGeneration(content: string): Promise<string> {
    this.generation++;
    const ts = `..2026_11_23_06_40_${String(this.generation).padStart(2, '0')}.${123456789 + this.generation}`;
    await mkdir(join(this.dir, ts));
    await writeFile(join(this.dir, ts, 'config.yaml'), content);
    return ts;
  }
}

