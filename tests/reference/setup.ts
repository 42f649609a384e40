/** Global setup of the reference suite: without ../shared it fails at once, saying so, instead of failing file by file. */
import { missingReference } from '../helpers/reference.js';

export default function setup(): void {
  const missing = missingReference();
  if (missing) throw new Error(missing);
}
