/** The one user's folder (`<user dir>/default`, as ComfyUI keeps it without --multi-user) and its checked paths. */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { HttpError } from '../../simulator/http.js';
import { checkUserName, DEFAULT_USER, isContained, resolveUnder, unquoteAgain } from './user-paths.js';

export class UserDir {
  readonly root: string;
  #ready: Promise<void> | undefined;

  constructor(userDir: string) {
    this.root = path.join(path.resolve(userDir), DEFAULT_USER);
  }

  /** Made on first use: its existence is what /users reports as `migrated` (settings live on the server). */
  ready(): Promise<void> {
    this.#ready ??= mkdir(this.root, { recursive: true, mode: 0o700 }).then(
      () => undefined,
      (error: unknown) => {
        this.#ready = undefined; // tried again on the next request (the disk may come back)
        throw error;
      },
    );
    return this.#ready;
  }

  /** A user-given name → its absolute path inside the folder, or a 403 saying why not (ComfyUI answers 403 too). */
  async resolve(name: string): Promise<string> {
    await this.ready();
    const check = checkUserName(unquoteAgain(name));
    if (!check.ok) throw new HttpError(403, `Invalid path: ${check.reason}. Names are relative to the user folder.`);
    const target = resolveUnder(this.root, check.relative);
    if (!(await isContained(this.root, target))) {
      throw new HttpError(403, 'Invalid path: it leads outside the user folder through a symlink.');
    }
    return target;
  }

  /** Parent folders of a file about to be written (inside the folder: checked by resolve first). */
  async makeParent(target: string): Promise<void> {
    await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
  }

  relative(target: string): string {
    return path.relative(this.root, target).split(path.sep).join('/');
  }
}
