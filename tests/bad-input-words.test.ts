/** Schema errors in words: what is wrong and where, naming only the contract's own keys (never a user's node id or name). */
import { describe, expect, it } from 'vitest';
import { validateBundle } from '../shared/bundle.js';
import { sealErrorOf } from './helpers/errors.js';

const node = { class_type: 'EmptyImage', inputs: {} };
const messageOf = (value: unknown) => sealErrorOf(() => validateBundle(value)).message.replace('bundle does not match the contract: ', '');

describe('bundle errors in words', () => {
  it.each([
    [{ workflow: { 'my-node': { class_type: '', inputs: {} } } }, 'workflow.*.class_type is empty'],
    [{ workflow: { 'my-node': { inputs: {} } } }, 'workflow.*.class_type is missing'],
    [{}, 'workflow is missing'],
    [{ workflow: { a: node }, images: [{ name: 'a.png', image: 3 }] }, 'images[0].image should be text, not a number'],
    [{ workflow: { a: node }, images: [{ name: 'a.png', image: 'ok' }, { name: 'b.png', image: '@@@@' }] }, 'images[1].image is not base64'],
    [{ workflow: { a: node }, images: [{ name: 'a.png', image: '' }] }, 'images[0].image is empty'],
    [{ workflow: { a: node }, images: 'x' }, 'images should be a list of {name, image}, not text'],
    [{ workflow: { a: node }, images: [{ name: '../up.png', image: 'AAAA' }] }, 'images[0].name: '],
    [{ workflow: { a: node }, options: { timeout_s: 0 } }, 'options.timeout_s should be more than 0'],
    [{ workflow: { a: node }, options: { tiemout_s: 1 } }, 'options has an unknown field (known: timeout_s, previews, temp_outputs, ui)'],
  ])('%j → %s', (value, words) => {
    const message = messageOf(value);
    expect(message.startsWith(words)).toBe(true);
    expect(message).not.toMatch(/invalid_|my-node|a\.png|up\.png/);
  });
});
